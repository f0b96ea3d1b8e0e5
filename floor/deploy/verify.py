"""Does the executor on chain hold what the code and the registry say it should?

The executor keeps its rules in mappings, which cannot be listed, so what is read back is every
key anyone named: those the code declares, those of every registry entry, and those of every
change the executor logged since its deployment (`RuleChanged`, `ListChanged`, `AssetChanged`,
`KeyedAssetsChanged`): a rule the owner added by hand shows up too. Each key is read through
the executor's public getters (`ruleOf`, `isListed`, `assetOf`, `keyedAssetsOf`, `lossBound`,
`owner`, `operator`, `guardian`, `attester`) in Multicall3 batches, and turned into `Rules`
(floor/deploy/registry.py) to compare with the others, each difference one line.

`refuse_mismatched_executors` is the worker's start-up check: with `deploy.verify_on_start`,
a worker whose chains' executors do not hold the rules its config declares does not start,
and says the first difference in one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi.abi import decode
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from web3 import Web3

from floor.calls import ReadCall, encode_call
from floor.chain.multicall import MULTICALL3_ADDRESS, MulticallReader
from floor.chain.rpc import LOG_WINDOW_BLOCKS, logs_between
from floor.deploy.create2 import code_hash, runtime_code_hash
from floor.deploy.registry import Entry, Rules, asset_value, rule_value
from floor.devnet.artifacts import load_artifact
from floor.permissions import ZERO_ADDRESS

if TYPE_CHECKING:
    from floor.config import ChainConfig, Settings
    from floor.deploy.network import Network

RULE_TYPE = "(bool,bool,bool,(uint256,uint256,uint8,uint256,bytes32)[],bytes32[],uint256,uint256)"
ASSET_TYPE = "(uint8,address,address,bytes,address,uint256,uint256)"
ROLES = ("owner", "operator", "guardian", "attester")


@dataclass(frozen=True)
class OnChain:
    """What an executor holds: its code's hash (None: no code), roles and rules."""

    code_hash: str | None
    roles: Mapping[str, str]
    rules: Rules


def logged_keys(w3: Web3, executor: str, from_block: int, window: int = LOG_WINDOW_BLOCKS) -> Rules:
    """Every key the executor's admin events named since `from_block`, as a `Rules` whose
    values are placeholders: only its keys are read."""
    topics = {}
    for item in load_artifact("FloorExecutor").abi:
        if item.get("type") == "event":
            topic = event_abi_to_log_topic(item)  # type: ignore[arg-type]
            topics["0x" + topic.hex()] = item["name"]
    rules: dict[tuple[str, str], Any] = {}
    members: set[tuple[str, str]] = set()
    assets: dict[str, Any] = {}
    keyed: dict[tuple[str, str], Any] = {}
    # From the deployment on, in windows: a provider refuses one query over months of blocks.
    logs = logs_between(w3, {"address": to_checksum_address(executor)}, from_block, w3.eth.block_number, window)
    for log in logs:
        t = ["0x" + bytes(x).hex() for x in log["topics"]]
        name = topics.get(t[0])
        if name == "RuleChanged":
            rules[(to_checksum_address("0x" + t[1][-40:]), t[2][:10])] = ()
        elif name == "ListChanged":
            members.add((t[1], t[2]))
        elif name == "AssetChanged":
            assets[t[1]] = ()
        elif name == "KeyedAssetsChanged":
            keyed[(to_checksum_address("0x" + t[1][-40:]), t[2])] = ()
    return Rules(rules=rules, members=frozenset(members), assets=assets, keyed=keyed)


def read_executor(w3: Web3, executor: str, keys: Iterable[Rules], multicall: str = MULTICALL3_ADDRESS) -> OnChain:
    """The executor's roles and, for every key of `keys`, what it holds (absent: not set)."""
    executor = to_checksum_address(executor)
    found = code_hash(w3, executor)
    if found is None:
        return OnChain(None, {}, Rules())
    rule_keys: set[tuple[str, str]] = set()
    member_keys: set[tuple[str, str]] = set()
    asset_keys: set[str] = set()
    keyed_keys: set[tuple[str, str]] = set()
    for k in keys:
        rule_keys |= k.rules.keys()
        member_keys |= k.members
        asset_keys |= k.assets.keys()
        keyed_keys |= k.keyed.keys()
    rk, mk, ak, kk = sorted(rule_keys), sorted(member_keys), sorted(asset_keys), sorted(keyed_keys)

    def r(signature: str, *args: Any) -> ReadCall:
        return ReadCall(executor, encode_call(signature, *args), allow_failure=False)

    reads = [r(f"{role}()") for role in ROLES] + [r("lossBound()")]
    reads += [r("ruleOf(address,bytes4)", t, bytes.fromhex(s[2:])) for t, s in rk]
    reads += [r("isListed(bytes32,bytes32)", bytes.fromhex(lst[2:]), bytes.fromhex(m[2:])) for lst, m in mk]
    reads += [r("assetOf(bytes32)", bytes.fromhex(i[2:])) for i in ak]
    reads += [r("keyedAssetsOf(address,bytes32)", t, bytes.fromhex(k[2:])) for t, k in kk]
    results = _read(w3, reads, multicall)
    roles = {role: to_checksum_address(decode(["address"], results[n])[0]) for n, role in enumerate(ROLES)}
    bound = tuple(int(x) for x in decode(["(uint256,uint256,uint256,uint256)"], results[len(ROLES)])[0])
    at = len(ROLES) + 1
    rules = {}
    for key, raw in zip(rk, results[at : at + len(rk)], strict=True):
        (struct,) = decode([RULE_TYPE], raw)
        if struct[0]:
            rules[key] = rule_value(struct)
    at += len(rk)
    members = frozenset(m for m, raw in zip(mk, results[at : at + len(mk)], strict=True) if decode(["bool"], raw)[0])
    at += len(mk)
    assets = {}
    for i, raw in zip(ak, results[at : at + len(ak)], strict=True):
        (struct,) = decode([ASSET_TYPE], raw)
        value = asset_value(struct)
        if value[4] != ZERO_ADDRESS:  # a zero feed: not registered
            assets[i] = value
    at += len(ak)
    keyed = {}
    for key2, raw in zip(kk, results[at : at + len(kk)], strict=True):
        (ids,) = decode(["bytes32[]"], raw)
        if ids:
            keyed[key2] = tuple("0x" + bytes(x).hex() for x in ids)
    state = Rules(rules=rules, members=members, assets=assets, keyed=keyed, bound=bound)  # type: ignore[arg-type]
    return OnChain(found, roles, state)


