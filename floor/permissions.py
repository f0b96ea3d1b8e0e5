"""The executor's rules, declared by the adapters next to the calls they make.

A `Permission` allows one (target, selector) on the executor, puts a `Condition` on every
argument that decides where value goes or which venue holds it, and names the `assets` its
call can change. The executor (FloorExecutor.vy) refuses a call whose conditions fail, and
values the named assets before the first call that touches them and after the batch: a batch
that loses more than the owner's `LossBound` reverts. So a leaked operator key can neither
send value out of the treasury nor lose more than the bound inside it.

Conditions, as Zodiac Roles v2 scopes a Safe module: the argument is the executor itself
(`is_self`), a member of an owner-managed value list (`in_list`: spenders, pool ids, coin
indices, destinations), the keccak of a static tuple's words in such a list (`hash_in_list`:
a Morpho market id, a swap route), an exact word (`equal_to`), withdrawal credentials paying
the executor, or a registered validator deposit the attester vouched for. A condition can
also look one level into a dynamic tuple (`inner`: Balancer's request).

Assets (`ValuedAsset`) say how the executor reads a holding and which token's feed prices it;
`owner_calls` resolves the feeds from the chain's config. Deployment configures exactly the
union of every adapter's `PermissionSet`, so adding a protocol adds its rules and assets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from floor.calls import call, selector
from floor.models import Call

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
DESTINATIONS = keccak(text="floor.destinations")  # FloorExecutor.vy's DESTINATIONS

# FloorExecutor.vy's condition operators.
IS_SELF, IN_LIST, HASH_IN_LIST, EQUAL_TO, CREDENTIALS, ATTESTED_DEPOSIT = range(6)
# FloorExecutor.vy's ways to read a holding.
BALANCE, BALANCE_TIMES_RATE, CONVERT_BALANCE, HOLDER_VALUE, DEPOSITED = range(5)
# FloorExecutor.vy's bounds.
MAX_CHECKS = 6
MAX_RULE_ASSETS = 8
MAX_KEYED = 4
MAX_ENTRIES = 256
MAX_SOURCE = 68

APPROVE = "approve(address,uint256)"
TRANSFER = "transfer(address,uint256)"


def word_of(value: str | bytes | int) -> bytes:
    """A list member's 32-byte word: an address left-padded, an int big-endian, bytes32 as is."""
    if isinstance(value, bytes):
        if len(value) != 32:
            raise ValueError(f"a list value is 32 bytes, got {len(value)}")
        return value
    if isinstance(value, int):
        return value.to_bytes(32, "big", signed=value < 0)
    return bytes(12) + bytes.fromhex(to_checksum_address(value)[2:])


def list_id(name: str, *parts: str | bytes) -> bytes:
    """The id of an owner-managed list: e.g. ("spenders", token), ("morpho.markets", morpho)."""
    raw = b"floor." + name.encode()
    for p in parts:
        raw += b":" + (p if isinstance(p, bytes) else bytes.fromhex(to_checksum_address(p)[2:]))
    return keccak(raw)


def spenders_of(token: str) -> bytes:
    """The id of the list of markets allowed to spend `token` from the executor."""
    return keccak(b"floor.spenders:" + bytes.fromhex(to_checksum_address(token)[2:]))


@dataclass(frozen=True)
class Condition:
    """A check of one argument word: head word `word` after the selector, or with `inner`
    > 0, word `inner - 1` of the dynamic tuple or array that `word` is the offset of."""

    word: int
    op: int = IS_SELF
    list: bytes = bytes(32)  # the list id; EQUAL_TO: the value itself
    span: int = 0  # HASH_IN_LIST: how many words are hashed
    inner: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.word, self.inner, self.op, self.span, self.list)


def is_self(word: int) -> Condition:
    return Condition(word, IS_SELF)


def in_list(word: int, list_: bytes, inner: int = 0) -> Condition:
    return Condition(word, IN_LIST, list_, inner=inner)


def hash_in_list(word: int, span: int, list_: bytes) -> Condition:
    return Condition(word, HASH_IN_LIST, list_, span=span)


def equal_to(word: int, value: str | bytes | int, inner: int = 0) -> Condition:
    return Condition(word, EQUAL_TO, word_of(value), inner=inner)


@dataclass(frozen=True)
class ValuedAsset:
    """How the executor reads one holding (`kind`, `token`, `source`, `source_data`), in
    base units of `decimals`, and the token whose price feed values it (`priced_as`)."""

    id: bytes
    kind: int
    priced_as: str  # a symbol in the chain's price feeds, or a token address of the chain
    decimals: int | None  # None: the decimals of the chain's token `priced_as`
    token: str = ZERO_ADDRESS
    source: str = ZERO_ADDRESS
    source_data: bytes = b""

    def __post_init__(self) -> None:
        if len(self.source_data) > MAX_SOURCE:
            raise ValueError(f"asset {self.id.hex()}: source data longer than {MAX_SOURCE} bytes")


