"""A network the executor is deployed to (`deploy/networks/<name>.toml`): its chain, how to
reach it, the executor's roles, and the engine config whose chain section declares its rules.

    name = "testnet"
    chain_id = 11155111
    rpc_url = "http://127.0.0.1:8555"          # $FLOOR_TESTNET_RPC_URL overrides it
    config = "deploy/networks/testnet.floor.toml"  # relative to the network file
    owner = "0x..."                            # the owner Safe
    operator = "0x..."                         # the engine's signer
    guardian = "0x..."

`operator` is the operator the executor was deployed with: it is part of the CREATE2 inputs, so
it stays when the operator is rotated (`floor deploy set-operator`); the registry's latest entry
holds the operator now.

Optional: `executor` (an executor deployed before or outside this tool, e.g. the local stack's:
acted on at that address, never deployed; its CREATE2 inputs are then unused), `config_chain`
(the chain id in the config, default `chain_id`), `destinations`
(replacing the config's), `attester`, `label` (part of the CREATE2 salt), `safe` (the owner
Safe's own settings, read by floor.deploy.safe), and the soak gate's settings for promotion to
this network: `soak_summary` (the soak's summary JSON, relative to the network file; default
docs/soak/summary.json in the repository) and `soak_min_cycles` (default 336, two weeks of
hourly cycles, for a network whose name says mainnet; 0 for any other: no soak required).
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from floor.configbase import Address, ConfigModel
from floor.errors import FloorError

REPO_ROOT = Path(__file__).resolve().parents[2]
NETWORKS_DIR = REPO_ROOT / "deploy" / "networks"
SOAK_SUMMARY = REPO_ROOT / "docs" / "soak" / "summary.json"
MAINNET_SOAK_CYCLES = 336  # two weeks of hourly cycles


class NetworkError(FloorError):
    """A network file is missing or does not validate, or its chain is not the one it names."""


class Network(ConfigModel):
    name: str = Field(min_length=1)
    chain_id: int = Field(gt=0)
    rpc_url: str = Field(min_length=1)
    config: Path
    config_chain: int | None = None
    owner: Address
    operator: Address
    guardian: Address
    attester: Address | None = None
    executor: Address | None = None
    destinations: list[Address] | None = None
    label: str = "floor.executor"
    safe: dict[str, Any] = {}
    soak_summary: Path | None = None
    soak_min_cycles: int | None = Field(default=None, ge=0)
    file: Path = Path()  # where it was read from (set by load_network)

    @property
    def rpc_env(self) -> str:
        return f"FLOOR_{self.name.upper().replace('-', '_')}_RPC_URL"

    @property
    def rpc(self) -> str:
        return os.environ.get(self.rpc_env) or self.rpc_url

    @property
    def soak_summary_path(self) -> Path:
        if self.soak_summary is None:
            return SOAK_SUMMARY
        return self._relative(self.soak_summary)

    @property
    def soak_cycles_required(self) -> int:
        """How many finished soak cycles promotion to this network needs."""
        if self.soak_min_cycles is not None:
            return self.soak_min_cycles
        return MAINNET_SOAK_CYCLES if "mainnet" in self.name.lower() else 0

    def _relative(self, path: Path) -> Path:
        return path if path.is_absolute() else Path(os.path.normpath(self.file.parent / path))

    @property
    def config_path(self) -> Path:
        return self._relative(self.config)


def network_file(name_or_path: str) -> Path:
    """A network by name (deploy/networks/<name>.toml, or $FLOOR_DEPLOY_NETWORKS_DIR) or by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.is_file():
        return candidate
    base = Path(os.environ.get("FLOOR_DEPLOY_NETWORKS_DIR") or NETWORKS_DIR)
    return base / f"{name_or_path}.toml"


def load_network(name_or_path: str) -> Network:
    path = network_file(name_or_path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.toml"))) or "none"
        raise NetworkError(
            f"network {name_or_path!r}: cannot read {path} ({exc.strerror}); networks there: {known}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise NetworkError(f"{path}: invalid TOML: {exc}") from None
    try:
        return Network.model_validate(data | {"file": path.resolve()})
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise NetworkError(f"{path}: " + "; ".join(lines)) from None


def declared_chain(network: Network) -> Any:
    """The chain section of the network's engine config (a `ChainConfig`), with the network's
    destinations when it names them: what the executor's rules are built from."""
    from floor.config import load_settings

    settings = load_settings(network.config_path)
    chain = settings.chain(network.config_chain or network.chain_id)
    if network.destinations is not None:
        chain = chain.model_copy(update={"destinations": list(network.destinations)})
    return chain


def config_hash(chain: Any) -> str:
    """sha256 of the chain section as the rules read it: without its RPC URLs (which may hold
    keys and say nothing of the rules) and without the executor's own address."""
    data = chain.model_dump(mode="json", exclude={"rpc_urls", "executor"})
    return "sha256:" + hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
