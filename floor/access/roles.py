"""Who may do what: the roles, the one table of which role each command kind needs, and the
book of who holds which role. Pure: no clock (callers pass `now`, seconds since 1970)."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import Annotated, Any

from eth_utils.address import is_hex_address, to_checksum_address
from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    StrictInt,
    ValidationError,
)

from floor.models import FrozenModel

MAX_MEMBERS = 1000  # a book that outgrows this is a mistake, not an organisation


class Role(IntEnum):
    """Ordered: a role may do everything the roles below it may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3


class Kind(StrEnum):
    """A command, named as the engine's update it drives (`read` stands for every query)."""

    READ = "read"
    PAUSE = "pause"
    RESUME = "resume"
    ALLOCATE = "allocate"
    REBALANCE = "rebalance"
    HARVEST = "harvest"
    CHECK_RISK = "check_risk"
    ACCEPT_RECONCILIATION = "accept_reconciliation"
    REQUEST_CAPITAL = "request_capital"
    PANIC_EXIT = "panic_exit"
    TRIP_BREAKER = "trip_breaker"
    HALF_OPEN_BREAKER = "half_open_breaker"
    CONFIGURE = "configure"
    APPLY_SCHEDULES = "apply_schedules"
    GRANT_ROLE = "grant_role"
    REVOKE_ROLE = "revoke_role"


# The one table: the least role each command kind needs. None: open to anyone, even unsigned
# (a pause must never wait for a key; it is rate-limited instead).
NEEDS: dict[Kind, Role | None] = {
    Kind.READ: Role.VIEWER,
    Kind.PAUSE: None,
    Kind.RESUME: Role.OPERATOR,
    Kind.ALLOCATE: Role.OPERATOR,
    Kind.REBALANCE: Role.OPERATOR,
    Kind.HARVEST: Role.OPERATOR,
    Kind.CHECK_RISK: Role.OPERATOR,  # reads the chains; trips only on what it reads
    Kind.ACCEPT_RECONCILIATION: Role.OPERATOR,
    Kind.REQUEST_CAPITAL: Role.ADMIN,  # capital leaves the strategy
    Kind.PANIC_EXIT: Role.ADMIN,  # every position unwound, the engine paused
    Kind.TRIP_BREAKER: Role.ADMIN,
    Kind.HALF_OPEN_BREAKER: Role.ADMIN,
    Kind.CONFIGURE: Role.ADMIN,
    Kind.APPLY_SCHEDULES: Role.ADMIN,
    Kind.GRANT_ROLE: Role.ADMIN,
    Kind.REVOKE_ROLE: Role.ADMIN,
}


def role_refusal(address: str, role: Role | None, kind: Kind) -> str | None:
    """Why `address`, holding `role` (None: none), may not send `kind`; None when it may."""
    needed = NEEDS[kind]
    if needed is None or (role is not None and role >= needed):
        return None
    return f"{address} {holds(role)}; {kind.value} needs {needed.name}"


def holds(role: Role | None) -> str:
    if role is None:
        return "has no role"
    return f"is an {role.name}" if role.name[0] in "AEIOU" else f"is a {role.name}"


# ---------------------------------------------------------------------------- addresses


def checksummed(value: Any) -> str:
    """A 0x-prefixed 20-byte hex address, as its EIP-55 checksum. All-lower or all-upper hex
    is taken as is; mixed case must be a valid checksum (a mistyped address fails it)."""
    if not isinstance(value, str) or len(value) != 42:
        raise ValueError("must be a 0x-prefixed 20-byte hex address")
    return _checksummed(value)


@lru_cache(maxsize=4096)  # pure; a checksum costs a keccak
def _checksummed(value: str) -> str:
    if not value.startswith("0x") or not is_hex_address(value):
        raise ValueError("must be a 0x-prefixed 20-byte hex address")
    checksum = to_checksum_address(value)
    body = value[2:]
    if body != body.lower() and body != body.upper() and value != checksum:
        raise ValueError(f"{value} has a wrong EIP-55 checksum (mixed case must be the checksum)")
    return checksum


Address = Annotated[str, BeforeValidator(checksummed)]