def asset_id(token: str) -> bytes:
    """A token's asset id: its address word (zero for ETH)."""
    return word_of(token)


def token_asset(token: str, priced_as: str, decimals: int | None) -> ValuedAsset:
    """A token held by the executor (ETH for the zero address), valued by its balance."""
    return ValuedAsset(asset_id(token), BALANCE, priced_as, decimals, token=token)


def rate_asset(token: str, priced_as: str, decimals: int, source: str, signature: str) -> ValuedAsset:
    """A token worth balance x `source.signature()` / 1e18 (a virtual price, a rate)."""
    return ValuedAsset(asset_id(token), BALANCE_TIMES_RATE, priced_as, decimals, token, source, selector(signature))


def converted_asset(token: str, priced_as: str, decimals: int, source: str, signature: str) -> ValuedAsset:
    """A token worth `source.signature(balance)` (ERC-4626's convertToAssets, rETH's getEthValue)."""
    return ValuedAsset(asset_id(token), CONVERT_BALANCE, priced_as, decimals, token, source, selector(signature))


def holder_asset(id_: bytes, priced_as: str, decimals: int, source: str, signature: str, *args: Any) -> ValuedAsset:
    """A position that is not a token, worth `source.signature(*args, executor)`."""
    types = signature[signature.index("(") + 1 : -1].split(",")[: len(args)]
    data = selector(signature) + (encode(types, list(args)) if args else b"")
    return ValuedAsset(id_, HOLDER_VALUE, priced_as, decimals, source=source, source_data=data)


ETH_ASSET_ID = asset_id(ZERO_ADDRESS)


@dataclass(frozen=True)
class Permission:
    target: str
    signature: str  # e.g. "supply(address,uint256,address,uint16)"
    args: tuple[Condition, ...] = ()
    carries_value: bool = False
    assets: tuple[bytes, ...] = ()  # ids of the ValuedAssets the call can change
    releases: bool = False  # transfer(to, amount) to a destination: value leaving to the treasury
    # The call also changes the assets keyed (KeyedAssets) to its head word key_word - 1 (the
    # keccak of key_span words when key_span > 1): 0, none.
    key_word: int = 0
    key_span: int = 1

    @property
    def selector(self) -> bytes:
        return selector(self.signature)

    def __post_init__(self) -> None:
        if len(self.args) > MAX_CHECKS:
            raise ValueError(f"{self.signature} on {self.target}: more than {MAX_CHECKS} conditions")

    @property
    def pair(self) -> tuple[str, bytes]:
        return (to_checksum_address(self.target), self.selector)

    def as_rule(self) -> tuple[Any, ...]:
        """The contract's Rule struct: (allowed, carriesValue, releases, conditions, assets,
        keyWord, keySpan)."""
        conditions = [c.as_tuple() for c in self.args]
        return (True, self.carries_value, self.releases, conditions, list(self.assets), self.key_word, self.key_span)


@dataclass(frozen=True)
class Membership:
    list: bytes
    member: str | bytes | int  # an address, or a 32-byte value

    @property
    def word(self) -> bytes:
        return word_of(self.member)


@dataclass(frozen=True)
class KeyedAssets:
    """The assets a call on `target` changes when its rule's key word is `key`."""

    target: str
    key: bytes
    assets: tuple[bytes, ...]


