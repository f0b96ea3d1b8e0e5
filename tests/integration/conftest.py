"""The integration harness: one Temporal dev server and two anvil chains per test session.

Isolation between tests: every test runs between an anvil snapshot and its revert on both
chains, and gets its own task queue and workflow ids, so tests never see each other's state
and the suite stays fast as it grows (deployment happens once).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from floor.chain.signer import LocalKeySigner
from floor.config import Settings, StoreConfig
from floor.devnet.processes import DEV_SERVER_TUNING, free_port, temporal_binary
from floor.devnet.stack import CHAIN_IDS, LocalStack, new_operator_key, start_chains
from floor.logging import configure_logging
from floor.txqueue import queue_id
from workflows.engine import ENGINE_STATE


@pytest.fixture(scope="session")
def operator_key() -> str:
    return new_operator_key()


@pytest.fixture(scope="session")
def signer(operator_key) -> LocalKeySigner:
    return LocalKeySigner.from_private_key(operator_key)


@pytest.fixture(scope="session")
def stack(signer, tmp_path_factory) -> LocalStack:
    log_dir = tmp_path_factory.mktemp("stack-logs")
    local = start_chains({chain_id: free_port() for chain_id in CHAIN_IDS}, signer.address, log_dir)
    yield local
    local.stop()


@pytest.fixture(scope="session")
def settings(stack) -> Settings:
    return Settings(chains=stack.chain_configs())


@pytest.fixture(scope="session")
def web3s(stack):
    return {chain_id: chain.web3() for chain_id, chain in stack.chains.items()}


@pytest.fixture(autouse=True)
def chain_snapshot(request):
    """Revert both chains after each test that touches them. Each test starts on a block of
    its own: anvil stores a block's state again each time a block is mined on it, and a test
    whose base block earlier tests also built on could find that block's state dropped with
    one of the older copies (see floor/devnet/processes.py, STATES_IN_MEMORY)."""
    if "stack" not in request.fixturenames:
        yield
        return
    web3s = request.getfixturevalue("web3s")
    for w3 in web3s.values():
        w3.provider.make_request("evm_mine", [])
    snapshots = {cid: w3.provider.make_request("evm_snapshot", [])["result"] for cid, w3 in web3s.items()}
    yield
    for cid, w3 in web3s.items():
        reverted = w3.provider.make_request("evm_revert", [snapshots[cid]])["result"]
        assert reverted, f"anvil could not revert chain {cid} to snapshot {snapshots[cid]}"


@pytest.fixture(scope="session")
async def temporal_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        port=free_port(),
        ui=False,
        search_attributes=[ENGINE_STATE],
        dev_server_extra_args=DEV_SERVER_TUNING,  # as the local stack's server (floor/devnet/processes.py)
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def task_queue(temporal_env, signer):
    """A task queue of the test's own. The signer's transaction queues are terminated after
    the test: their state (nonces) belongs to chains the snapshot revert is about to undo."""
    yield f"test-{uuid.uuid4().hex[:12]}"
    for chain_id in CHAIN_IDS:
        handle = temporal_env.client.get_workflow_handle(queue_id(chain_id, signer.address))
        with contextlib.suppress(RPCError):  # no queue was started on this chain
            await handle.terminate("test over")


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """The engine's log lines (DEBUG up, so web3's own request logs are in too)."""
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_floor_engine_handler", False)]:
        root.removeHandler(handler)


# ---------------------------------------------------------------------------- the floor CLI

FLOOR = Path(sys.executable).parent / "floor"
# The subprocess reads only the test's config file: no FLOOR_* overrides from the environment.
ENV = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(tmp_path, temporal_env):
    """Runs `floor ARGS --config <the test's config>`; call `cli.use(settings)` first. Commands
    are signed by a keystore given in the environment (FLOOR_KEY, FLOOR_KEY_PASSWORD): `cli.key`'s,
    else the next of the tests' founding ADMINs in turn (tests/integration/engine_helpers.py);
    `keyless=True`: none (an unsigned pause, or a refusal for want of a key)."""

    class Cli:
        config = tmp_path / "floor.toml"
        key = None  # a LocalAccount that signs every command; None: the founding ADMINs in turn

        def use(self, settings: Settings) -> None:
            data = settings.model_dump(mode="json", exclude_none=True)
            data["temporal"]["address"] = temporal_env.client.service_client.config.target_host
            if settings.store.url == StoreConfig().url:  # never the demo's state/floor.db (its chain marks)
                data["store"] = {"url": f"sqlite:///{tmp_path / 'cli-store.db'}"}
            data.get("access", {}).pop("scheduler_key", None)  # the worker's key, not the CLI's (dumped masked)
            self.config.write_text(tomli_w.dumps(data))

        def env(self, keyless: bool = False) -> dict[str, str]:
            if keyless:
                return ENV
            from tests.integration.engine_helpers import KEYSTORE_PASSWORD, next_admin, write_keystore

            keystore, _ = write_keystore(self.key or next_admin(), tmp_path)
            return ENV | {"FLOOR_KEY": str(keystore), "FLOOR_KEY_PASSWORD": KEYSTORE_PASSWORD}

        async def __call__(self, *args: str, keyless: bool = False) -> Ran:
            proc = await asyncio.create_subprocess_exec(
                str(FLOOR),
                *args,
                "--config",
                str(self.config),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env(keyless),
            )
            out, err = await asyncio.wait_for(proc.communicate(), 120)
            return Ran(proc.returncode, out.decode(), err.decode())

    return Cli()
