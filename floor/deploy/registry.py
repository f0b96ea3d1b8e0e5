"""What was deployed where: the executor's rules in one canonical form, and the registry of
deployments per network (`deploy/deployments/<network>.json`).

`Rules` is everything the owner configures on an executor, resolved to the words the contract
stores: each rule by (target, selector), each list member, each valued asset with its feed,
the keyed assets and the loss bound. The code's declaration (`executor_setup(chain)`), the
chain's state read back through the executor's getters, and a registry entry are all turned
into it, so they compare field by field, hash the same (`Rules.digest`) and the owner's
transactions from one to another (`transition`) are exact: what is added, changed and removed.

The registry is a JSON file per network: its deployments in order, newest last. Each entry holds
the executor's address, the keccak of its runtime code, the rules' hash and the rules themselves
(so a rollback can restore them), the hash of the config they came from, the block and
transaction that made them so, and the engine's version.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from floor.calls import call
from floor.errors import FloorError
from floor.models import Call
from floor.permissions import (
    MAX_ENTRIES,
    SET_ASSETS,
    SET_KEYED_ASSETS,
    SET_LISTED,
    SET_LOSS_BOUND,
    SET_RULES,
    ZERO_ADDRESS,
    ExecutorSetup,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
REGISTRY_DIR_ENV = "FLOOR_DEPLOY_REGISTRY_DIR"
DEFAULT_REGISTRY_DIR = REPO_ROOT / "deploy" / "deployments"

RuleKey = tuple[str, str]  # (checksummed target, 0x selector)
KeyedKey = tuple[str, str]  # (checksummed target, 0x key)
# A rule as stored, without `allowed`: (carriesValue, releases, conditions, assets, keyWord, keySpan),
# each condition (word, inner, op, span, list).
RuleValue = tuple[Any, ...]
# An asset as stored: (kind, token, source, sourceData, feed, heartbeat, scale).
AssetValue = tuple[Any, ...]

EMPTY_RULE: tuple[Any, ...] = (False, False, False, [], [], 0, 0)
EMPTY_ASSET: tuple[Any, ...] = (0, ZERO_ADDRESS, ZERO_ADDRESS, b"", ZERO_ADDRESS, 0, 0)


class RegistryError(FloorError):
    """The registry has no entry to act on, or its file does not read."""


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _b(h: str) -> bytes:
    return bytes.fromhex(h.removeprefix("0x"))


def rule_value(struct: tuple[Any, ...] | list[Any]) -> RuleValue:
    """The contract's Rule struct (as `Permission.as_rule()` or `ruleOf` gives it), canonical."""
    _allowed, carries, releases, checks, assets, key_word, key_span = struct
    conditions = tuple((int(w), int(i), int(o), int(s), _hex(lst)) for w, i, o, s, lst in checks)
    return (bool(carries), bool(releases), conditions, tuple(_hex(a) for a in assets), int(key_word), int(key_span))


def asset_value(struct: tuple[Any, ...] | list[Any]) -> AssetValue:
    kind, token, source, data, feed, heartbeat, scale = struct
    return (
        int(kind),
        to_checksum_address(token),
        to_checksum_address(source),
        _hex(data),
        to_checksum_address(feed),
        int(heartbeat),
        int(scale),
    )


