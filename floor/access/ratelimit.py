"""Rate limits on commands, per caller and per command kind, with a capped exponential backoff
for callers whose commands keep being refused. Pure and deterministic: the time is passed in
(whole seconds, the workflow's), the state is a JSON-able model carried across
continue-as-new, and entries that no longer limit anything are dropped, so it stays bounded.

Each (caller, kind) is a GCRA bucket (a token bucket kept as one number: the time its next
command would be on schedule): `burst` commands at once, then one every `every_s` seconds.
A caller is its rate-limit key: a member's address, or the shared keys of
floor.access.commands (ANONYMOUS for unsigned pauses, UNPROVEN for refusals nobody's key
proves), so claiming someone else's address costs them nothing.

A refused command is a strike against the caller it is blamed on (`record_refusal`: a
member's key that signed what it may not, or a replay; UNPROVEN for the rest). After
FREE_REFUSALS strikes the caller waits BACKOFF_BASE_S, doubling with each further strike up
to BACKOFF_CAP_S; strikes are forgotten FORGET_AFTER_S after the last wait ends. A command
the limiter itself refuses is not a strike: a client retrying too soon is not punished.

The flow the engine's validators will follow: verify the command; its caller is
`Verified.limit_key`, or `CommandRefused.blame`; `check` that caller for the door's kind
(refused: "rate limited", no strike); a command verify refused is then `record_refusal`ed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from pydantic import Field, StrictInt

from floor.access.roles import Kind
from floor.models import FrozenModel


@dataclass(frozen=True)
class Limit:
    burst: int  # commands at once
    every_s: int  # then one per this many seconds


READS = Limit(burst=120, every_s=1)  # 3600 an hour
OPERATIONS = Limit(burst=3, every_s=600)  # 6 an hour
ADMIN = Limit(burst=5, every_s=600)
PAUSES = Limit(burst=5, every_s=300)  # a pause is open to anyone: limited, never closed
# A risk check reads and can only trip breakers (the safe direction); its schedule may run every
# minute (`risk.check_every_s` >= 60), which the operations' limit would refuse.
RISK_CHECKS = Limit(burst=10, every_s=30)
LIMITS: dict[Kind, Limit] = {
    Kind.READ: READS,
    Kind.PAUSE: PAUSES,
    Kind.CHECK_RISK: RISK_CHECKS,
    **dict.fromkeys(
        [
            Kind.RESUME,
            Kind.ALLOCATE,
            Kind.REBALANCE,
            Kind.HARVEST,
            Kind.ACCEPT_RECONCILIATION,
        ],
        OPERATIONS,
    ),
    **dict.fromkeys(
        [
            Kind.REQUEST_CAPITAL,
            Kind.PANIC_EXIT,
            Kind.TRIP_BREAKER,
            Kind.HALF_OPEN_BREAKER,
            Kind.CONFIGURE,
            Kind.APPLY_SCHEDULES,
            Kind.GRANT_ROLE,
            Kind.REVOKE_ROLE,
        ],
        ADMIN,
    ),
}
FREE_REFUSALS = 3  # strikes before the backoff starts (a typo, a clock off by a minute)
BACKOFF_BASE_S = 10
BACKOFF_CAP_S = 3600
FORGET_AFTER_S = 3600  # strikes are forgotten this long after the last wait ends
MAX_ENTRIES = 5000  # buckets and strike records together; a new caller beyond is refused


class Strikes(FrozenModel):
    count: StrictInt = Field(ge=0)
    last: StrictInt  # when the last strike came
    until: StrictInt  # refused until then


class LimiterState(FrozenModel):
    """Every bucket's next on-schedule time (key "<caller>/<kind>") and every caller's strikes."""

    next_free: dict[str, int] = Field(default_factory=dict)
    strikes: dict[str, Strikes] = Field(default_factory=dict)

    def pruned(self, now: int) -> LimiterState:
        """Without what limits nothing any more: a bucket back to full, strikes forgotten."""
        return LimiterState(
            next_free={k: t for k, t in self.next_free.items() if t > now},
            strikes={k: s for k, s in self.strikes.items() if now < s.until + FORGET_AFTER_S},
        )

    def size(self) -> int:
        return len(self.next_free) + len(self.strikes)


class Decision(NamedTuple):
    allowed: bool
    retry_after: int  # seconds; 0 when allowed
    state: LimiterState


def check(state: LimiterState, caller: str, kind: Kind, now: int) -> Decision:
    """May `caller` send `kind` now? An allowed command takes its place in the bucket."""
    state = state.pruned(now)
    strikes = state.strikes.get(caller)
    if strikes is not None and strikes.until > now:
        return Decision(False, strikes.until - now, state)
    limit, key = LIMITS[kind], f"{caller}/{kind.value}"
    due = max(state.next_free.get(key, now), now)
    ahead = due - now - limit.every_s * (limit.burst - 1)  # beyond the burst's tolerance
    if ahead > 0:
        return Decision(False, ahead, state)
    if key not in state.next_free and state.size() >= MAX_ENTRIES:
        return Decision(False, _soonest_free(state, now), state)
    return Decision(True, 0, state.model_copy(update={"next_free": {**state.next_free, key: due + limit.every_s}}))


def record_refusal(state: LimiterState, caller: str, now: int) -> LimiterState:
    """A strike against `caller` (see the module's docstring): the backoff after FREE_REFUSALS."""
    state = state.pruned(now)
    old = state.strikes.get(caller)
    if old is None and state.size() >= MAX_ENTRIES:
        return state  # full: the buckets still limit this caller
    count = (old.count if old else 0) + 1
    over = count - FREE_REFUSALS
    until = now + min(BACKOFF_BASE_S * 2 ** min(over - 1, 30), BACKOFF_CAP_S) if over > 0 else now
    return state.model_copy(update={"strikes": {**state.strikes, caller: Strikes(count=count, last=now, until=until)}})


def refusal_text(kind: Kind, retry_after: int) -> str:
    return f"rate limited: too many {kind.value} commands; retry in {retry_after} s"


def _soonest_free(state: LimiterState, now: int) -> int:
    times = list(state.next_free.values()) + [s.until for s in state.strikes.values() if s.until > now]
    return max(1, min(times, default=now + 1) - now)
