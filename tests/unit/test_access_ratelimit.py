"""Rate limits: buckets per caller and kind, the backoff after repeated refusals, and a flood
from one caller never holding up another's commands."""

from __future__ import annotations

from eth_account import Account

from floor.access.commands import (
    ANONYMOUS,
    UNPROVEN,
    CommandDomain,
    CommandRefused,
    SignedCommand,
    UsedNonces,
    sign_command,
    verify,
)
from floor.access.ratelimit import (
    BACKOFF_BASE_S,
    BACKOFF_CAP_S,
    FORGET_AFTER_S,
    FREE_REFUSALS,
    LIMITS,
    MAX_ENTRIES,
    OPERATIONS,
    READS,
    LimiterState,
    check,
    record_refusal,
    refusal_text,
)
from floor.access.roles import Kind, Role, RoleBook

KEYS = {n: "0x" + bytes([i + 1]).rjust(32, b"\x22").hex() for i, n in enumerate(["admin", "op", "viewer", "x"])}
ADMIN, OPERATOR, VIEWER, STRANGER = (Account.from_key(KEYS[n]).address for n in ["admin", "op", "viewer", "x"])
T0 = 1_800_000_000
DOMAIN = CommandDomain(chain_id=1, executor="0x5FbDB2315678afecb367f032d93F642f64180aa3", engine="engine-floor")
BOOK = (
    RoleBook.founded([ADMIN], T0)
    .grant(ADMIN, OPERATOR, Role.OPERATOR, T0, "on call")
    .grant(ADMIN, VIEWER, Role.VIEWER, T0, "dashboards")
)


def command(kind: Kind, who: str, now: int, nonce: int = 1, **own) -> SignedCommand:
    own = own or {Kind.READ: {"query": "status"}}.get(kind, {"reason": "test"})
    if kind == Kind.ALLOCATE:
        own = {"amounts": [{"chainId": 1, "asset": "USDC", "amount": "1000"}], "reason": "test"}
    return sign_command(kind, {"nonce": nonce, "deadline": now + 600, **own}, KEYS[who], DOMAIN)


def admit(state: LimiterState, raw, kind: Kind, now: int, used: UsedNonces | None = None):
    """What an engine update's validator will do (the wiring): verify, limit the caller the
    verification names (the signing member, else a shared key), strike a refused caller."""
    try:
        verified = verify(raw, DOMAIN, BOOK, now, used or UsedNonces(), expected=kind)
        caller, reason = verified.limit_key, None
    except CommandRefused as refused:
        caller, reason = refused.blame, str(refused)
    allowed, retry_after, state = check(state, caller, kind, now)
    if not allowed:
        return state, refusal_text(kind, retry_after)
    if reason is not None:
        return record_refusal(state, caller, now), reason
    return state, "accepted"


# ---------------------------------------------------------------------------- the buckets


def test_a_bucket_takes_its_burst_then_one_per_interval() -> None:
    state, caller = LimiterState(), OPERATOR
    for _ in range(OPERATIONS.burst):
        allowed, retry_after, state = check(state, caller, Kind.ALLOCATE, T0)
        assert allowed and retry_after == 0
    assert check(state, caller, Kind.ALLOCATE, T0)[:2] == (False, OPERATIONS.every_s)
    assert check(state, caller, Kind.ALLOCATE, T0 + OPERATIONS.every_s - 1)[:2] == (False, 1)
    allowed, _, state = check(state, caller, Kind.ALLOCATE, T0 + OPERATIONS.every_s)
    assert allowed and not check(state, caller, Kind.ALLOCATE, T0 + OPERATIONS.every_s)[0]


def test_the_limits_are_per_caller_and_per_kind() -> None:
    state = LimiterState()
    for _ in range(OPERATIONS.burst):
        state = check(state, OPERATOR, Kind.ALLOCATE, T0).state
    assert not check(state, OPERATOR, Kind.ALLOCATE, T0).allowed
    assert check(state, OPERATOR, Kind.HARVEST, T0).allowed  # another kind
    assert check(state, ADMIN, Kind.ALLOCATE, T0).allowed  # another caller