@dataclass(frozen=True)
class Rules:
    """An executor's configuration as the contract stores it (see the module's doc)."""

    rules: Mapping[RuleKey, RuleValue] = field(default_factory=dict)
    members: frozenset[tuple[str, str]] = frozenset()  # (list id, member word)
    assets: Mapping[str, AssetValue] = field(default_factory=dict)  # asset id -> asset
    keyed: Mapping[KeyedKey, tuple[str, ...]] = field(default_factory=dict)
    bound: tuple[int, int, int, int] = (0, 0, 0, 7 * 86_400)  # the constructor's: no loss allowed
    names: Mapping[RuleKey, str] = field(default_factory=dict, compare=False)  # the calls' signatures

    @classmethod
    def declared(cls, setup: ExecutorSetup) -> Rules:
        """What the code declares for a chain (`floor.adapters.registry.executor_setup`)."""
        p = setup.permissions
        return cls(
            rules={(t, _hex(s)): rule_value(r.as_rule()) for r in p.rules for t, s in [r.pair]},
            members=frozenset((_hex(m.list), _hex(m.word)) for m in p.members),
            assets={_hex(i): asset_value(a) for i, a in setup.asset_tuples()},
            keyed={(to_checksum_address(k.target), _hex(k.key)): tuple(_hex(a) for a in k.assets) for k in p.keyed},
            bound=tuple(int(x) for x in setup.bound.as_tuple()),  # type: ignore[arg-type]
            names={(t, _hex(s)): r.signature for r in p.rules for t, s in [r.pair]},
        )

    # ------------------------------------------------------------ canonical JSON and hash

    def as_json(self) -> dict[str, Any]:
        return {
            "rules": {f"{t}:{s}": _listed(v) for (t, s), v in sorted(self.rules.items())},
            "members": sorted([lst, m] for lst, m in self.members),
            "assets": {i: list(v) for i, v in sorted(self.assets.items())},
            "keyed": {f"{t}:{k}": list(v) for (t, k), v in sorted(self.keyed.items())},
            "bound": list(self.bound),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rules:
        def pair(key: str) -> tuple[str, str]:
            t, s = key.split(":")
            return (to_checksum_address(t), s)

        return cls(
            rules={pair(k): _tupled(v) for k, v in data["rules"].items()},
            members=frozenset((lst, m) for lst, m in data["members"]),
            assets={i: tuple(v) for i, v in data["assets"].items()},
            keyed={pair(k): tuple(v) for k, v in data["keyed"].items()},
            bound=tuple(data["bound"]),
        )

    @property
    def digest(self) -> str:
        """keccak256 of the canonical JSON: equal rules, equal hash, whatever their order."""
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return _hex(keccak(text.encode()))

    # ------------------------------------------------------------ comparing

    def name(self, key: RuleKey, other: Rules | None = None) -> str:
        signature = self.names.get(key) or (other.names.get(key) if other else None)
        return f"{signature or key[1]} on {key[0]}"

    def differences(self, other: Rules, *, ours: str, theirs: str) -> list[str]:
        """Each difference one line: what `ours` (e.g. "the chain") has and `theirs` (e.g. "the
        code") expects."""
        out: list[str] = []
        for key in sorted(self.rules.keys() | other.rules.keys()):
            a, b = self.rules.get(key), other.rules.get(key)
            if a == b:
                continue
            what = f"rule {self.name(key, other)}"
            if a is None:
                out.append(f"{what}: missing on {ours}, {theirs} allows it")
            elif b is None:
                out.append(f"{what}: allowed on {ours}, not by {theirs}")
            else:
                out.append(f"{what}: {ours} has {_show_rule(a)}, {theirs} {_show_rule(b)}")
        for lst, member in sorted(self.members ^ other.members):
            if (lst, member) in self.members:
                out.append(f"list {lst}: {_show_word(member)} is listed on {ours}, not by {theirs}")
            else:
                out.append(f"list {lst}: {_show_word(member)} is missing on {ours}, {theirs} lists it")
        for i in sorted(self.assets.keys() | other.assets.keys()):
            a_, b_ = self.assets.get(i), other.assets.get(i)
            if a_ == b_:
                continue
            if a_ is None:
                out.append(f"asset {i}: missing on {ours}, {theirs} values it")
            elif b_ is None:
                out.append(f"asset {i}: valued on {ours}, not by {theirs}")
            else:
                fields = ("kind", "token", "source", "source data", "feed", "heartbeat", "scale")
                changed = "; ".join(
                    f"{n} {x} on {ours}, {y} by {theirs}" for n, x, y in zip(fields, a_, b_, strict=True) if x != y
                )
                out.append(f"asset {i}: {changed}")
        for k in sorted(self.keyed.keys() | other.keyed.keys()):
            if self.keyed.get(k, ()) != other.keyed.get(k, ()):
                out.append(
                    f"keyed assets of {k[1]} on {k[0]}: {ours} has {list(self.keyed.get(k, ()))},"
                    f" {theirs} {list(other.keyed.get(k, ()))}"
                )
        if self.bound != other.bound:
            names = ("maxLossBps", "lossFloor", "windowBudget", "windowPeriod")
            changed = "; ".join(
                f"{n} {x} on {ours}, {y} by {theirs}"
                for n, x, y in zip(names, self.bound, other.bound, strict=True)
                if x != y
            )
            out.append(f"loss bound: {changed}")
        return out

    # ------------------------------------------------------------ the owner's transactions

    def transition(self, executor: str, to: Rules) -> list[tuple[Call, str]]:
        """The owner's calls that turn an executor configured as `self` into `to`, each with
        what it does: assets first (a rule may name only valued assets), then rules, keyed
        assets, list members added and removed, the bound. Nothing for equal rules."""
        out: list[tuple[Call, str]] = []
        assets = [(i, v) for i, v in sorted(to.assets.items()) if self.assets.get(i) != v]
        gone = [(i, EMPTY_ASSET) for i in sorted(self.assets.keys() - to.assets.keys())]
        for chunk in _chunks(assets + gone):
            structs = [_asset_struct(v) for _, v in chunk]
            n_gone = sum(1 for _, v in chunk if v == EMPTY_ASSET)
            what = f"setAssets: {len(chunk) - n_gone} asset(s) valued" + (f", {n_gone} removed" if n_gone else "")
            out.append((call(executor, SET_ASSETS, [_b(i) for i, _ in chunk], structs), what))
        rules = [(k, _rule_struct(v)) for k, v in sorted(to.rules.items()) if self.rules.get(k) != v]
        removed = [(k, EMPTY_RULE) for k in sorted(self.rules.keys() - to.rules.keys())]
        for rule_chunk in _chunks(rules + removed):
            n_removed = sum(1 for _, v in rule_chunk if v == EMPTY_RULE)
            names = ", ".join(to.name(k, self) for k, _ in rule_chunk[:3]) + (", ..." if len(rule_chunk) > 3 else "")
            what = f"setRules: {len(rule_chunk) - n_removed} rule(s) set, {n_removed} removed ({names})"
            data = ([k[0] for k, _ in rule_chunk], [_b(k[1]) for k, _ in rule_chunk], [v for _, v in rule_chunk])
            out.append((call(executor, SET_RULES, *data), what))
        keyed = [(k, v) for k, v in sorted(to.keyed.items()) if self.keyed.get(k) != v]
        keyed += [(k, ()) for k in sorted(self.keyed.keys() - to.keyed.keys())]
        by_target: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for (target, key), v in keyed:
            by_target.setdefault(target, []).append((key, v))
        for target, entries in sorted(by_target.items()):
            for keyed_chunk in _chunks(entries):
                keys = [_b(k) for k, _ in keyed_chunk]
                values = [[_b(a) for a in v] for _, v in keyed_chunk]
                what = f"setKeyedAssets: {len(keyed_chunk)} key(s) of {target}"
                out.append((call(executor, SET_KEYED_ASSETS, target, keys, values), what))
        for listed, members in ((True, to.members - self.members), (False, self.members - to.members)):
            by_list: dict[str, list[str]] = {}
            for lst, m in sorted(members):
                by_list.setdefault(lst, []).append(m)
            for lst, words in sorted(by_list.items()):
                for word_chunk in _chunks(words):
                    verb = "added to" if listed else "removed from"
                    what = f"setListed: {len(word_chunk)} member(s) {verb} list {lst}"
                    out.append((call(executor, SET_LISTED, _b(lst), [_b(w) for w in word_chunk], listed), what))
        if self.bound != to.bound:
            bps, floor, budget, period = to.bound
            what = f"setLossBound: {bps} bps, floor ${floor // 10**18}, ${budget // 10**18} per {period} s"
            out.append((call(executor, SET_LOSS_BOUND, tuple(to.bound)), what))
        return out


def _listed(v: Any) -> Any:
    return [_listed(x) for x in v] if isinstance(v, tuple | list) else v


def _tupled(v: Any) -> Any:
    return tuple(_tupled(x) for x in v) if isinstance(v, list) else v


def _rule_struct(v: RuleValue) -> tuple[Any, ...]:
    carries, releases, conditions, assets, key_word, key_span = v
    checks = [(w, i, o, s, _b(lst)) for w, i, o, s, lst in conditions]
    return (True, carries, releases, checks, [_b(a) for a in assets], key_word, key_span)


def _asset_struct(v: AssetValue) -> tuple[Any, ...]:
    kind, token, source, data, feed, heartbeat, scale = v
    return (kind, token, source, _b(data) if isinstance(data, str) else data, feed, heartbeat, scale)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), MAX_ENTRIES):
        yield items[i : i + MAX_ENTRIES]


