"""The doors of every workflow, without a server: floor/doors.py names every handler the
registered workflows have; every example fits its door; docs/doors.md is what
scripts/door_schemas.py writes; garbage from the doors' JSON schemas is refused in one line;
amounts are whole base units; a pause takes anything."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from floor.doors import DOORS, Door
from floor.models import Amount
from floor.operations import CapitalRequest, Signal, pause_signal, resume_signal
from floor.txqueue import QueuePolicy, TxIntent
from floor.validation import BadRequest, parse
from tests.door_garbage import garbage

REPO = Path(__file__).resolve().parents[2]


def registered() -> list:
    from workers.temporal import WORKFLOWS  # not at module level: the sandbox re-imports modules

    return WORKFLOWS


def handlers() -> set[tuple[str, str, str]]:
    found = set()
    for cls in registered():
        definition = cls.__temporal_workflow_definition
        found.add((definition.name, "start", ""))
        for kind, table in (
            ("signal", definition.signals),
            ("update", definition.updates),
            ("query", definition.queries),
        ):
            found |= {(definition.name, kind, name) for name in table if name}
    return found


def test_every_handler_of_every_registered_workflow_has_a_door_and_no_door_is_stale():
    documented = {(d.workflow, d.kind, d.name) for d in DOORS}
    assert handlers() - documented == set(), "handlers missing from floor/doors.py"
    assert documented - handlers() == set(), "doors in floor/doors.py no workflow has"
    assert len(documented) == len(DOORS), "a door listed twice"


def test_no_person_is_offered_the_internal_step_signal_under_a_plain_name():
    engine = next(c for c in registered() if c.__name__ == "EngineWorkflow").__temporal_workflow_definition
    assert "operation_step" not in engine.signals
    assert engine.signals["internal_operation_step"].description.startswith("Internal")


def read(door: Door, raw):
    """What the workflow's door reads `raw` as (BadRequest when it refuses it)."""
    if door.takes.startswith("anything"):
        return pause_signal(raw)
    if door.takes.startswith("null, "):
        return resume_signal(raw)
    if isinstance(door.model, type) and issubclass(door.model, BaseModel):
        return parse(door.model, raw, door.name or "input", null_ok=door.null)
    if door.name == "submit_many":  # as the queue reads it: an array of 1 to 500, each an intent
        if not isinstance(raw, list) or not 1 <= len(raw) <= 500:
            raise BadRequest("submit_many takes a JSON array of 1 to 500 intents")
        return [parse(TxIntent, i, "intent") for i in raw]
    if door.model is str and isinstance(raw, str):
        return raw
    if door.model == list[str] and isinstance(raw, list) and all(isinstance(i, str) for i in raw):
        return raw
    raise BadRequest(f"{door.name} takes {door.takes}")


@pytest.mark.parametrize("door", [d for d in DOORS if d.model is not None], ids=lambda d: f"{d.workflow}.{d.name}")
def test_every_example_fits_its_door(door):
    read(door, door.example)


def test_the_doors_doc_is_what_the_script_writes():
    spec = importlib.util.spec_from_file_location("door_schemas", REPO / "scripts" / "door_schemas.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = (REPO / "docs" / "doors.md").read_text()
    assert committed == script.render(), "docs/doors.md is stale: run .venv/bin/python scripts/door_schemas.py"


REFUSING = [
    d
    for d in DOORS
    if isinstance(d.model, type)
    and issubclass(d.model, BaseModel)
    and not d.takes.startswith("anything")
    and not (d.kind == "signal" and d.audience == "internal")  # logged and ignored, never refused
]


@pytest.mark.parametrize("door", REFUSING, ids=lambda d: f"{d.workflow}.{d.kind}.{d.name}")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_garbage_from_the_schema_is_refused_in_one_line(door, data):
    raw = data.draw(garbage(door))
    with pytest.raises(BadRequest) as refused:
        read(door, raw)
    message = str(refused.value)
    assert "\n" not in message and "pydantic.dev" not in message and "positional argument" not in message, message
    assert len(message) < 1500, message


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        (5, 5),
        ("5", 5),
        ("0", 0),
        ("115792089237316195423570985008687907853269984665640564039457584007913129639935", 2**256 - 1),
    ],
)
def test_amounts_are_integers_or_strings_of_digits(raw, amount):
    assert TypeAdapter(Amount).validate_python(raw) == amount
    assert TypeAdapter(Amount).dump_json(amount) == f'"{amount}"'.encode()