def _read(w3: Web3, reads: Sequence[ReadCall], multicall: str) -> list[bytes]:
    """The reads' return data: through Multicall3 where the chain has it, else one by one."""
    if w3.eth.get_code(to_checksum_address(multicall)):
        batch = MulticallReader(w3, multicall).read(reads)
        return [bytes(x.data) for x in batch.results]
    return [bytes(w3.eth.call({"to": to_checksum_address(c.target), "data": c.data})) for c in reads]


def role_differences(on_chain: OnChain, expected: dict[str, str | None]) -> list[str]:
    out = []
    for role, want in expected.items():
        if want is None:
            continue
        have = on_chain.roles.get(role)
        if have != to_checksum_address(want):
            out.append(f"{role}: the chain has {have}, expected {to_checksum_address(want)}")
    return out


def code_differences(executor: str, on_chain: OnChain) -> list[str]:
    if on_chain.code_hash is None:
        return [f"executor {executor}: no code on chain"]
    if on_chain.code_hash != runtime_code_hash():
        return [f"code hash: the chain has {on_chain.code_hash}, the compiled FloorExecutor is {runtime_code_hash()}"]
    return []


def verify_network(
    w3: Web3, network: Network, entry: Entry | None, declared: Rules, history: Sequence[Entry] = ()
) -> list[str]:
    """Every difference between the chain, the registry's current entry and the code, one line
    each; an empty list when they agree."""
    if entry is None:
        return [f"no deployment of {network.name} is recorded"]
    out: list[str] = []
    if w3.eth.chain_id != network.chain_id:
        return [f"{network.name}: the RPC serves chain {w3.eth.chain_id}, not {network.chain_id}"]
    keys = [
        declared,
        entry.declared,
        *(e.declared for e in history),
        logged_keys(w3, entry.address, entry.deployed_block),
    ]
    on_chain = read_executor(w3, entry.address, keys)
    out += code_differences(entry.address, on_chain)
    if on_chain.code_hash is None:
        return out
    if on_chain.code_hash != entry.code_hash:
        out.append(f"code hash: the chain has {on_chain.code_hash}, the registry {entry.code_hash}")
    roles = {
        "owner": network.owner,
        # The registry's: a rotated operator (`floor deploy set-operator`) is not the network file's.
        "operator": entry.operator,
        "guardian": network.guardian,
        "attester": network.attester,
    }
    out += role_differences(on_chain, roles)
    recorded = entry.declared
    if recorded.digest != entry.rules_hash:
        out.append(f"registry: the entry's rules hash to {recorded.digest}, it records {entry.rules_hash}")
    out += on_chain.rules.differences(recorded, ours="the chain", theirs="the registry")
    named = Rules(**{**recorded.__dict__, "names": declared.names})
    out += named.differences(declared, ours="the registry", theirs="the code")
    return out


# ---------------------------------------------------------------- the worker's start-up check


def chain_differences(chain: ChainConfig, operator: str | None) -> list[str]:
    """How the chain's executor differs from what the code declares for the chain's config
    (its code, operator and rules), one line each."""
    from floor.adapters.registry import executor_setup
    from floor.chain.rpc import connect

    if chain.executor is None:
        return []
    w3 = connect(list(chain.rpc_urls), chain.rpc_timeout_s)
    declared = Rules.declared(executor_setup(chain))
    on_chain = read_executor(w3, chain.executor, [declared], chain.multicall3)
    out = code_differences(chain.executor, on_chain)
    if on_chain.code_hash is None:
        return out
    out += role_differences(on_chain, {"operator": operator})
    out += on_chain.rules.differences(declared, ours="the chain", theirs="the code")
    return out


def verify_on_start(settings: Settings) -> bool:
    """`deploy.verify_on_start` of the config; off where the config has no such section."""
    section = getattr(settings, "deploy", None)
    return bool(getattr(section, "verify_on_start", False))


def refuse_mismatched_executors(settings: Settings, *, enabled: bool | None = None) -> None:
    """Raise SystemExit naming the first difference (and how many more) when an executor of the
    config's chains does not hold what the code declares for it."""
    if not (verify_on_start(settings) if enabled is None else enabled):
        return
    from floor.chain.signer import signer_from_config

    operator = signer_from_config(settings.signer).address if settings.signer else None
    for chain in settings.chains:
        if chain.executor is None:
            continue
        lines = chain_differences(chain, operator)
        if lines:
            more = f" (and {len(lines) - 1} more: floor deploy verify)" if len(lines) > 1 else ""
            raise SystemExit(
                f"floor-worker: refusing to start: the executor {chain.executor} on chain {chain.id} does not match"
                f" the code: {lines[0]}{more}"
            )