def _show_rule(v: RuleValue) -> str:
    carries, releases, conditions, assets, key_word, key_span = v
    conds = ",".join(f"{w}/{i}:{o}:{s}:{lst[:10]}" for w, i, o, s, lst in conditions)
    return (
        f"(value={carries}, releases={releases}, conditions=[{conds}], assets={len(assets)}, key={key_word}/{key_span})"
    )


def _show_word(word: str) -> str:
    raw = _b(word)
    return to_checksum_address(raw[12:]) if raw[:12] == bytes(12) and any(raw[12:]) else word


# ---------------------------------------------------------------- the registry file


@dataclass(frozen=True)
class Entry:
    """One deployment of a network: its executor and the rules it was given."""

    action: str  # "deploy", "adopt", "update", "promote", "rollback", "set-operator"
    address: str
    code_hash: str
    rules_hash: str
    config_hash: str
    block: int  # of the transaction below
    transaction: str | None  # the deployment, or the owner's transaction that set the rules
    deployed_block: int  # the executor's creation: where its events start
    version: str
    owner: str
    operator: str
    guardian: str
    rules: dict[str, Any]  # Rules.as_json()
    at: str = ""  # UTC, ISO 8601

    @property
    def declared(self) -> Rules:
        return Rules.from_json(self.rules)