def test_reads_are_allowed_far_more_than_operations() -> None:
    assert READS.burst >= 100 and 3600 // READS.every_s >= 1000
    assert all(
        3600 // limit.every_s + limit.burst <= 20
        for kind, limit in LIMITS.items()
        if kind not in (Kind.READ, Kind.CHECK_RISK)
    )
    state, reads = LimiterState(), 0
    for second in range(600):  # two a second for ten minutes
        for _ in range(2):
            allowed, _, state = check(state, VIEWER, Kind.READ, T0 + second)
            reads += allowed
    assert READS.burst + 600 - 1 <= reads <= READS.burst + 600


def test_the_state_round_trips_as_json_and_expires() -> None:
    state = check(LimiterState(), OPERATOR, Kind.ALLOCATE, T0).state
    state = record_refusal(state, VIEWER, T0)
    assert LimiterState.model_validate_json(state.model_dump_json()) == state
    assert state.size() == 2
    later = check(state, ADMIN, Kind.READ, T0 + FORGET_AFTER_S).state
    assert later.next_free == {f"{ADMIN}/read": T0 + FORGET_AFTER_S + READS.every_s}
    assert later.strikes == {}


def test_the_state_is_bounded() -> None:
    state = LimiterState(next_free={f"caller-{i}/read": T0 + 100 for i in range(MAX_ENTRIES)})
    allowed, retry_after, _ = check(state, "caller-new", Kind.READ, T0)
    assert not allowed and retry_after == 100
    assert check(state, "caller-1", Kind.READ, T0).allowed  # who is in keeps its bucket
    assert check(state, "caller-new", Kind.READ, T0 + 100).allowed  # the old entries expired


# ---------------------------------------------------------------------------- the backoff


def test_the_backoff_starts_after_the_free_refusals_doubles_and_is_capped() -> None:
    state, now, waits = LimiterState(), T0, []
    for _ in range(FREE_REFUSALS):
        state = record_refusal(state, VIEWER, now)
        assert check(state, VIEWER, Kind.READ, now).allowed
    for _ in range(12):
        state = record_refusal(state, VIEWER, now)
        allowed, retry_after, _ = check(state, VIEWER, Kind.READ, now)
        assert not allowed
        waits.append(retry_after)
        now += retry_after  # the caller waits it out, then is refused again
    assert waits[:4] == [BACKOFF_BASE_S, 2 * BACKOFF_BASE_S, 4 * BACKOFF_BASE_S, 8 * BACKOFF_BASE_S]
    assert max(waits) == BACKOFF_CAP_S == waits[-1]
    state = state.pruned(now + FORGET_AFTER_S)
    assert state.strikes == {}  # forgotten: the next refusal is free again
    assert check(record_refusal(state, VIEWER, now + FORGET_AFTER_S), VIEWER, Kind.READ, now + FORGET_AFTER_S)[0]


