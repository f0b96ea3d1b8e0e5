"""TxQueueWorkflow on a real Temporal dev server and anvil: concurrency, priorities, nonces."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from web3 import Web3

from activities.deps import Deps
from client.txqueue import ensure_queue
from floor.chain.rpc import FallbackHTTPProvider
from floor.config import Settings
from floor.devnet.stack import sent_by
from floor.models import Priority
from floor.txqueue import TxIntent, pair_key
from scripts.bench.queue_driver import QueueDriver
from tests.integration.helpers import balance, mint
from tests.integration.queue_helpers import approve_intent, transfer_intent
from workers.temporal import build_worker
from workflows.txqueue import TxQueueWorkflow


async def test_two_hundred_intents_from_four_producers(temporal_env, settings, web3s, signer, task_queue):
    """All mined, each exactly once, nonces contiguous, and higher priorities first. The chain
    stops mining while the producers submit, so everything beyond the first round in flight
    waits together and the order the queue chooses is visible in the nonces."""
    w3 = web3s[1]
    chain = settings.chain(1)
    usdc = chain.token("USDC").address
    mint(w3, usdc, chain.executor, 10**9)
    start_block, start_nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    priorities = list(Priority)
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        # A short history: the queue continues-as-new several times, carrying what waits and flies.
        driver = QueueDriver(
            temporal_env.client, task_queue, settings, signer.address, max_in_flight=16, max_history_events=300
        )
        w3.provider.make_request("evm_setAutomine", [False])

        async def producer(p: int) -> list[str]:
            ids = []
            for n in range(50):
                amount = 1000 * p + n + 1
                intent = transfer_intent(settings, f"producer-{p}/{n}", amount, priority=priorities[(p + n) % 4])
                assert (await driver.send(intent)).accepted
                ids.append(intent.id)
            return ids

        try:
            ids = [i for ids in await asyncio.gather(*(producer(p) for p in range(4))) for i in ids]
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
        w3.provider.make_request("evm_mine", [])
        outcomes = await driver.outcomes(ids, timeout_s=120)
        runs = 0
        async for _ in temporal_env.client.list_workflows(f"WorkflowId = '{driver.handle.id}'"):
            runs += 1

    assert all(o.ok for o in outcomes.values()), [o for o in outcomes.values() if not o.ok][:3]
    assert runs >= 2  # continued as new along the way, carrying what waited and flew
    hashes = {o.transaction.tx_hash for o in outcomes.values()}
    assert len(hashes) == 200  # one transaction each
    mined = sent_by(w3, signer.address, start_block)
    assert [t["nonce"] for t in mined] == list(range(start_nonce, start_nonce + 200))  # contiguous, none twice
    assert {"0x" + t["hash"].hex() for t in mined} == hashes
    # Every transfer happened once: the treasury received exactly the sum of the amounts.
    assert balance(w3, usdc, chain.destinations[0]) == sum(1000 * p + n + 1 for p in range(4) for n in range(50))
    # After the first round (sent before the others arrived), all waited together: CRITICAL
    # first, then HIGH, NORMAL, LOW; first come, first served within one.
    by_nonce = sorted(outcomes.values(), key=lambda o: o.transaction.nonce)
    order = [int(Priority[_priority(o.intent_id, priorities).name]) for o in by_nonce[16:]]
    assert order == sorted(order)


def _priority(intent_id: str, priorities: list[Priority]) -> Priority:
    p, n = (int(x) for x in intent_id.removeprefix("producer-").split("/"))
    return priorities[(p + n) % 4]


async def test_a_known_intent_id_is_answered_not_sent_again(temporal_env, settings, web3s, signer, task_queue):
    w3 = web3s[1]
    nonce = w3.eth.get_transaction_count(signer.address)
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        intent = approve_intent(settings, "operation-7/step-1")
        assert (await driver.send(intent)).accepted
        again = await driver.send(intent)  # while in flight, or after: never a second send
        first = await driver.outcome(intent.id)
        later = await driver.send(intent)
    assert not again.accepted and not later.accepted and later.outcome == first and first.ok
    assert w3.eth.get_transaction_count(signer.address) == nonce + 1


async def test_ensure_queue_starts_the_queue_once_and_leaves_a_running_one_as_it_is(
    temporal_env, settings, web3s, signer, task_queue
):
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(client, task_queue, settings, signer.address)
        started = await ensure_queue(client, task_queue, driver.queue)
        run = (await driver.handle.describe()).run_id
        intent = approve_intent(settings, "operation-8/step-1")
        assert (await driver.send(intent)).accepted  # the intent reaches the run already started
        assert (await driver.outcome(intent.id)).ok
        assert await ensure_queue(client, task_queue, driver.queue) == started == driver.handle.id
        assert (await driver.handle.describe()).run_id == run  # the running queue was left as it is


async def test_fees_above_the_cap_hold_an_intent_until_its_deadline_but_not_a_critical_one(
    temporal_env, stack, web3s, signer, task_queue
):
    """The chain's fee cap is below any real fee: a NORMAL intent waits (and says why) until
    its deadline fails it; a CRITICAL one is sent anyway."""
    config = stack.chains[1].deployed.chain_config(stack.chains[1].rpc_url)
    capped = Settings(chains=[config | {"tx": {"max_fee_cap_wei": 1}}])
    w3 = web3s[1]
    nonce = w3.eth.get_transaction_count(signer.address)
    async with build_worker(temporal_env.client, task_queue, Deps(capped, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, capped, signer.address)
        deadline = datetime.now(UTC) + timedelta(seconds=4)
        await driver.send(approve_intent(capped, "normal", deadline=deadline))
        for _ in range(50):
            status = await driver.handle.query(TxQueueWorkflow.status)
            if status.pending and status.pending[0].held:
                break
            await asyncio.sleep(0.1)
        assert (
            status.pending[0].intent_id == "normal"
            and status.pending[0].held.startswith("held: max fee")
            and status.pending[0].held.endswith("above the chain's cap")
        )
        await driver.send(approve_intent(capped, "critical", priority=Priority.CRITICAL))
        critical = await driver.outcome("critical")
        normal = await driver.outcome("normal", timeout_s=30)
    assert critical.ok and critical.transaction.nonce == nonce
    assert not normal.ok and normal.error == "DeadlinePassed"
    assert w3.eth.get_transaction_count(signer.address) == nonce + 1


async def test_bad_intents_are_refused_at_the_door_and_leave_no_trace(
    temporal_env, settings, web3s, signer, task_queue
):
    """A service's intent naming a call the executor does not allow, and raw JSON missing a
    field (as from Temporal's CLI or Web UI), are refused by name; history holds neither."""
    from floor.calls import call

    chain = settings.chain(1)
    w3 = web3s[1]
    nonce = w3.eth.get_transaction_count(signer.address)
    steal = call(
        chain.token("USDC").address, "transferFrom(address,address,uint256)", chain.executor, signer.address, 1
    )
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        assert (await driver.send(approve_intent(settings, "fine"))).accepted
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await driver.send(TxIntent(id="steal", chain_id=1, groups=[[steal]]))
        assert "call 0 (0x23b872dd on" in str(refused.value.cause) and "is not allowed by the executor" in str(
            refused.value.cause
        )
        with pytest.raises(WorkflowUpdateFailedError) as garbled:
            await driver.handle.execute_update("submit", {"id": "raw", "chain_id": 1})  # no groups
        assert str(garbled.value.cause) == "BadInput: not a valid intent: groups: Field required"
        await driver.outcome("fine")
        history = (await driver.handle.fetch_history()).to_json()
    assert '"steal"' not in history and '"raw"' not in history
    assert w3.eth.get_transaction_count(signer.address) == nonce + 1


async def test_a_running_queue_takes_the_configuration_a_worker_starts_with(
    temporal_env, settings, web3s, signer, task_queue
):
    """A queue started before a market was configured refuses its calls; the next worker's
    configuration reaches it without a restart (its state kept); an unchanged one leaves no
    trace in its history (one accepted update for the configuration, one for the intent)."""
    from client import configure_running_queues

    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        # Allowed: one call, not the approve (a queue never starts with none: that is refused).
        only = [pair_key(settings.chain(1).executor, "0x00000000")]
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, allowed=only)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await driver.send(approve_intent(settings, "before"))
        assert "is not allowed by the executor" in str(refused.value.cause)
        reached = await configure_running_queues(temporal_env.client, settings, signer.address)
        assert reached == [driver.handle.id]
        assert (await driver.send(approve_intent(settings, "after"))).accepted
        assert (await driver.outcome("after")).ok
        assert await configure_running_queues(temporal_env.client, settings, signer.address) == []  # unchanged
        history = await driver.handle.fetch_history()
        assert sum(e.HasField("workflow_execution_update_accepted_event_attributes") for e in history.events) == 2