@dataclass
class Registry:
    network: str
    chain_id: int
    path: Path
    entries: list[Entry] = field(default_factory=list)  # newest last

    @property
    def latest(self) -> Entry | None:
        return self.entries[-1] if self.entries else None

    def current(self) -> Entry:
        if not self.entries:
            raise RegistryError(f"no deployment of {self.network} is recorded in {self.path}")
        return self.entries[-1]

    def previous_rules(self) -> Entry:
        """The newest entry whose rules differ from the current one's: what a rollback restores."""
        current = self.current()
        for entry in reversed(self.entries[:-1]):
            if entry.rules_hash != current.rules_hash:
                return entry
        raise RegistryError(
            f"{self.network}: no earlier rules than the current ones ({current.rules_hash}) are recorded"
        )

    def record(self, entry: Entry) -> None:
        self.entries.append(entry)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"network": self.network, "chain_id": self.chain_id, "deployments": [asdict(e) for e in self.entries]}
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)


def registry_path(network: str, directory: Path | str | None = None) -> Path:
    """`<dir>/<network>.json`: the directory given, else $FLOOR_DEPLOY_REGISTRY_DIR, else deploy/deployments."""
    base = Path(directory or os.environ.get(REGISTRY_DIR_ENV) or DEFAULT_REGISTRY_DIR)
    return base / f"{network}.json"


def load_registry(network: str, chain_id: int, directory: Path | str | None = None) -> Registry:
    path = registry_path(network, directory)
    if not path.exists():
        return Registry(network, chain_id, path)
    try:
        data = json.loads(path.read_text())
        entries = [Entry(**e) for e in data["deployments"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RegistryError(f"{path}: not a deployments registry ({exc})") from None
    if data.get("chain_id") != chain_id:
        raise RegistryError(f"{path} records chain {data.get('chain_id')}, not {network}'s chain {chain_id}")
    return Registry(network, chain_id, path, entries)


def engine_version() -> str:
    """The package's version, and the git commit when the code runs from a checkout."""
    try:
        version = metadata.version("floor-engine")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 (git from PATH, as a developer runs it)
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{sha}" if sha else version


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
