"""Roles: the one table of who may do what, and the role book's grants and revocations."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from floor.access.roles import (
    MAX_MEMBERS,
    NEEDS,
    Grant,
    Kind,
    Role,
    RoleBook,
    RoleRefused,
    checksummed,
    role_refusal,
)

ADMIN, SECOND, OPERATOR, VIEWER = (Account.from_key(bytes([i]) * 32).address for i in range(1, 5))
NOW = 1_800_000_000


def book() -> RoleBook:
    return (
        RoleBook.founded([ADMIN], NOW)
        .grant(ADMIN, OPERATOR, Role.OPERATOR, NOW + 1, "on call", name="alice")
        .grant(ADMIN, VIEWER, Role.VIEWER, NOW + 2, "dashboards")
    )


def test_roles_are_ordered() -> None:
    assert Role.VIEWER < Role.OPERATOR < Role.ADMIN


def test_the_table_names_every_kind_and_matches_the_policy() -> None:
    assert set(NEEDS) == set(Kind)
    assert NEEDS[Kind.PAUSE] is None
    assert {k for k, r in NEEDS.items() if r == Role.VIEWER} == {Kind.READ}
    assert {k for k, r in NEEDS.items() if r == Role.OPERATOR} == {
        Kind.ALLOCATE,
        Kind.REBALANCE,
        Kind.HARVEST,
        Kind.RESUME,
        Kind.ACCEPT_RECONCILIATION,
        Kind.CHECK_RISK,
    }
    assert {k for k, r in NEEDS.items() if r == Role.ADMIN} == {
        Kind.REQUEST_CAPITAL,
        Kind.PANIC_EXIT,
        Kind.TRIP_BREAKER,
        Kind.HALF_OPEN_BREAKER,
        Kind.CONFIGURE,
        Kind.APPLY_SCHEDULES,
        Kind.GRANT_ROLE,
        Kind.REVOKE_ROLE,
    }


@pytest.mark.parametrize("kind", list(Kind))
def test_a_higher_role_may_do_what_a_lower_may(kind: Kind) -> None:
    allowed = [role for role in Role if role_refusal(ADMIN, role, kind) is None]
    assert allowed == [role for role in Role if NEEDS[kind] is None or role >= NEEDS[kind]]
    assert (role_refusal(ADMIN, None, kind) is None) == (NEEDS[kind] is None)


def test_a_role_refusal_names_who_what_and_the_role_needed() -> None:
    assert role_refusal(VIEWER, Role.VIEWER, Kind.ALLOCATE) == f"{VIEWER} is a VIEWER; allocate needs OPERATOR"
    assert role_refusal(VIEWER, None, Kind.READ) == f"{VIEWER} has no role; read needs VIEWER"


def test_grants_answer_a_new_book_and_record_who_when_why() -> None:
    before = RoleBook.founded([ADMIN], NOW)
    after = before.grant(ADMIN, OPERATOR, Role.OPERATOR, NOW + 5, "on call", name="alice")
    assert before.role_of(OPERATOR) is None  # the old book is unchanged
    assert after.members[OPERATOR] == Grant(
        role=Role.OPERATOR, name="alice", granted_by=ADMIN, granted_at=NOW + 5, reason="on call"
    )
    assert after.members[ADMIN].granted_by == "config"
    promoted = after.grant(ADMIN, OPERATOR, Role.ADMIN, NOW + 6, "lead")
    assert promoted.role_of(OPERATOR) == Role.ADMIN and promoted.members[OPERATOR].name == "alice"


def test_role_of_reads_any_case() -> None:
    assert book().role_of(OPERATOR.lower()) == Role.OPERATOR
    assert book().role_of(SECOND) is None
    assert book().role_of("not an address") is None


def test_only_an_admin_grants_or_revokes() -> None:
    with pytest.raises(RoleRefused, match=f"{OPERATOR} is an OPERATOR; only an ADMIN may grant roles"):
        book().grant(OPERATOR, SECOND, Role.VIEWER, NOW, "")
    with pytest.raises(RoleRefused, match=f"{SECOND} has no role; only an ADMIN may revoke roles"):
        book().revoke(SECOND, VIEWER, NOW, "")


def test_nothing_to_change_and_unknown_members_are_refused() -> None:
    with pytest.raises(RoleRefused, match="is already a VIEWER"):
        book().grant(ADMIN, VIEWER, Role.VIEWER, NOW, "")
    with pytest.raises(RoleRefused, match=f"{SECOND} has no role to revoke"):
        book().revoke(ADMIN, SECOND, NOW, "")


def test_the_last_admin_cannot_be_revoked_or_demoted() -> None:
    with pytest.raises(RoleRefused, match=f"cannot revoke {ADMIN}: {ADMIN} is the last ADMIN"):
        book().revoke(ADMIN, ADMIN, NOW, "leaving")
    with pytest.raises(RoleRefused, match=f"cannot demote {ADMIN} to OPERATOR: {ADMIN} is the last ADMIN"):
        book().grant(ADMIN, ADMIN, Role.OPERATOR, NOW, "")
    two = book().grant(ADMIN, SECOND, Role.ADMIN, NOW, "backup")
    one = two.revoke(SECOND, ADMIN, NOW, "rotated")  # with another ADMIN, it can
    assert one.admins() == [SECOND] and one.role_of(ADMIN) is None
    assert two.grant(ADMIN, ADMIN, Role.VIEWER, NOW, "stepping back").admins() == [SECOND]


def test_a_revoked_admin_can_no_longer_grant() -> None:
    two = book().grant(ADMIN, SECOND, Role.ADMIN, NOW, "backup").revoke(SECOND, ADMIN, NOW, "")
    with pytest.raises(RoleRefused, match="has no role; only an ADMIN may grant"):
        two.grant(ADMIN, ADMIN, Role.ADMIN, NOW, "back door")


def test_addresses_are_validated_and_checksummed() -> None:
    assert checksummed(OPERATOR.lower()) == OPERATOR
    assert checksummed("0x" + OPERATOR[2:].upper()) == OPERATOR
    for bad in ["0x1234", OPERATOR[2:], "0x" + "g" * 40, 42, None, OPERATOR[:2] + OPERATOR[2:].swapcase()]:
        with pytest.raises(ValueError):
            checksummed(bad)
    with pytest.raises(RoleRefused, match="account: .*wrong EIP-55 checksum"):
        book().grant(ADMIN, OPERATOR[:2] + OPERATOR[2:].swapcase(), Role.VIEWER, NOW, "")
    assert book().grant(ADMIN, SECOND.lower(), Role.VIEWER, NOW, "").role_of(SECOND) == Role.VIEWER
    with pytest.raises(RoleRefused, match="not a valid founding admin"):
        RoleBook.founded(["0xnope"], NOW)
    with pytest.raises(RoleRefused, match="at least one ADMIN"):
        RoleBook.founded([], NOW)


def test_the_book_round_trips_as_json_with_role_names() -> None:
    text = book().model_dump_json()
    assert '"role":"OPERATOR"' in text and '"role":2' not in text
    assert RoleBook.model_validate_json(text) == book()


def test_the_book_is_bounded() -> None:
    members = {to_checksum_address(i.to_bytes(20, "big")): book().members[VIEWER] for i in range(1, MAX_MEMBERS)}
    full = RoleBook(members={ADMIN: book().members[ADMIN], **members})
    with pytest.raises(RoleRefused, match="the role book is full"):
        full.grant(ADMIN, Account.from_key(b"\xee" * 32).address, Role.VIEWER, NOW, "")