class SlowFirstBatchProvider(FallbackHTTPProvider):
    """The engine's provider, where the first JSON-RPC batch (the first simulation) is answered
    only `delay_s` later: a slow node."""

    def __init__(self, *args, delay_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.delay_s = delay_s
        self.slowed = False

    def make_batch_request(self, batch_requests):
        if not self.slowed:
            self.slowed = True
            time.sleep(self.delay_s)
        return super().make_batch_request(batch_requests)


async def prepare_steps(handle) -> list[str]:
    """The queue's history, reduced to how its batches were prepared and broadcast, in order:
    "local tx_prepare" (a local activity's marker), "tx_prepare", "tx_broadcast" (scheduled)."""
    steps = []
    async for event in handle.fetch_history_events():
        if event.HasField("marker_recorded_event_attributes"):
            data = event.marker_recorded_event_attributes.details["data"].payloads
            if any(b'"tx_prepare"' in p.data for p in data):
                steps.append("local tx_prepare")
        elif event.HasField("activity_task_scheduled_event_attributes"):
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            if name in ("tx_prepare", "tx_broadcast"):
                steps.append(name)
    return steps


async def test_a_batch_is_simulated_and_signed_inside_the_queues_workflow_task(
    temporal_env, settings, web3s, signer, task_queue
):
    """A local activity (patch local-prepare): the signed bytes are its result, a marker in the
    queue's history recorded before the broadcast is scheduled; no activity of its own."""
    w3 = web3s[1]
    chain = settings.chain(1)
    mint(w3, chain.token("USDC").address, chain.executor, 10**9)
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        intent = transfer_intent(settings, "local-prepare/one", 4_321)
        assert (await driver.send(intent)).accepted
        assert (await driver.outcome(intent.id)).ok
        assert await prepare_steps(driver.handle) == ["local tx_prepare", "tx_broadcast"]


async def test_a_prepare_that_outlasts_its_local_bound_is_taken_over_by_the_activity(
    stack, temporal_env, settings, web3s, signer, task_queue
):
    """The node answers the first simulation 3 s late, past PREPARE_LOCALLY_FOR: the activity
    prepares and signs the batch again, at the same nonce; what the local one signed never
    leaves the worker. One transaction on the chain, the treasury paid once."""
    w3 = web3s[1]
    chain = settings.chain(1)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    mint(w3, usdc, chain.executor, 10**9)
    before = balance(w3, usdc, treasury)
    start_block, nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    provider = SlowFirstBatchProvider([stack.chains[1].rpc_url], chain_id=1, delay_s=3)
    provider.check_chain_ids()
    engine_w3 = Web3(provider)
    engine_w3.middleware_onion.remove("validation")
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, {**web3s, 1: engine_w3})):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        intent = transfer_intent(settings, "local-prepare/slow", 1_234)
        assert (await driver.send(intent)).accepted
        outcome = await driver.outcome(intent.id)
        assert await prepare_steps(driver.handle) == ["local tx_prepare", "tx_prepare", "tx_broadcast"]
        await asyncio.sleep(1.5)  # the local one's thread has ended too: it sent nothing

    assert outcome.ok and outcome.transaction.nonce == nonce
    assert [t["nonce"] for t in sent_by(w3, signer.address, start_block)] == [nonce]
    assert balance(w3, usdc, treasury) == before + 1_234