def test_a_burst_of_1000_bad_commands_is_limited_and_backs_off_while_others_go_through() -> None:
    """A VIEWER's key sends 1000 commands it may not send (allocate, needs OPERATOR; read
    replays), one a second; meanwhile an OPERATOR's allocations and a VIEWER's reads by
    another member go through."""
    state, outcomes, operator = LimiterState(), [], []
    replayed = command(Kind.READ, "viewer", T0 + 1000, nonce=99)
    used = UsedNonces().add(VIEWER, 99, T0 + 1600, T0)
    for i in range(1000):
        now = T0 + i
        if i % 2:
            state, outcome = admit(state, command(Kind.ALLOCATE, "viewer", now, nonce=i), Kind.ALLOCATE, now)
        else:
            state, outcome = admit(state, replayed, Kind.READ, now, used)
        outcomes.append(outcome)
        if i in (10, 500, 990):
            state, outcome = admit(state, command(Kind.ALLOCATE, "op", now, nonce=i), Kind.ALLOCATE, now)
            operator.append(outcome)
            state, outcome = admit(state, command(Kind.READ, "admin", now, nonce=i), Kind.READ, now)
            operator.append(outcome)
    assert operator == ["accepted"] * 6
    verified = [o for o in outcomes if not o.startswith("rate limited")]
    assert all("is a VIEWER; allocate needs OPERATOR" in o or o.startswith("replayed") for o in verified)
    assert len(verified) <= 15  # the rest never reached a refusal of its own
    strikes = state.strikes[VIEWER]
    assert strikes.count == len(verified) and strikes.until > T0 + 999
    assert strikes.until - strikes.last == min(BACKOFF_BASE_S * 2 ** (strikes.count - FREE_REFUSALS - 1), 3600)
    # The VIEWER's own valid read waits out the backoff too: its key is the one refused.
    now = T0 + 1000
    _, outcome = admit(state, command(Kind.READ, "viewer", now, nonce=5000), Kind.READ, now)
    assert outcome == refusal_text(Kind.READ, strikes.until - now)


def test_forged_commands_in_a_members_name_cost_the_member_nothing() -> None:
    """1000 commands claiming the OPERATOR signed them (tampered, or signed by a stranger's
    key): refused, limited under the shared UNPROVEN key, never under the OPERATOR's."""
    state = LimiterState()
    forged = command(Kind.ALLOCATE, "x", T0).model_dump(mode="json") | {"signer": OPERATOR}
    for i in range(1000):
        state, outcome = admit(state, forged, Kind.ALLOCATE, T0 + i)
        assert outcome.startswith(("signature does not match", "rate limited"))
    assert set(state.strikes) == {UNPROVEN}
    _, outcome = admit(state, command(Kind.ALLOCATE, "op", T0 + 1000), Kind.ALLOCATE, T0 + 1000)
    assert outcome == "accepted"


def test_a_member_signing_in_anothers_name_is_struck_under_its_own_key() -> None:
    forged = command(Kind.ALLOCATE, "viewer", T0).model_dump(mode="json") | {"signer": OPERATOR}
    with_blame = None
    try:
        verify(forged, DOMAIN, BOOK, T0, UsedNonces())
    except CommandRefused as refused:
        with_blame = refused.blame
    assert with_blame == VIEWER


def test_unsigned_pauses_are_limited_under_one_shared_key() -> None:
    state, outcomes = LimiterState(), []
    pause = command(Kind.PAUSE, "x", T0).model_dump(mode="json") | {"signer": None, "signature": None}
    for i in range(20):
        state, outcome = admit(state, pause, Kind.PAUSE, T0 + i)
        outcomes.append(outcome)
    assert outcomes[: LIMITS[Kind.PAUSE].burst] == ["accepted"] * LIMITS[Kind.PAUSE].burst
    assert all(o.startswith("rate limited: too many pause commands") for o in outcomes[LIMITS[Kind.PAUSE].burst :])
    assert set(state.next_free) == {f"{ANONYMOUS}/pause"}
    _, outcome = admit(state, command(Kind.PAUSE, "op", T0 + 20), Kind.PAUSE, T0 + 20)
    assert outcome == "accepted"  # a member's signed pause has its own bucket


def test_a_command_sent_to_another_update_is_refused() -> None:
    _, outcome = admit(LimiterState(), command(Kind.HARVEST, "op", T0), Kind.ALLOCATE, T0)
    assert outcome == "a 'harvest' command sent to the 'allocate' update"


def test_the_risk_checks_schedule_is_never_limited():
    """The risk check's schedule may run every minute (risk.check_every_s >= 60)."""
    state, caller = LimiterState(), "0x" + "ab" * 20
    for minute in range(120):
        allowed, _, state = check(state, caller, Kind.CHECK_RISK, T0 + 60 * minute)
        assert allowed, minute