@dataclass(frozen=True)
class PermissionSet:
    rules: tuple[Permission, ...] = ()
    members: tuple[Membership, ...] = ()
    assets: tuple[ValuedAsset, ...] = ()
    keyed: tuple[KeyedAssets, ...] = ()

    @classmethod
    def union(cls, sets: Iterable[PermissionSet]) -> PermissionSet:
        """Every rule, membership and asset once. Two markets on one contract share its rules:
        their assets are merged; two different conditions for one (target, selector) are a
        configuration error, not something to pick between."""
        rules: dict[tuple[str, bytes], Permission] = {}
        members: dict[tuple[bytes, bytes], Membership] = {}
        assets: dict[bytes, ValuedAsset] = {}
        keyed: dict[tuple[str, bytes], tuple[bytes, ...]] = {}
        for s in sets:
            for p in s.rules:
                seen = rules.setdefault(p.pair, p)
                shape = (p.args, p.carries_value, p.releases, p.key_word, p.key_span)
                if (seen.args, seen.carries_value, seen.releases, seen.key_word, seen.key_span) != shape:
                    raise ValueError(f"two different rules for {p.signature} on {p.pair[0]}")
                merged = seen.assets + tuple(a for a in p.assets if a not in seen.assets)
                if len(merged) > MAX_RULE_ASSETS:
                    raise ValueError(f"{p.signature} on {p.pair[0]} changes more than {MAX_RULE_ASSETS} assets")
                rules[p.pair] = replace(seen, assets=merged)
            for m in s.members:
                members.setdefault((m.list, m.word), m)
            for k in s.keyed:
                at = (to_checksum_address(k.target), k.key)
                merged = keyed.get(at, ()) + tuple(a for a in k.assets if a not in keyed.get(at, ()))
                if len(merged) > MAX_KEYED:
                    raise ValueError(f"key 0x{k.key.hex()} on {k.target} changes more than {MAX_KEYED} assets")
                keyed[at] = merged
            for a in s.assets:
                known = assets.setdefault(a.id, a)
                if known != a and (known.kind, known.token) == (a.kind, a.token) == (BALANCE, a.token):
                    # A token priced by its address is the same asset as by its symbol.
                    assets[a.id] = known if known.decimals is not None else a
                elif known != a:
                    raise ValueError(f"asset {a.id.hex()} is valued two ways: {known} and {a}")
        return cls(
            tuple(rules.values()),
            tuple(members.values()),
            tuple(assets.values()),
            tuple(KeyedAssets(t, k, a) for (t, k), a in keyed.items()),
        )

    def __add__(self, other: PermissionSet) -> PermissionSet:
        return PermissionSet.union([self, other])

    def refusal(self, c: Call, executor: str) -> str | None:
        """Why the executor would refuse `c` under these rules, or None if it would run it:
        FloorExecutor.vy's conditions, in Python, so a bad call is named before anything is
        signed. (The loss bound and a deposit's attestation are checked on chain only.)"""
        data = bytes.fromhex(c.data.removeprefix("0x"))
        target = to_checksum_address(c.target)
        words = {(m.list, m.word) for m in self.members}
        if not data:
            return (
                None if (DESTINATIONS, word_of(target)) in words else f"plain transfer to {target}, not a destination"
            )
        rule = next((p for p in self.rules if p.pair == (target, data[:4])), None)
        if rule is None:
            return f"call 0x{data[:4].hex()} on {target} is not allowed"
        if c.value and not rule.carries_value:
            return f"{rule.signature} on {target} may not carry ETH"
        for cond in rule.args:
            why = _condition_refusal(cond, data, executor, words)
            if why:
                return f"{rule.signature} on {target}: {why}"
        if rule.key_word:
            pos = 4 + 32 * (rule.key_word - 1)
            words_ = data[pos : pos + 32 * max(rule.key_span, 1)]
            key = keccak(words_) if rule.key_span > 1 else words_
            if not any(to_checksum_address(k.target) == target and k.key == key for k in self.keyed):
                return f"{rule.signature} on {target}: no assets are keyed to 0x{key.hex()}: it cannot be valued"
        return None

    def listed(self) -> dict[bytes, list[bytes]]:
        """Members by list, for the owner's setListed calls."""
        out: dict[bytes, list[bytes]] = {}
        for m in self.members:
            out.setdefault(m.list, []).append(m.word)
        return out


def _condition_refusal(cond: Condition, data: bytes, executor: str, words: set[tuple[bytes, bytes]]) -> str | None:
    """FloorExecutor.vy's _check_rule for one condition."""
    pos = 4 + 32 * cond.word
    if len(data) < pos + 32:
        return f"argument {cond.word} is missing"
    if cond.inner:
        offset = int.from_bytes(data[pos : pos + 32], "big")
        pos = 4 + offset + 32 * (cond.inner - 1)
        if offset >= 1024 or len(data) < pos + 32:
            return f"argument {cond.word} is missing"
    arg = data[pos : pos + 32]
    shown = to_checksum_address(arg[12:]) if arg[:12] == bytes(12) and any(arg[12:]) else "0x" + arg.hex()
    where = f"argument {cond.word}" + (f" (its word {cond.inner - 1})" if cond.inner else "")
    kind = "address" if shown.startswith("0x") and len(shown) == 42 else "value"
    if cond.op == IS_SELF:
        return None if arg == word_of(executor) else f"{where} is {shown}, not an allowed address (the executor)"
    if cond.op == IN_LIST:
        return None if (cond.list, arg) in words else f"{where} is {shown}, not an allowed {kind}"
    if cond.op == HASH_IN_LIST:
        if cond.span <= 0 or len(data) < pos + 32 * cond.span:
            return f"argument {cond.word} is missing"
        digest = keccak(data[pos : pos + 32 * cond.span])
        return (
            None
            if (cond.list, digest) in words
            else f"{where}: its {cond.span} words hash to 0x{digest.hex()}, not an allowed id"
        )
    if cond.op == EQUAL_TO:
        return None if arg == cond.list else f"{where} is {shown}, not 0x{cond.list.hex()}"
    if cond.op == CREDENTIALS:
        ok = pays_executor(data, int.from_bytes(arg, "big"), executor)
        return None if ok else f"{where} is not withdrawal credentials of the executor"
    if cond.op == ATTESTED_DEPOSIT:
        return None if (cond.list, arg) in words else f"{where} is 0x{arg.hex()}, not a registered validator deposit"
    return f"unknown condition {cond.op}"


