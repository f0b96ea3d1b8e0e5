"""The engine's state machine, exhaustively: every (state, event) pair is either in the one
table or refused with a reason that names why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from floor.engine import (
    BUSY_STATES,
    OPERATION_EVENT,
    OPERATION_STATE,
    EngineMemory,
    EnginePolicy,
    EngineState,
    Event,
    Operation,
    TransitionRefused,
    cooldown_refusal,
    next_state,
    refusal,
    transition,
)

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
POLICY = EnginePolicy(max_transitions=10)


def expected(state: EngineState, event: Event) -> EngineState | None:
    """The rules in words, independent of the table."""
    if state == EngineState.PAUSED:
        return {Event.RESUME: "previous", Event.FINISHED: EngineState.PAUSED}.get(event)
    if event == Event.PAUSE:
        return EngineState.PAUSED
    if event == Event.RESUME:
        return None
    if event == Event.FINISHED:
        return EngineState.IDLE if state in BUSY_STATES else None
    if state == EngineState.IDLE:
        return OPERATION_STATE[Operation(event.value)]
    return None  # an operation while another runs


@pytest.mark.parametrize("state", list(EngineState))
@pytest.mark.parametrize("event", list(Event))
def test_every_pair(state, event):
    want = expected(state, event)
    if want is None:
        reason = refusal(state, event, running="engine/rebalance-1")
        assert reason
        with pytest.raises(TransitionRefused) as caught:
            next_state(state, event, None)
        assert str(caught.value) == refusal(state, event)
        if state == EngineState.PAUSED:
            assert reason.startswith("the engine is paused: only resume is accepted")
        elif event == Event.RESUME:
            assert reason == f"the engine is not paused (state {state.value})"
        elif event not in (Event.FINISHED,):
            assert "one operation at a time" in reason and "engine/rebalance-1" in reason
    elif want == "previous":
        assert refusal(state, event) is None
        for before in [EngineState.IDLE, *BUSY_STATES]:
            assert next_state(state, event, before) == before
        assert next_state(state, event, None) == EngineState.IDLE
    else:
        assert refusal(state, event) is None and next_state(state, event, None) == want


def test_pause_during_an_operation_resumes_into_it_and_records_everything():
    m = EngineMemory()
    m = transition(m, Event.REBALANCE, now=NOW, actor="ops", cause="rebalance r-1", reason="drift", policy=POLICY)
    m = transition(m, Event.PAUSE, now=NOW, actor="alice", cause="pause", reason="incident 42", policy=POLICY)
    assert (m.state, m.paused_from, m.pause_reason) == (EngineState.PAUSED, EngineState.REBALANCING, "incident 42")
    m = transition(m, Event.RESUME, now=NOW, actor="alice", cause="resume", reason="fixed", policy=POLICY)
    assert (m.state, m.paused_from, m.pause_reason) == (EngineState.REBALANCING, None, "")
    assert [(t.from_state, t.to_state, t.actor) for t in m.transitions] == [
        (EngineState.IDLE, EngineState.REBALANCING, "ops"),
        (EngineState.REBALANCING, EngineState.PAUSED, "alice"),
        (EngineState.PAUSED, EngineState.REBALANCING, "alice"),
    ]


def test_an_operation_ending_while_paused_leaves_the_engine_paused_then_idle():
    m = EngineMemory()
    for event in (Event.HARVEST, Event.PAUSE, Event.FINISHED):
        m = transition(m, event, now=NOW, actor="x", cause=event.value, reason="", policy=POLICY)
    assert (m.state, m.paused_from) == (EngineState.PAUSED, EngineState.IDLE)
    m = transition(m, Event.RESUME, now=NOW, actor="x", cause="resume", reason="", policy=POLICY)
    assert m.state == EngineState.IDLE


def test_transitions_are_bounded():
    m = EngineMemory()
    for i in range(30):
        event = Event.PAUSE if i % 2 == 0 else Event.RESUME
        m = transition(m, event, now=NOW + timedelta(seconds=i), actor="x", cause=str(i), reason="", policy=POLICY)
    assert len(m.transitions) == 10 and m.transitions[-1].cause == "29"


def test_cooldowns_count_from_the_last_run_that_acted():
    policy = EnginePolicy(rebalance_cooldown_s=3600, harvest_cooldown_s=86_400)
    m = EngineMemory(last_acted={Operation.REBALANCE: NOW})
    reason = cooldown_refusal(Operation.REBALANCE, m, policy, NOW + timedelta(minutes=59))
    assert reason and "next is allowed in 60 s (cooldown 3600 s)" in reason
    assert cooldown_refusal(Operation.REBALANCE, m, policy, NOW + timedelta(hours=1)) is None
    assert cooldown_refusal(Operation.HARVEST, m, policy, NOW) is None  # never harvested
    assert cooldown_refusal(Operation.ALLOCATE, m, policy, NOW) is None  # no cooldown
    assert set(OPERATION_EVENT) == set(Operation) - {Operation.PANIC_EXIT}  # runs while PAUSED, no state
