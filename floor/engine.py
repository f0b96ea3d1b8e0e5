"""The engine's state machine, pure: states, the one table of valid transitions, the reasons a
request is refused, cooldowns, and the memory an EngineWorkflow carries across
continue-as-new. Workflows import this module; nothing here touches the network or the clock
(callers pass `now`).

One operation runs at a time. PAUSED remembers what was running when the pause came
(`paused_from`): a resume returns there, and an operation that ends while paused leaves the
engine paused with nothing to return to but IDLE.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import Field, StrictInt

from floor.access.audit import AuditEntry
from floor.access.commands import CommandDomain, UsedNonces
from floor.access.ratelimit import LimiterState
from floor.access.roles import RoleBook
from floor.models import FrozenModel
from floor.risk.breakers import Breaker, BreakerPolicy


class EngineState(StrEnum):
    IDLE = "IDLE"
    ALLOCATING = "ALLOCATING"
    REBALANCING = "REBALANCING"
    HARVESTING = "HARVESTING"
    REQUESTING_CAPITAL = "REQUESTING_CAPITAL"
    PAUSED = "PAUSED"


class Operation(StrEnum):
    ALLOCATE = "allocate"
    REBALANCE = "rebalance"
    HARVEST = "harvest"
    REQUEST_CAPITAL = "request-capital"
    PANIC_EXIT = "panic-exit"  # runs while PAUSED, beside any paused operation: no state of its own


class Event(StrEnum):
    ALLOCATE = "allocate"
    REBALANCE = "rebalance"
    HARVEST = "harvest"
    REQUEST_CAPITAL = "request-capital"
    FINISHED = "finished"  # the running operation ended (done, failed or partial)
    PAUSE = "pause"
    RESUME = "resume"


OPERATION_STATE = {
    Operation.ALLOCATE: EngineState.ALLOCATING,
    Operation.REBALANCE: EngineState.REBALANCING,
    Operation.HARVEST: EngineState.HARVESTING,
    Operation.REQUEST_CAPITAL: EngineState.REQUESTING_CAPITAL,
}
OPERATION_EVENT = {op: Event(op.value) for op in OPERATION_STATE}
BUSY_STATES = frozenset(OPERATION_STATE.values())

# Where a resume goes is not fixed: back to the state the pause interrupted.
RESUME_PREVIOUS = "RESUME_PREVIOUS"

# The one table of valid transitions; every (state, event) pair not in it is refused.
TRANSITIONS: dict[tuple[EngineState, Event], EngineState | str] = {
    **{(EngineState.IDLE, OPERATION_EVENT[op]): state for op, state in OPERATION_STATE.items()},
    **{(state, Event.FINISHED): EngineState.IDLE for state in BUSY_STATES},
    **{(state, Event.PAUSE): EngineState.PAUSED for state in EngineState if state != EngineState.PAUSED},
    (EngineState.PAUSED, Event.RESUME): RESUME_PREVIOUS,
    # An operation that fails or ends while paused: the engine stays paused.
    (EngineState.PAUSED, Event.FINISHED): EngineState.PAUSED,
}


class TransitionRefused(Exception):
    """A request the state machine does not allow, with the reason an operator reads."""


def refusal(state: EngineState, event: Event, running: str | None = None) -> str | None:
    """Why `event` is not allowed in `state` (None when it is). `running` names the
    operation in progress, for the message."""
    if (state, event) in TRANSITIONS:
        return None
    if state == EngineState.PAUSED:
        return f"the engine is paused: only resume is accepted (asked: {event.value})"
    if event == Event.RESUME:
        return f"the engine is not paused (state {state.value})"
    if event == Event.FINISHED:
        return f"no operation is running (state {state.value})"
    what = f" ({running})" if running else ""
    return f"the engine is {state.value}{what}: one operation at a time (asked: {event.value})"


def next_state(state: EngineState, event: Event, paused_from: EngineState | None) -> EngineState:
    """The state after `event`, or TransitionRefused with the reason."""
    reason = refusal(state, event)
    if reason is not None:
        raise TransitionRefused(reason)
    target = TRANSITIONS[(state, event)]
    if target == RESUME_PREVIOUS:
        return paused_from or EngineState.IDLE
    return EngineState(target)


# ---------------------------------------------------------------------------- memory


YEAR_S = 366 * 86_400  # the longest cooldown the engine takes


class EnginePolicy(FrozenModel):
    """What the engine enforces itself, from the config's strategy."""

    rebalance_cooldown_s: StrictInt = Field(default=3600, ge=0, le=YEAR_S)
    harvest_cooldown_s: StrictInt = Field(default=86_400, ge=0, le=YEAR_S)
    max_transitions: StrictInt = Field(default=100, ge=10, le=1000)  # kept in memory and queries
    max_results: StrictInt = Field(default=20, ge=1, le=200)
    # Continue-as-new beyond this, between operations (Temporal's own limit is 51,200).
    max_history_events: StrictInt = Field(default=5_000, ge=50, le=50_000)
    breakers: BreakerPolicy = BreakerPolicy()  # what trips a circuit breaker (floor.risk.breakers)


