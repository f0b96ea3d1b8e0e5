"""The engine's door activities: what the engine's workflows run to reach Temporal itself (hold
the signer's queues, pause the schedules, ask the engine from a schedule's check). What callers
outside a worker use to reach the engine is the `client` package."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from client import CHECKS, RISK_CHECK, Refused, ask, check_risk, schedule_id
from floor.catalogue import queue_input
from floor.config import Settings
from floor.engine import Operation
from floor.txqueue import QueueHold, queue_id


class EngineDoor:
    """Activities through which the engine's workflows reach Temporal itself."""

    def __init__(self, client: Client, task_queue: str, settings: Settings, signer: str | None):
        self.client, self.task_queue, self.settings, self.signer = client, task_queue, settings, signer

    @activity.defn
    async def hold_queues(self, raw: dict) -> list[str]:
        """Hold or release the signer's queue on every chain; a queue not running yet starts
        held, so nothing slips out while the engine is paused."""
        from workflows.txqueue import TxQueueWorkflow

        hold = QueueHold.model_validate(raw)
        if self.signer is None:
            return []
        done = []
        for chain in self.settings.chains:
            if chain.executor is None:
                continue
            qid = queue_id(chain.id, self.signer)
            start = WithStartWorkflowOperation(
                TxQueueWorkflow.run,
                queue_input(self.settings, chain.id, self.signer),
                id=qid,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                task_queue=self.task_queue,
            )
            await self.client.execute_update_with_start_workflow(
                TxQueueWorkflow.hold, hold.model_dump(), start_workflow_operation=start
            )
            done.append(qid)
        return done

    @activity.defn
    async def pause_schedules(self, raw: dict) -> list[str]:
        engine_id, paused, note = raw["engine_id"], bool(raw["paused"]), str(raw.get("note", ""))
        done = []
        for kind in CHECKS:
            handle = self.client.get_schedule_handle(schedule_id(engine_id, kind))
            try:
                if paused:
                    await handle.pause(note=note)
                else:
                    await handle.unpause(note=note)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:  # schedules not applied: nothing to pause
                    continue
                raise
            done.append(handle.id)
        return done

    @activity.defn
    async def engine_request(self, raw: dict) -> str:
        """A schedule's check: ask the engine for the operation. A refusal (a cooldown, an
        operation running, the engine paused) is an answer, not a failure. The risk check's
        answer is what it changed."""
        if raw["kind"] == RISK_CHECK:
            try:
                result = await check_risk(self.client, raw["engine_id"])
            except Refused as exc:
                return f"refused: {exc}"
            except RPCError as exc:
                raise ApplicationError(f"engine unreachable: {exc}") from None
            changes = [f"{e.scope} {e.from_state.value}->{e.to_state.value}: {e.reason}" for e in result.events]
            return "; ".join(changes) or f"nothing tripped ({len(result.breakers)} breakers not closed)"
        kind = Operation(raw["kind"])
        try:
            started = await ask(
                self.client, raw["engine_id"], kind, {"by": "schedule", "reason": f"{kind.value} check"}
            )
        except Refused as exc:
            return f"refused: {exc}"
        except RPCError as exc:
            raise ApplicationError(f"engine unreachable: {exc}") from None
        return f"started {started.workflow_id}"

    def all(self) -> list:
        return [self.hold_queues, self.pause_schedules, self.engine_request]
