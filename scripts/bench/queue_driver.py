"""Sends intents to a signer's transaction queue the way a service would, and waits for their
outcomes: the bench's queue driver, and the queue tests'."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from client import submit, submit_many
from floor.catalogue import queue_input
from floor.config import Settings
from floor.txqueue import QueueInput, TxIntent, TxOutcome, queue_id
from workflows.txqueue import TxQueueWorkflow


class QueueDriver:
    """Sends intents to a signer's queue on one chain the way a service would."""

    def __init__(self, client: Client, task_queue: str, settings: Settings, signer: str, chain_id: int = 1, **q):
        self.client, self.task_queue = client, task_queue
        self.queue: QueueInput = queue_input(settings, chain_id, signer, **q)
        self.handle = client.get_workflow_handle(queue_id(chain_id, signer))

    async def send(self, intent: TxIntent):
        return await submit(self.client, self.task_queue, self.queue, intent)

    async def outcome(self, intent_id: str, timeout_s: float = 60) -> TxOutcome:
        for _ in range(int(timeout_s / 0.1)):
            outcome = await self.handle.query(TxQueueWorkflow.outcome, intent_id)
            if outcome is not None:
                return outcome
            await asyncio.sleep(0.1)
        status = await self.handle.query(TxQueueWorkflow.status)
        raise AssertionError(f"{intent_id} not settled within {timeout_s}s; queue: {status}")

    async def outcomes(self, intent_ids: list[str], timeout_s: float = 60) -> dict[str, TxOutcome]:
        settled: dict[str, TxOutcome] = {}
        for _ in range(int(timeout_s / 0.1)):
            waiting = [i for i in intent_ids if i not in settled]
            if not waiting:
                return {i: settled[i] for i in intent_ids}
            settled |= {o.intent_id: o for o in await self.handle.query(TxQueueWorkflow.outcomes, waiting)}
            await asyncio.sleep(0.1)
        status = await self.handle.query(TxQueueWorkflow.status)
        raise AssertionError(f"{len(waiting)} intents not settled within {timeout_s}s; queue: {status}")

    async def send_many(self, intents: list[TxIntent], per_update: int = 50) -> None:
        """A burst: `per_update` intents per update, the updates one after another."""
        for i in range(0, len(intents), per_update):
            acks = await submit_many(self.client, self.task_queue, self.queue, intents[i : i + per_update])
            assert all(a.accepted for a in acks)