def _role(value: Any) -> Any:
    if isinstance(value, str) and value in Role.__members__:
        return Role[value]
    if isinstance(value, Role):
        return value
    raise ValueError(f"must be one of {', '.join(Role.__members__)}")


# A role in JSON is its name ("OPERATOR"), never a number that could shift.
RoleName = Annotated[Role, BeforeValidator(_role), PlainSerializer(lambda r: r.name, return_type=str)]


# ---------------------------------------------------------------------------- the book


class RoleRefused(ValueError):
    """A grant or revocation the book does not allow; the message says why, in one line."""


class Grant(FrozenModel):
    role: RoleName
    name: str = Field(default="", max_length=100)  # who holds the key, for people reading records
    granted_by: str = Field(max_length=100)  # an address, or "config" for the founding admins
    granted_at: StrictInt = Field(ge=0)
    reason: str = Field(default="", max_length=500)


class RoleBook(FrozenModel):
    """Address -> role. Immutable: `grant` and `revoke` answer a new book or raise RoleRefused.
    Carried in the engine's memory (JSON, across continue-as-new)."""

    members: dict[Address, Grant] = Field(default_factory=dict, max_length=MAX_MEMBERS)

    @classmethod
    def founded(cls, admins: list[str], now: int, reason: str = "founding admin from the config") -> RoleBook:
        """The first book: its admins come from the config (nobody is there yet to sign a grant)."""
        if not admins:
            raise RoleRefused("a role book needs at least one ADMIN")
        grant = Grant(role=Role.ADMIN, granted_by="config", granted_at=now, reason=reason)
        try:
            return cls(members=dict.fromkeys(admins, grant))
        except ValidationError as exc:
            raise RoleRefused(f"not a valid founding admin: {exc.errors()[0]['msg']}") from None

    def role_of(self, address: str) -> Role | None:
        grant = self.members.get(address) or self.members.get(_checksum_or_none(address) or "")
        return grant.role if grant else None

    def admins(self) -> list[str]:
        return [a for a, g in self.members.items() if g.role == Role.ADMIN]

    def grant(self, by: str, account: str, role: Role, now: int, reason: str, name: str = "") -> RoleBook:
        """`by` (an ADMIN) gives `account` `role`: a new member, a promotion or a demotion."""
        by, account = _address(by, "granter"), _address(account, "account")
        self._need_admin(by, "grant")
        current = self.members.get(account)
        if current is not None and current.role == role:
            raise RoleRefused(f"{account} is already a {role.name}")
        if current is None and len(self.members) >= MAX_MEMBERS:
            raise RoleRefused(f"the role book is full ({MAX_MEMBERS} members): revoke someone first")
        if current is not None and current.role == Role.ADMIN:
            self._keep_an_admin(account, f"demote {account} to {role.name}")
        name = name or (current.name if current else "")
        grant = Grant(role=role, name=name[:100], granted_by=by, granted_at=now, reason=reason[:500])
        return RoleBook(members={**self.members, account: grant})

    def revoke(self, by: str, account: str, now: int, reason: str) -> RoleBook:
        """`by` (an ADMIN) takes `account`'s role away. `now` and `reason` are the audit log's."""
        by, account = _address(by, "revoker"), _address(account, "account")
        self._need_admin(by, "revoke")
        current = self.members.get(account)
        if current is None:
            raise RoleRefused(f"{account} has no role to revoke")
        if current.role == Role.ADMIN:
            self._keep_an_admin(account, f"revoke {account}")
        return RoleBook(members={a: g for a, g in self.members.items() if a != account})

    def _need_admin(self, by: str, what: str) -> None:
        role = self.role_of(by)
        if role != Role.ADMIN:
            raise RoleRefused(f"{by} {holds(role)}; only an ADMIN may {what} roles")

    def _keep_an_admin(self, account: str, what: str) -> None:
        if self.admins() == [account]:
            raise RoleRefused(f"cannot {what}: {account} is the last ADMIN (grant another ADMIN first)")


def _address(value: str, what: str) -> str:
    try:
        return checksummed(value)
    except ValueError as exc:
        raise RoleRefused(f"{what}: {exc}") from None


def _checksum_or_none(value: str) -> str | None:
    try:
        return checksummed(value)
    except ValueError:
        return None