def pays_executor(data: bytes, offset: int, executor: str) -> bool:
    """FloorExecutor.vy's CREDENTIALS check: the `bytes` at `offset` (after the selector) are
    32 bytes long and are 0x01 or 0x02, eleven zero bytes, then the executor's address."""
    start = 4 + offset
    if len(data) < start + 64:
        return False
    length, value = data[start : start + 32], data[start + 32 : start + 64]
    me = bytes.fromhex(to_checksum_address(executor)[2:])
    return int.from_bytes(length, "big") == 32 and value[:1] in (b"\x01", b"\x02") and value[1:] == bytes(11) + me


def approval(token: str, spender: str) -> PermissionSet:
    """`approve` on `token`, to spenders listed for that token; `spender` joins the list. An
    approval moves nothing by itself: the call that spends it names the assets."""
    return PermissionSet(
        rules=(Permission(token, APPROVE, (in_list(0, spenders_of(token)),)),),
        members=(Membership(spenders_of(token), spender),),
    )


def to_self(
    target: str,
    signature: str,
    *words: int,
    carries_value: bool = False,
    assets: Iterable[ValuedAsset] = (),
    conditions: Iterable[Condition] = (),
    members: Iterable[Membership] = (),
    key: tuple[int, int] = (0, 1),
    keyed: Mapping[bytes, Iterable[ValuedAsset]] | None = None,
) -> PermissionSet:
    """A call whose receiver/beneficiary/owner arguments (`words`) must be the executor, with
    further `conditions` (and the list `members` they need), changing `assets`; with `key`
    (head word index + 1, words hashed), also the `keyed` assets of the key its data names."""
    assets = tuple(assets)
    keyed_assets = {k: tuple(v) for k, v in (keyed or {}).items()}
    args = tuple(is_self(w) for w in words) + tuple(conditions)
    every = assets + tuple(a for v in keyed_assets.values() for a in v)
    return PermissionSet(
        rules=(Permission(target, signature, args, carries_value, tuple(a.id for a in assets), False, *key),),
        members=tuple(members),
        assets=tuple({a.id: a for a in every}.values()),
        keyed=tuple(KeyedAssets(target, k, tuple(a.id for a in v)) for k, v in keyed_assets.items()),
    )


def transfers(tokens: Iterable[str], destinations: Iterable[str]) -> PermissionSet:
    """Plain `transfer` of each token, only to the listed destinations (which also receive
    ETH): value released to the treasury's own addresses, which the loss bound does not count."""
    return PermissionSet(
        rules=tuple(Permission(t, TRANSFER, (in_list(0, DESTINATIONS),), releases=True) for t in tokens),
        members=tuple(Membership(DESTINATIONS, d) for d in destinations),
    )


@dataclass(frozen=True)
class LossBound:
    """What one batch may lose (bps of the value it moves, or `floor_usd` for fees) and what a
    rolling window's batches may lose together (`window_budget_usd`, replenished linearly over
    `window_s`). USD amounts are whole dollars here, 18 decimals on chain."""

    max_loss_bps: int = 150
    floor_usd: int = 50
    window_budget_usd: int = 25_000
    window_s: int = 7 * 86_400

    def as_tuple(self) -> tuple[Any, ...]:
        usd = 10**18
        return (self.max_loss_bps, self.floor_usd * usd, self.window_budget_usd * usd, self.window_s)


@dataclass(frozen=True)
class Feed:
    """A price feed as the executor reads it: address, heartbeat and decimals."""

    address: str
    heartbeat_s: int
    decimals: int = 8


