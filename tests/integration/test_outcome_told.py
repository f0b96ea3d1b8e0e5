"""The broadcast tells an operation its outcome itself when its first look finds the
transaction confirmed (`Notice`, `TxActivities._tell`): the operation goes on a workflow task
sooner, and the queue's task does not signal the same outcome again. When the broadcast could
not tell it (Temporal did not take the signal), the queue signals it, as before."""

from __future__ import annotations

import uuid
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporalio.api.enums.v1 import EventType

    import workers.temporal
    from activities.deps import Deps
    from floor.txqueue import TxOutcome, queue_id
    from scripts.bench.queue_driver import QueueDriver
    from tests.integration.helpers import mint
    from tests.integration.queue_helpers import transfer_intent
    from workers.temporal import build_worker


@workflow.defn
class Asker:
    """Waits for the outcomes of `count` intents, as an operation does (`tx_outcome`)."""

    def __init__(self) -> None:
        self.outcomes: list[TxOutcome] = []

    @workflow.signal
    def tx_outcome(self, raw: Any) -> None:
        self.outcomes.append(TxOutcome.model_validate(raw))

    @workflow.run
    async def run(self, count: int) -> list[TxOutcome]:
        await workflow.wait_condition(lambda: len(self.outcomes) >= count)
        return self.outcomes


async def _ask(temporal_env, settings, web3s, signer, task_queue) -> tuple[list[TxOutcome], list]:
    """Two transfers whose outcomes go to an Asker; (what it was told, the queue's history)."""
    chain = settings.chain(1)
    mint(web3s[1], chain.token("USDC").address, chain.executor, 10**9)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s), extra_workflows=[Asker]):
        asker = await client.start_workflow(Asker.run, 2, id=f"asker-{uuid.uuid4().hex[:8]}", task_queue=task_queue)
        driver = QueueDriver(client, task_queue, settings, signer.address)
        for n in range(2):
            intent = transfer_intent(settings, f"{asker.id}/told-{n}", 1_000 + n, reply_to=asker.id)
            assert (await driver.send(intent)).accepted
        told = await asker.result()
        settled = [await driver.outcome(f"{asker.id}/told-{n}") for n in range(2)]
    assert sorted(told, key=lambda o: o.intent_id) == settled  # what the queue settled, exactly
    assert all(o.ok and o.transaction is not None for o in told)
    queue = client.get_workflow_handle(queue_id(1, signer.address))
    return told, [e async for e in queue.fetch_history_events()]


def _signalled(events) -> int:
    return sum(e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED for e in events)


async def test_the_broadcast_tells_the_asker_and_the_queue_does_not_again(
    temporal_env, settings, web3s, signer, task_queue
):
    _, events = await _ask(temporal_env, settings, web3s, signer, task_queue)
    assert _signalled(events) == 0  # before: one signal per outcome, from the queue's task


async def test_an_outcome_the_broadcast_could_not_tell_is_signalled_by_the_queue(
    temporal_env, settings, web3s, signer, task_queue, monkeypatch
):
    def refused(client, loop):
        return lambda told: [False] * len(told)

    monkeypatch.setattr(workers.temporal, "teller", refused)
    _, events = await _ask(temporal_env, settings, web3s, signer, task_queue)
    assert _signalled(events) == 2


async def test_an_asker_that_is_gone_fails_nothing(temporal_env, settings, web3s, signer, task_queue):
    """An intent whose asker does not exist: the broadcast's signal is refused, the queue's
    too (logged), and the intent still settles."""
    chain = settings.chain(1)
    mint(web3s[1], chain.token("USDC").address, chain.executor, 10**9)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(client, task_queue, settings, signer.address)
        intent = transfer_intent(settings, f"nobody-{uuid.uuid4().hex[:8]}/0", 1_000, reply_to="nobody-listens")
        assert (await driver.send(intent)).accepted
        assert (await driver.outcome(intent.id)).ok
