"""Helpers for the transaction queue's tests: intents, sending, waiting for outcomes, and
reading back what the signer really sent."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from activities.txqueue import queue_input, submit, submit_many
from floor.calls import call
from floor.config import Settings
from floor.models import Priority
from floor.txqueue import QueueInput, TxIntent, TxOutcome, queue_id
from workflows.txqueue import TxQueueWorkflow


def approve_intent(settings: Settings, intent_id: str, chain_id: int = 1, amount: int = 0, **fields) -> TxIntent:
    """A cheap, allowed executor call: approve(amount) of USDC to the first market's pool."""
    chain = settings.chain(chain_id)
    pool = next(m.pool for m in chain.markets if m.pool)
    approve = call(chain.token("USDC").address, "approve(address,uint256)", pool, amount)
    return TxIntent(id=intent_id, chain_id=chain_id, groups=[[approve]], **fields)


def transfer_intent(settings: Settings, intent_id: str, amount: int, chain_id: int = 1, **fields) -> TxIntent:
    """`amount` USDC from the executor to the treasury's own address."""
    chain = settings.chain(chain_id)
    transfer = call(chain.token("USDC").address, "transfer(address,uint256)", chain.destinations[0], amount)
    return TxIntent(id=intent_id, chain_id=chain_id, groups=[[transfer]], **fields)


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


def sent_by(w3, signer: str, from_block: int) -> list[dict]:
    """Every transaction the signer got mined since `from_block`, in nonce order."""
    txs = []
    for number in range(from_block, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == signer:
                txs.append(tx)
    return sorted(txs, key=lambda t: t["nonce"])


__all__ = ["Priority", "QueueDriver", "approve_intent", "sent_by", "transfer_intent"]