@dataclass(frozen=True)
class ExecutorSetup:
    """Everything the owner configures on an executor: its rules, lists, valued assets (with
    the feeds that price them) and loss bound."""

    permissions: PermissionSet
    feeds: Mapping[str, Feed] = field(default_factory=dict)  # by token symbol
    bound: LossBound = LossBound()
    tokens: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # address -> (symbol, decimals)

    def _token(self, address: str) -> tuple[str, int]:
        found = {to_checksum_address(a): t for a, t in self.tokens.items()}.get(to_checksum_address(address))
        if found is None:
            raise ValueError(f"asset priced as token {address}, which is not a token of the chain")
        return found

    def asset_tuples(self) -> list[tuple[bytes, tuple[Any, ...]]]:
        """(id, the contract's Asset struct) per asset; an asset whose feed is unknown is an
        error naming it, since the executor would refuse every call that touches it."""
        out = []
        for a in self.permissions.assets:
            symbol, decimals = a.priced_as, a.decimals
            if symbol.startswith("0x") and len(symbol) == 42:
                symbol, known = self._token(symbol)
                decimals = known if decimals is None else decimals
            if decimals is None:
                raise ValueError(f"asset {a.id.hex()}: decimals unknown")
            feed = self.feeds.get(symbol)
            if feed is None:
                priced = ", ".join(sorted(self.feeds)) or "none"
                raise ValueError(f"asset {a.id.hex()} is priced as {symbol!r}, which has no price feed ({priced})")
            if a.kind in (BALANCE_TIMES_RATE, CONVERT_BALANCE, HOLDER_VALUE) and a.source == ZERO_ADDRESS:
                raise ValueError(f"asset {a.id.hex()} (priced as {a.priced_as}) has no source to read it by")
            exponent = 36 - decimals - feed.decimals
            if exponent < 0:
                raise ValueError(f"asset {a.id.hex()}: {decimals} + {feed.decimals} decimals exceed 36")
            struct = (a.kind, a.token, a.source, a.source_data, feed.address, feed.heartbeat_s, 10**exponent)
            out.append((a.id, struct))
        return out


SET_RULES = "setRules(address[],bytes4[],(bool,bool,bool,(uint256,uint256,uint8,uint256,bytes32)[],bytes32[],uint256,uint256)[])"
SET_KEYED_ASSETS = "setKeyedAssets(address,bytes32[],bytes32[][])"
SET_LISTED = "setListed(bytes32,bytes32[],bool)"
SET_ASSETS = "setAssets(bytes32[],(uint8,address,address,bytes,address,uint256,uint256)[])"
SET_LOSS_BOUND = "setLossBound((uint256,uint256,uint256,uint256))"


def owner_calls(executor: str, setup: ExecutorSetup | PermissionSet, per_call: int = MAX_ENTRIES) -> list[Call]:
    """The owner's transactions that configure `setup` on the executor: what the treasury
    multisig signs at deployment, or the devnet's Safe runs; at most `per_call` entries a call
    (a smaller one keeps each call well inside a block's gas)."""
    if not 0 < per_call <= MAX_ENTRIES:
        raise ValueError(f"per_call {per_call}: 1 to {MAX_ENTRIES} entries a call")
    if isinstance(setup, PermissionSet):
        setup = ExecutorSetup(setup)
    permissions = setup.permissions
    out: list[Call] = []
    assets = sorted(setup.asset_tuples())
    for i in range(0, len(assets), per_call):
        chunk = assets[i : i + per_call]
        out.append(call(executor, SET_ASSETS, [a[0] for a in chunk], [a[1] for a in chunk]))
    rules = sorted(permissions.rules, key=lambda p: p.pair)
    for i in range(0, len(rules), per_call):
        rule_chunk = rules[i : i + per_call]
        out.append(
            call(
                executor,
                SET_RULES,
                [p.pair[0] for p in rule_chunk],
                [p.selector for p in rule_chunk],
                [p.as_rule() for p in rule_chunk],
            )
        )
    by_target: dict[str, list[KeyedAssets]] = {}
    for k in permissions.keyed:
        by_target.setdefault(to_checksum_address(k.target), []).append(k)
    for target, entries in sorted(by_target.items()):
        for i in range(0, len(entries), per_call):
            keyed_chunk = entries[i : i + per_call]
            out.append(
                call(
                    executor,
                    SET_KEYED_ASSETS,
                    target,
                    [k.key for k in keyed_chunk],
                    [list(k.assets) for k in keyed_chunk],
                )
            )
    for list_, members in sorted(permissions.listed().items()):
        for i in range(0, len(members), per_call):
            out.append(call(executor, SET_LISTED, list_, members[i : i + per_call], True))
    out.append(call(executor, SET_LOSS_BOUND, setup.bound.as_tuple()))
    return out
