"""The executor's rules, declared by the adapters next to the calls they make.

A `Permission` allows one (target, selector) on the executor and scopes the arguments that
decide where money goes: each `ArgRule` names a 32-byte argument word and the list its value
must be in, or `SELF` (the executor's own address). Lists are owner-managed address sets
named by a 32-byte id: the spenders of each token (`spenders_of`), and `DESTINATIONS`
(the treasury's own addresses, where plain transfers and ETH may go). Deployment configures
exactly the union of every adapter's `PermissionSet`, so adding a protocol adds its rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

from floor.calls import call, selector
from floor.models import Call

SELF = bytes(32)  # the argument must be the executor itself
DESTINATIONS = keccak(text="floor.destinations")  # FloorExecutor.vy's DESTINATIONS
# Not a list: the argument is the offset of a `bytes` argument holding withdrawal credentials
# that pay the executor (0x01 or 0x02, eleven zero bytes, the executor): FloorExecutor.vy's CREDENTIALS.
CREDENTIALS = keccak(text="floor.withdrawal_credentials")

APPROVE = "approve(address,uint256)"
TRANSFER = "transfer(address,uint256)"


def spenders_of(token: str) -> bytes:
    """The id of the list of markets allowed to spend `token` from the executor."""
    return keccak(b"floor.spenders:" + bytes.fromhex(to_checksum_address(token)[2:]))


@dataclass(frozen=True)
class ArgRule:
    word: int  # the argument's head word after the selector, 0 = first
    list: bytes = SELF


@dataclass(frozen=True)
class Permission:
    target: str
    signature: str  # e.g. "supply(address,uint256,address,uint16)"
    args: tuple[ArgRule, ...] = ()
    carries_value: bool = False

    @property
    def selector(self) -> bytes:
        return selector(self.signature)

    @property
    def pair(self) -> tuple[str, bytes]:
        return (to_checksum_address(self.target), self.selector)

    def as_rule(self) -> tuple:
        """The contract's Rule struct: (allowed, carriesValue, [(word, list)])."""
        return (True, self.carries_value, [(a.word, a.list) for a in self.args])


@dataclass(frozen=True)
class Membership:
    list: bytes
    member: str


@dataclass(frozen=True)
class PermissionSet:
    rules: tuple[Permission, ...] = ()
    members: tuple[Membership, ...] = ()

    @classmethod
    def union(cls, sets: Iterable[PermissionSet]) -> PermissionSet:
        """Every rule and membership once; two different rules for one (target, selector)
        are a configuration error, not something to pick between."""
        rules: dict[tuple[str, bytes], Permission] = {}
        members: dict[tuple[bytes, str], Membership] = {}
        for s in sets:
            for p in s.rules:
                seen = rules.setdefault(p.pair, p)
                if seen.as_rule() != p.as_rule():
                    raise ValueError(f"two different rules for {p.signature} on {p.pair[0]}")
            for m in s.members:
                members.setdefault((m.list, to_checksum_address(m.member)), m)
        return cls(tuple(rules.values()), tuple(members.values()))

    def __add__(self, other: PermissionSet) -> PermissionSet:
        return PermissionSet.union([self, other])

    def refusal(self, c: Call, executor: str) -> str | None:
        """Why the executor would refuse `c` under these rules, or None if it would run it:
        FloorExecutor.vy's check, in Python, so a bad call is named before anything is signed."""
        data = bytes.fromhex(c.data.removeprefix("0x"))
        target = to_checksum_address(c.target)
        members = {(m.list, to_checksum_address(m.member)) for m in self.members}
        if not data:
            return None if (DESTINATIONS, target) in members else f"plain transfer to {target}, not a destination"
        rule = next((p for p in self.rules if p.pair == (target, data[:4])), None)
        if rule is None:
            return f"call 0x{data[:4].hex()} on {target} is not allowed"
        if c.value and not rule.carries_value:
            return f"{rule.signature} on {target} may not carry ETH"
        for arg in rule.args:
            word = data[4 + 32 * arg.word : 4 + 32 * (arg.word + 1)]
            if len(word) < 32:
                return f"{rule.signature}: argument {arg.word} is missing"
            value = to_checksum_address(word[12:]) if word[:12] == bytes(12) else "0x" + word.hex()
            if arg.list == CREDENTIALS:
                if not pays_executor(data, int.from_bytes(word, "big"), executor):
                    return f"{rule.signature} on {target}: argument {arg.word} is not withdrawal credentials of the executor"
                continue
            ok = value == to_checksum_address(executor) if arg.list == SELF else (arg.list, value) in members
            if not ok:
                return f"{rule.signature} on {target}: argument {arg.word} is {value}, not an allowed address"
        return None

    def listed(self) -> dict[bytes, list[str]]:
        """Members by list, for the owner's setListed calls."""
        out: dict[bytes, list[str]] = {}
        for m in self.members:
            out.setdefault(m.list, []).append(to_checksum_address(m.member))
        return out


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
    """`approve` on `token`, to spenders listed for that token; `spender` joins the list."""
    return PermissionSet(
        rules=(Permission(token, APPROVE, (ArgRule(0, spenders_of(token)),)),),
        members=(Membership(spenders_of(token), spender),),
    )


def to_self(target: str, signature: str, *words: int, carries_value: bool = False) -> PermissionSet:
    """A call whose receiver/beneficiary/owner arguments (`words`) must be the executor."""
    return PermissionSet(rules=(Permission(target, signature, tuple(ArgRule(w) for w in words), carries_value),))


def transfers(tokens: Iterable[str], destinations: Iterable[str]) -> PermissionSet:
    """Plain `transfer` of each token, only to the listed destinations (which also receive ETH)."""
    return PermissionSet(
        rules=tuple(Permission(t, TRANSFER, (ArgRule(0, DESTINATIONS),)) for t in tokens),
        members=tuple(Membership(DESTINATIONS, d) for d in destinations),
    )


MAX_ENTRIES = 256  # FloorExecutor.vy's bound per setRules/setListed call
SET_RULES = "setRules(address[],bytes4[],(bool,bool,(uint256,bytes32)[])[])"
SET_LISTED = "setListed(bytes32,address[],bool)"


def owner_calls(executor: str, permissions: PermissionSet) -> list[Call]:
    """The owner's transactions that configure `permissions` on the executor: what the
    treasury multisig signs at deployment, or the devnet's admin sends."""
    out: list[Call] = []
    rules = sorted(permissions.rules, key=lambda p: p.pair)
    for i in range(0, len(rules), MAX_ENTRIES):
        chunk = rules[i : i + MAX_ENTRIES]
        out.append(
            call(
                executor,
                SET_RULES,
                [p.pair[0] for p in chunk],
                [p.selector for p in chunk],
                [p.as_rule() for p in chunk],
            )
        )
    for list_id, members in sorted(permissions.listed().items()):
        for i in range(0, len(members), MAX_ENTRIES):
            out.append(call(executor, SET_LISTED, list_id, members[i : i + MAX_ENTRIES], True))
    return out