class Transition(FrozenModel):
    at: datetime
    from_state: EngineState
    to_state: EngineState
    cause: str  # the event and, for an operation, its workflow id
    actor: str
    reason: str = ""


class RunningOperation(FrozenModel):
    kind: Operation
    workflow_id: str
    started_at: datetime
    by: str
    step: str = "starting"


class OperationRecord(FrozenModel):
    """A finished operation, small: its id, whether it moved funds, and a one-line summary."""

    kind: Operation
    workflow_id: str
    started_at: datetime
    finished_at: datetime
    status: str  # "done", "skipped", "partial", "failed"
    acted: bool  # whether it moved funds (cooldowns count only operations that did)
    summary: str


class EngineMemory(FrozenModel):
    """Everything an EngineWorkflow carries into its next run (continue-as-new)."""

    state: EngineState = EngineState.IDLE
    paused_from: EngineState | None = None
    pause_reason: str = ""
    paused_by: str = ""  # who paused it, while PAUSED (memories from before carry "": see transitions)
    paused_at: datetime | None = None  # since when
    operation: RunningOperation | None = None
    panic: RunningOperation | None = None  # a panic exit running (beside any paused operation)
    transitions: list[Transition] = []
    results: list[OperationRecord] = []
    operations_started: int = 0  # numbers each operation's workflow id
    last_acted: dict[Operation, datetime] = {}  # cooldowns: the last run of a kind that moved funds
    harvest_baseline: dict[str, int] = {}  # growth index per market at the last harvest (str(AdapterKey))
    breakers: dict[str, Breaker] = {}  # by scope; a scope with none is CLOSED
    errors_counted_from: datetime | None = None  # the engine breaker last closed: older failures do not count
    # Access (floor.access): who may command, for which domain, what was used, how fast.
    # None until the worker's settings are read (a first run, or a memory from before them).
    book: RoleBook | None = None
    domain: CommandDomain | None = None
    used_nonces: UsedNonces = UsedNonces()
    limiter: LimiterState = LimiterState()
    audit_pending: list[AuditEntry] = []  # audit entries not yet in the store
    audit_count: StrictInt = 0  # numbers the audit entries no update names


def cooldown_refusal(kind: Operation, memory: EngineMemory, policy: EnginePolicy, now: datetime) -> str | None:
    """A rebalance or harvest too soon after the last one that moved funds."""
    seconds = {Operation.REBALANCE: policy.rebalance_cooldown_s, Operation.HARVEST: policy.harvest_cooldown_s}.get(kind)
    last = memory.last_acted.get(kind)
    if not seconds or last is None:
        return None
    ready = last + timedelta(seconds=seconds)
    if now < ready:
        wait = int((ready - now).total_seconds())
        return (
            f"{kind.value} cooldown: the last {kind.value} that moved funds finished at "
            f"{last.isoformat(timespec='seconds')}; the next is allowed in {wait} s (cooldown {seconds} s)"
        )
    return None


def transition(
    memory: EngineMemory, event: Event, *, now: datetime, actor: str, cause: str, reason: str, policy: EnginePolicy
) -> EngineMemory:
    """The memory after a valid `event`, with the transition recorded (bounded)."""
    before = memory.state
    after = next_state(before, event, memory.paused_from)
    paused_from = memory.paused_from
    paused = {"paused_by": memory.paused_by, "paused_at": memory.paused_at}
    if event == Event.PAUSE:
        paused_from = before
        paused = {"paused_by": actor, "paused_at": now}
    elif event == Event.RESUME:
        paused_from = None
        paused = {"paused_by": "", "paused_at": None}
    elif event == Event.FINISHED and before == EngineState.PAUSED:
        paused_from = EngineState.IDLE
    record = Transition(at=now, from_state=before, to_state=after, cause=cause, actor=actor, reason=reason)
    return memory.model_copy(
        update={
            "state": after,
            "paused_from": paused_from,
            "pause_reason": reason if event == Event.PAUSE else ("" if event == Event.RESUME else memory.pause_reason),
            "transitions": ([*memory.transitions, record])[-policy.max_transitions :],
            **paused,
        }
    )
