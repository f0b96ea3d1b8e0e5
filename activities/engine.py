"""The engine's door activities: what the engine's workflows run to reach Temporal itself (hold
the signer's queues, pause the schedules, ask the engine from a schedule's check). What callers
outside a worker use to reach the engine is the `client` package."""

from __future__ import annotations

import asyncio
import time

from eth_account import Account
from eth_account.signers.local import LocalAccount
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.deps import Deps
from client import CHECKS, RISK_CHECK, Refused, schedule_id, send
from client.signing import SigningError, load_key, signed
from floor.access.roles import Kind
from floor.chain.signer import SignerError, signer_from_config
from floor.config import SignerConfig
from floor.engine import Operation
from floor.operations import OperationStarted
from floor.risk.breakers import RiskCheckResult
from floor.txqueue import QueueHold, queue_id


class EngineDoor:
    """Activities through which the engine's workflows reach Temporal itself."""

    def __init__(self, client: Client, task_queue: str, deps: Deps):
        self.client, self.task_queue, self.settings, self.deps = client, task_queue, deps.settings, deps
        self.signer = deps.signer.address if deps.signer else None
        self.scheduler: LocalAccount | None = None  # access.scheduler_key, once read

    @activity.defn
    async def hold_queues(self, raw: dict) -> list[str]:
        """Hold or release the signer's queue on every chain; a queue not running yet starts
        held, so nothing slips out while the engine is paused."""
        from workflows.txqueue import TxQueueWorkflow

        hold = QueueHold.model_validate(raw)
        if self.signer is None:
            return []
        chains = [chain.id for chain in self.settings.chains if chain.executor is not None]

        async def hold_one(chain_id: int) -> str:
            qid = queue_id(chain_id, self.signer)
            start = WithStartWorkflowOperation(
                TxQueueWorkflow.run,
                self.deps.queue_input(chain_id),
                id=qid,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                task_queue=self.task_queue,
            )
            await self.client.execute_update_with_start_workflow(
                TxQueueWorkflow.hold, hold.model_dump(), start_workflow_operation=start
            )
            return qid

        # Every chain's queue at once: a pause holds them all in one queue's update time.
        return list(await asyncio.gather(*(hold_one(c) for c in chains)))

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
        """A schedule's check: ask the engine for the operation, as a command signed by the
        worker's scheduler service (`access.scheduler_key`; never the engine's signer key). A
        refusal (a cooldown, an operation running, the engine paused, no scheduler key) is an
        answer, not a failure. The risk check's answer is what it changed."""
        kind = Kind.CHECK_RISK if raw["kind"] == RISK_CHECK else Kind(Operation(raw["kind"]).value)
        key = self.settings.access.scheduler_key
        if key is None:
            return "refused: no scheduler key (set access.scheduler_key in the worker's config)"
        if raw["engine_id"] != self.settings.engine_id:
            return f"refused: {raw['engine_id']} is not this worker's engine ({self.settings.engine_id})"
        try:
            reason = "risk check" if kind == Kind.CHECK_RISK else f"{kind.value} check"
            command = signed(self.settings, kind, {"reason": reason}, self._scheduler(key), now=int(time.time()))
            answer = await send(self.client, raw["engine_id"], kind, command.model_dump(mode="json"))
        except (Refused, SigningError, SignerError) as exc:
            return f"refused: {exc}"
        except RPCError as exc:
            raise ApplicationError(f"engine unreachable: {exc}") from None
        if isinstance(answer, RiskCheckResult):
            changes = [f"{e.scope} {e.from_state.value}->{e.to_state.value}: {e.reason}" for e in answer.events]
            return "; ".join(changes) or f"nothing tripped ({len(answer.breakers)} breakers not closed)"
        if isinstance(answer, OperationStarted):
            return f"started {answer.workflow_id}"
        return str(answer)

    def _scheduler(self, key: SignerConfig) -> LocalAccount:
        """The scheduler service's key, read once (a keystore's decryption is slow on purpose)."""
        if self.scheduler is None:
            if key.keystore_path is not None and key.keystore_password is not None:
                self.scheduler = load_key(key.keystore_path, key.keystore_password)
            else:
                signer_from_config(key)  # checks the key's form, registers it as a secret
                self.scheduler = Account.from_key(key.private_key.get_secret_value().strip())  # type: ignore[union-attr]
        return self.scheduler

    def all(self) -> list:
        return [self.hold_queues, self.pause_schedules, self.engine_request]
