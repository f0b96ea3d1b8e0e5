"""Every door of every workflow on a real Temporal server: each update of every registered
workflow refuses garbage made by hypothesis from its JSON schema (wrong types, unknown fields,
numbers out of bounds, strings for objects, null, no input at all) in one line, as a
non-retryable BadInput or Refused that never enters history; every signal takes garbage
without failing a workflow task (a pause pauses, whatever its payload); every start with bad
input fails its workflow at once. Needs only the Temporal dev server (no chains): the
activities the doors reach are stand-ins."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import Worker

from floor.access.commands import CommandDomain, sign_command
from floor.devnet.stack import GUARDIAN_ACCOUNT, anvil_account_key
from floor.doors import ADMIN, CATALOGUE, DOORS, EXECUTOR, OPERATIONS, POLICY, Door
from floor.operations import EngineAccess, pause_signal
from floor.txqueue import NonceState
from tests.door_garbage import garbage
from tests.integration.engine_helpers import temporal_cli, wait_for

EXAMPLES_PER_DOOR = 8  # hypothesis examples sent through the server per door (more in tests/unit)
STARTS_PER_WORKFLOW = 3


class StandIns:
    """The activities the doors reach, answering at once."""

    def __init__(self) -> None:
        self.holds: list[dict] = []

    @activity.defn(name="hold_queues")
    async def hold_queues(self, raw: dict) -> list[str]:
        self.holds.append(raw)
        return []

    @activity.defn(name="pause_schedules")
    async def pause_schedules(self, raw: dict) -> list[str]:
        return []

    @activity.defn(name="record_engine_events")
    async def record_engine_events(self, raw: dict) -> int:
        return len(raw["events"])

    @activity.defn(name="record_breaker_events")
    async def record_breaker_events(self, raw: dict) -> int:
        return len(raw["events"])

    @activity.defn(name="tx_nonce_state")
    async def tx_nonce_state(self, chain_id: int) -> NonceState:
        return NonceState(latest=0, pending=0)

    @activity.defn(name="engine_request")
    async def engine_request(self, raw: dict) -> str:
        return "refused: a stand-in"

    @activity.defn(name="engine_access")
    async def engine_access(self, _: object = None) -> EngineAccess:
        """Any engine id is served here: the doors are the point, not who may pass them."""
        return EngineAccess(
            domain={"chain_id": 1, "executor": EXECUTOR, "engine": activity.info().workflow_id},
            admins=[ADMIN],
            catalogue=CATALOGUE,
            policy=POLICY,
        )

    @activity.defn(name="append_audit")
    async def append_audit(self, raw: dict) -> int:
        return len(raw["entries"])

    @activity.defn(name="read_holdings")
    async def read_holdings(self, raw: dict) -> dict:
        # An operation held at its first read, between two attempts: waiting on the retry's
        # timer, it takes signals and answers queries at once (inside a running local activity
        # it would only at its workflow task's heartbeat, every 8 s).
        raise ApplicationError("held for the test", next_retry_delay=timedelta(minutes=10))

    def all(self) -> list:
        return [
            self.hold_queues,
            self.pause_schedules,
            self.record_engine_events,
            self.record_breaker_events,
            self.tx_nonce_state,
            self.engine_request,
            self.engine_access,
            self.append_audit,
            self.read_holdings,
        ]


@workflow.defn(sandboxed=False)
class OperationParent:
    """Starts an operation as the engine does (its child, at `<parent id>/<kind>-1`) and pauses
    it: an operation started on its own fails at once."""

    @workflow.run
    async def run(self, example: dict) -> None:
        child = await workflow.start_child_workflow(
            "RebalanceWorkflow", example, id=f"{workflow.info().workflow_id}/rebalance-1"
        )
        await child.signal("pause_engine", {"by": "test", "reason": "held at its first step"})
        await workflow.wait_condition(lambda: False)


def examples(door: Door, n: int = EXAMPLES_PER_DOOR) -> list[Any]:
    """`n` garbage inputs for `door`, the same on every run."""
    found: list[Any] = []

    @settings(
        max_examples=n,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(garbage(door))
    def collect(raw):
        found.append(raw)

    collect()
    return found


def one_line(message: str, what: str) -> None:
    assert message, what
    assert "\n" not in message, f"{what}: more than one line: {message!r}"
    assert "pydantic.dev" not in message and "validation error" not in message, f"{what}: pydantic's text: {message}"
    assert "positional argument" not in message and "Traceback" not in message, f"{what}: Python internals: {message}"


async def refused(handle: WorkflowHandle, door: Door, *args: Any) -> str:
    """The update is refused: one line, non-retryable, BadInput or Refused; its reason."""
    what = f"{door.workflow}.{door.name}({args[0] if args else 'no input'!r})"
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(door.name, *args)
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError), f"{what}: {cause!r}"
    one_line(cause.message, what)
    assert cause.type in ("BadInput", "Refused") and cause.non_retryable, f"{what}: {cause.type} {cause.message}"
    return cause.message


async def task_failures(client: Client, workflow_id: str) -> list[str]:
    failed = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failed.append(event.workflow_task_failed_event_attributes.failure.message)
    return failed


async def test_every_door_refuses_garbage_in_one_line_and_a_pause_takes_anything(temporal_env):
    client = temporal_env.client
    task_queue = f"doors-{uuid.uuid4().hex[:8]}"
    stand_ins = StandIns()
    by_kind = {(d.workflow, d.kind, d.name): d for d in DOORS}
    from workers.temporal import WORKFLOWS

    async with Worker(
        client, task_queue=task_queue, workflows=[*WORKFLOWS, OperationParent], activities=stand_ins.all()
    ):
        run = uuid.uuid4().hex[:8]
        engine = await client.start_workflow(
            "EngineWorkflow",
            by_kind[("EngineWorkflow", "start", "")].example,
            id=f"doors-engine-{run}",
            task_queue=task_queue,
        )
        queue = await client.start_workflow(
            "TxQueueWorkflow",
            by_kind[("TxQueueWorkflow", "start", "")].example,
            id=f"doors-queue-{run}",
            task_queue=task_queue,
        )
        # An operation, started as the engine starts one, paused and held at its first read.
        parent = await client.start_workflow(
            OperationParent.run,
            by_kind[("RebalanceWorkflow", "start", "")].example,
            id=f"doors-parent-{run}",
            task_queue=task_queue,
        )
        operation = client.get_workflow_handle(f"{parent.id}/rebalance-1")

        async def held():
            with contextlib.suppress(RPCError):
                return (await operation.query("status")).endswith("(paused)")
            return False

        await wait_for(held, 20, "the operation paused at its first step")
        await wait_for(lambda: _has_book(engine), 20, "the engine's role book")
        handles = {"EngineWorkflow": engine, "TxQueueWorkflow": queue, "RebalanceWorkflow": operation}

        # -- what a service's developer sends first, through Temporal's own CLI ------------------
        capital = by_kind[("EngineWorkflow", "update", "request_capital")].example
        unsigned = {"chain_id": 1, "asset": "USDC", "amount": "1000", "destination": EXECUTOR}
        for raw, reason in [
            (unsigned, "not a signed command: kind: Field required"),
            ({**capital, "signature": "0x12"}, "not a signed command: signature: String should match pattern"),
            ("1000", "not a signed command: expected a JSON object"),
        ]:
            code, _, err = await temporal_cli(
                client, "workflow", "update", "execute", "--workflow-id", engine.id, "--name", "request_capital",
                "--input", json.dumps(raw),
            )  # fmt: skip
            assert code != 0 and reason in err, err
            assert "(type: BadInput, retryable: false)" in err and "\n" not in err.strip(), err
        code, _, err = await temporal_cli(
            client, "workflow", "update", "execute", "--workflow-id", engine.id, "--name", "harvest", "--input", "null",
        )  # fmt: skip
        assert code != 0 and "not a signed command: expected a JSON object with kind" in err and "got null" in err, err
        # Well formed, but not this engine's, nor signed by a member: refused, never applied.
        for raw, reason in [
            (capital, "signed for engine 'engine-floor'"),
            ({**capital, "domain": {**capital["domain"], "engine": engine.id}}, "s ahead; at most 3600 s"),
        ]:
            code, _, err = await temporal_cli(
                client, "workflow", "update", "execute", "--workflow-id", engine.id, "--name", "request_capital",
                "--input", json.dumps(raw),
            )  # fmt: skip
            assert code != 0 and reason in err and "(type: Refused, retryable: false)" in err, err

        # -- the queue's policy: what the issue found accepted, refused by name -------------------
        configure = by_kind[("TxQueueWorkflow", "update", "configure")]
        for raw, reason in [
            ({"unexpected": True}, "unexpected: Extra inputs are not permitted"),
            ({"max_in_flight": 0}, "max_in_flight: Input should be greater than or equal to 1"),
            ({"confirmations": -1}, "confirmations: Input should be greater than or equal to 1"),
            ({"stuck_after_s": -1, "max_attempts": 0}, "stuck_after_s: Input should be greater than 0"),
            ({**configure.example, "allowed": []}, "allowed: List should have at least 1 item"),
            ({k: v for k, v in configure.example.items() if k != "send_batch"}, "missing send_batch"),
        ]:
            assert reason in await refused(queue, configure, raw)
        for hold in ("not an object", [True], {"held": "yes"}):
            assert (await refused(queue, by_kind[("TxQueueWorkflow", "update", "hold")], hold)).startswith(
                "not a valid hold: "
            )

        # -- every update: garbage, and no input at all --------------------------------------
        updates = [d for d in DOORS if d.kind == "update" and d.workflow in handles]
        assert {d.name for d in updates if d.workflow == "EngineWorkflow"} >= {"request_capital", "configure", "pause"}
        sent = 0
        for door in updates:
            if door.takes.startswith("anything"):  # the pause: never refused (below)
                continue
            handle = handles[door.workflow]
            cases = examples(door)
            reasons = await asyncio.gather(*(refused(handle, door, raw) for raw in cases))
            sent += len(reasons)
            if not door.null:
                await refused(handle, door)  # no input at all: null, named as such
                sent += 1
        assert sent >= EXAMPLES_PER_DOOR * 17, sent  # 12 engine updates but the pause, 5 of the queue

        # -- queries: garbage is ignored, or refused in one line ---------------------------
        for door in [d for d in DOORS if d.kind == "query" and d.workflow in handles]:
            for raw in examples(door, 3):
                try:
                    await handles[door.workflow].query(door.name, raw)
                except Exception as exc:  # what a query answers (or refuses) is the point
                    one_line(getattr(exc, "message", str(exc)), f"query {door.name}({raw!r})")

        # -- signals the engine cannot take are logged: nothing changes --------------------------
        for name in ("resume_engine", "internal_operation_step"):
            for raw in examples(by_kind[("EngineWorkflow", "signal", name)], 4):
                await engine.signal(name, raw)
        await engine.signal("resume_engine")  # not paused: logged

        # -- a bare string, typed into Temporal's CLI as a person types it, pauses -----------------
        code, _, err = await temporal_cli(
            client, "workflow", "signal", "--workflow-id", engine.id, "--name", "pause_engine",
            "--input", '"oracle incident"',
        )  # fmt: skip
        assert code == 0, err

        async def paused():
            status = await engine.query("status")
            return status if status.get("state") == "PAUSED" else None

        status = await wait_for(paused, 20, "the engine paused by a bare string")
        assert status["pause_reason"] == "oracle incident", status
        assert stand_ins.holds[-1] == {"held": True, "reason": "paused by unnamed (signal): oracle incident"}

        # -- a pause is never refused: garbage pauses (here: already paused, it says since when) ------
        pause = by_kind[("EngineWorkflow", "update", "pause")]
        for raw in [*examples(pause, 4), None]:
            answer = await engine.execute_update("pause", raw)
            assert answer.startswith("already paused since ") and answer.endswith("oracle incident"), answer
        for raw in examples(by_kind[("EngineWorkflow", "signal", "pause_engine")], 4):
            await engine.signal("pause_engine", raw)
        assert (await engine.query("status"))["pause_reason"] == "oracle incident"
        resume = by_kind[("EngineWorkflow", "update", "resume")]
        await asyncio.gather(*(refused(engine, resume, raw) for raw in examples(resume, 4)))

        # -- the operation's signals: a pause takes anything, the rest is logged ------------------
        for door in [d for d in DOORS if d.kind == "signal" and d.workflow == "RebalanceWorkflow"]:
            for raw in examples(door, 4):
                await operation.signal(door.name, raw)
        await operation.signal("tx_outcome")  # no input at all
        assert (await operation.query("status")).endswith("(paused)")

        # -- a fresh engine paused by garbage records it as its reason ----------------------------
        other = await client.start_workflow(
            "EngineWorkflow", by_kind[("EngineWorkflow", "start", "")].example, id=f"doors-engine2-{run}",
            task_queue=task_queue,
        )  # fmt: skip
        odd = ["not", {"an": "object"}, 42]
        assert (await other.execute_update("pause", odd)) == f"paused by unnamed (cli): {pause_signal(odd).reason}"
        assert (await other.query("status"))["pause_reason"] == '["not",{"an":"object"},42]'

        # -- every start with bad input fails its workflow at once ---------------------------------
        started = []
        for door in [d for d in DOORS if d.kind == "start"]:
            for raw in [*examples(door, STARTS_PER_WORKFLOW), "not an object", {"unexpected": True}, "no input"]:
                workflow_id = f"doors-start-{uuid.uuid4().hex[:10]}"
                args = [] if raw == "no input" else [raw]
                await client.start_workflow(door.workflow, *args, id=workflow_id, task_queue=task_queue)
                started.append((door.workflow, raw, workflow_id))

        async def failed_at_once(workflow: str, raw: Any, workflow_id: str) -> str:
            with pytest.raises(WorkflowFailureError) as caught:
                await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 20)
            cause = caught.value.cause
            what = f"start {workflow}({raw!r})"
            # An operation started on its own fails for that first, whatever its input.
            expected = "NotStartedByEngine" if workflow in OPERATIONS else "BadInput"
            assert isinstance(cause, ApplicationError) and cause.type == expected and cause.non_retryable, what
            one_line(cause.message, what)
            return workflow_id

        finished = await asyncio.gather(*(failed_at_once(*s) for s in started))

        # -- nothing is left retrying a workflow task; no refused update entered a history --------
        for workflow_id in [engine.id, queue.id, operation.id, other.id, *finished]:
            assert await task_failures(client, workflow_id) == [], workflow_id
        for handle in (engine, queue, operation, other):
            assert (await handle.describe()).status.name == "RUNNING", handle.id
        events = [e async for e in engine.fetch_history_events()]
        accepted = [e for e in events if e.HasField("workflow_execution_update_accepted_event_attributes")]
        assert len(accepted) == 5  # the pauses above, answered "already paused since"
        for handle in (engine, queue, operation, other, parent):
            with contextlib.suppress(RPCError):
                await handle.terminate("test over")


async def _has_book(engine: WorkflowHandle):
    return await engine.query("roles")


async def test_a_past_delivery_deadline_is_refused_at_the_door(temporal_env):
    """The door's clock is workflow.now(): a signed capital request whose `deliverBy` was a second
    ago is refused before history."""
    client = temporal_env.client
    task_queue = f"doors-{uuid.uuid4().hex[:8]}"
    from workers.temporal import WORKFLOWS

    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=StandIns().all()):
        start = next(d for d in DOORS if d.workflow == "EngineWorkflow" and d.kind == "start")
        engine = await client.start_workflow(
            "EngineWorkflow", start.example, id=f"doors-deadline-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        await wait_for(lambda: _has_book(engine), 20, "the engine's role book")
        door = next(d for d in DOORS if d.name == "request_capital")
        now = int(datetime.now(UTC).timestamp())
        fields = {**door.example["message"], "nonce": 1, "deadline": now + 600, "deliverBy": now - 1}
        domain = CommandDomain(chain_id=1, executor=EXECUTOR, engine=engine.id)
        command = sign_command("request_capital", fields, anvil_account_key(GUARDIAN_ACCOUNT), domain)
        assert "has passed" in await refused(engine, door, command.model_dump(mode="json"))
        await engine.terminate("test over")