@pytest.mark.parametrize("raw", ["1000.00", "1e6", "-1", " 5", "0x10", "", 1.5, 5.0, True, None, -1, 2**256])
def test_a_decimal_point_or_anything_but_digits_is_refused_never_reinterpreted(raw):
    with pytest.raises(ValidationError) as refused:
        TypeAdapter(Amount).validate_python(raw)
    assert "base units" in str(refused.value)


def test_a_service_amount_of_1000_00_is_refused_by_name():
    with pytest.raises(
        BadRequest, match=r'^not a valid request: amount: must be a whole number of base units.*\(got "1000.00"\)$'
    ):
        parse(
            CapitalRequest,
            {"chain_id": 1, "asset": "USDC", "amount": "1000.00", "destination": "0x" + "11" * 20},
            "request",
        )


def test_a_chain_id_is_a_json_number():
    with pytest.raises(BadRequest, match=r"chain_id: Input should be a valid integer"):
        parse(
            CapitalRequest, {"chain_id": "42161", "asset": "USDC", "amount": "5", "destination": "0x" + "11" * 20}, "x"
        )


def test_a_deadline_needs_its_time_zone():
    with pytest.raises(BadRequest, match="deadline: Input should have timezone info"):
        parse(
            CapitalRequest,
            {
                "chain_id": 1,
                "asset": "USDC",
                "amount": "5",
                "destination": "0x" + "11" * 20,
                "deadline": "2030-01-01T00:00",
            },
            "x",
        )


@pytest.mark.parametrize(
    ("raw", "reason", "by"),
    [
        ("oracle incident", "oracle incident", ""),
        (None, "", ""),
        ({}, "", ""),
        ({"by": "oncall", "reason": "feeds"}, "feeds", "oncall"),
        (42, "42", ""),
        (["a", 1], '["a",1]', ""),
        ({"why": "typo"}, '{"why":"typo"}', ""),
        ({"reason": 5}, '{"reason":5}', ""),
    ],
)
def test_a_pause_takes_anything_and_records_what_was_given(raw, reason, by):
    assert pause_signal(raw) == Signal(reason=reason, by=by)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_a_pause_never_fails_for_its_payload(raw):
    assert len(pause_signal(raw).reason) <= 500


def test_a_resume_takes_null_a_reason_or_a_signal_and_refuses_the_rest():
    assert resume_signal(None) == Signal()
    assert resume_signal("all clear") == Signal(reason="all clear")
    assert resume_signal({"by": "oncall"}) == Signal(by="oncall")
    for bad in (5, ["x"], {"reasons": "typo"}, "x" * 501):
        with pytest.raises(BadRequest):
            resume_signal(bad)


def test_a_queue_policy_that_would_stop_the_queue_or_refuse_every_call_is_refused():
    fine = {"allowed": ["0x" + "ab" * 20 + ":0x095ea7b3"]}
    QueuePolicy.model_validate(fine)
    for bad, field in [
        ({"allowed": []}, "allowed"),
        ({**fine, "max_in_flight": 0}, "max_in_flight"),
        ({**fine, "confirmations": -1}, "confirmations"),
        ({**fine, "stuck_after_s": -1, "max_attempts": 0}, "stuck_after_s"),
        ({**fine, "unexpected": True}, "unexpected"),
        ({**fine, "send_batch": "30"}, "send_batch"),
    ]:
        with pytest.raises(BadRequest, match=rf"^not a valid policy: .*{field}"):
            parse(QueuePolicy, bad, "policy")
