"""The transaction queue seen from the operations that use it: what a batch does when part of
it would revert, re-runs that must not send twice, identical operations that must both
happen, and RPC faults after the node accepted a transaction."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle

from activities.deps import Deps
from floor.calls import call
from floor.config import Settings
from floor.devnet.faultproxy import RpcProxy
from floor.devnet.stack import sent_by
from floor.messages import AllocateInput, AllocateResult
from floor.txqueue import TxIntent
from scripts.bench.queue_driver import QueueDriver
from tests.integration.engine_helpers import EngineStandIn, GatedActivities, own_engine, start_operation, wait_for
from tests.integration.helpers import balance, innermost, mint
from tests.integration.queue_helpers import approve_intent, transfer_intent
from tests.integration.test_allocate_workflow import demo_input, fund_treasury, start_allocation
from workers.temporal import build_worker
from workflows.allocate import AllocateWorkflow


def groups_intent(settings, intent_id: str, amounts: list[int], **fields) -> TxIntent:
    """One group per amount: a USDC transfer to the treasury."""
    chain = settings.chain(1)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    groups = [[call(usdc, "transfer(address,uint256)", treasury, a)] for a in amounts]
    return TxIntent(id=intent_id, chain_id=1, groups=groups, **fields)


@pytest.fixture
def funded(settings, web3s):
    chain = settings.chain(1)
    mint(web3s[1], chain.token("USDC").address, chain.executor, 100)
    return chain.token("USDC").address, chain.destinations[0]


async def test_an_atomic_intent_with_a_failing_group_sends_nothing_and_names_it(
    temporal_env, settings, web3s, signer, task_queue, funded
):
    usdc, treasury = funded
    nonce = web3s[1].eth.get_transaction_count(signer.address)
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        intent = groups_intent(settings, "atomic-1", [10, 1_000, 20])  # 1,000 > the 100 held
        await driver.send(intent)
        outcome = await driver.outcome(intent.id)
    assert not outcome.ok and outcome.error == "ExecutionReverted"
    assert outcome.message.startswith("intent atomic-1: CallFailed(call 1): ERC20InsufficientBalance(")
    assert web3s[1].eth.get_transaction_count(signer.address) == nonce
    assert balance(web3s[1], usdc, treasury) == 0


async def test_a_best_effort_intent_sends_the_groups_that_work(
    temporal_env, settings, web3s, signer, task_queue, funded
):
    usdc, treasury = funded
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        intent = groups_intent(settings, "best-effort-1", [10, 1_000, 20], atomic=False)
        await driver.send(intent)
        outcome = await driver.outcome(intent.id)
    assert outcome.ok and outcome.dropped_groups == [1] and outcome.transaction.calls == 2
    assert "left out intent best-effort-1 group 1: CallFailed(call 1): ERC20InsufficientBalance(" in outcome.message
    assert balance(web3s[1], usdc, treasury) == 30


async def test_merged_intents_drop_the_one_that_would_revert(temporal_env, settings, web3s, signer, task_queue, funded):
    """Three mergeable intents waiting together share one transaction; the one that would
    revert is found by bisection, named and left out; the other two go together."""
    w3 = web3s[1]
    usdc, treasury = funded
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, max_in_flight=1)
        w3.provider.make_request("evm_setAutomine", [False])
        try:
            await driver.send(approve_intent(settings, "blocker"))  # in flight, not mined: the rest waits
            for name, amount in [("a", 10), ("b", 1_000), ("c", 20)]:
                await driver.send(transfer_intent(settings, f"merged-{name}", amount, mergeable=True))
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
        w3.provider.make_request("evm_mine", [])
        outcomes = await driver.outcomes(["blocker", "merged-a", "merged-b", "merged-c"])
    a, b, c = outcomes["merged-a"], outcomes["merged-b"], outcomes["merged-c"]
    assert a.ok and c.ok and a.transaction.tx_hash == c.transaction.tx_hash and a.transaction.calls == 2
    assert not b.ok and b.error == "ExecutionReverted" and b.message.startswith("intent merged-b: CallFailed(call 1)")
    assert balance(w3, usdc, treasury) == 30


async def _die(client, settings: Settings, first: WorkflowHandle) -> None:
    """The allocation's first run dies; its stand-in engine ends with it, so the re-run starts
    the same id again."""
    await first.terminate("the operator's process died")
    with pytest.raises(WorkflowFailureError):
        await first.result()
    with pytest.raises(WorkflowFailureError):  # the stand-in fails with its child
        await client.get_workflow_handle(settings.engine_id).result()


async def test_an_allocation_rerun_before_anything_was_sent_completes_once(
    temporal_env, settings, web3s, signer, task_queue
):
    settings = own_engine(settings)
    input = AllocateInput(legs=demo_input().legs[:1])
    fund_treasury(settings, web3s, input)
    w3, client = web3s[1], temporal_env.client
    nonce = w3.eth.get_transaction_count(signer.address)
    gated = GatedActivities(Deps(settings, signer, web3s))
    gated.gate.clear()  # the first run is held in its first read
    async with build_worker(client, task_queue, gated.deps, chain_activities=gated, extra_workflows=[EngineStandIn]):
        first = await start_allocation(client, task_queue, settings, input)
        await gated.wait_arrived()
        assert (await first.query(AllocateWorkflow.status)).startswith("reading positions")
        await _die(client, settings, first)
        gated.gate.set()
        result = await (await start_allocation(client, task_queue, settings, input)).result()
    assert w3.eth.get_transaction_count(signer.address) == nonce + 1 and len(result.transactions) == 1
    chain = settings.chain(1)
    assert balance(w3, chain.token("USDC").address, chain.executor) == 0


async def test_an_allocation_rerun_after_its_transaction_was_queued_sends_nothing_twice(
    temporal_env, settings, web3s, signer, task_queue
):
    """The first run dies once its batch is queued; the queue still follows the transaction to
    the end. The re-run finds the money already placed and says so; nothing is sent again."""
    settings = own_engine(settings)
    input = AllocateInput(legs=demo_input().legs[:1])
    fund_treasury(settings, web3s, input)
    w3, client = web3s[1], temporal_env.client
    nonce = w3.eth.get_transaction_count(signer.address)
    async with build_worker(client, task_queue, Deps(settings, signer, web3s), extra_workflows=[EngineStandIn]):
        # Not mined until the first run has died: it dies waiting for its queued batch.
        w3.provider.make_request("evm_setAutomine", [False])
        try:
            run = await start_allocation(client, task_queue, settings, input)

            async def queued() -> bool:
                return (await run.query(AllocateWorkflow.status)).startswith("waiting for")

            await wait_for(queued, what="the allocation's batch queued")
            await _die(client, settings, run)
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
        w3.provider.make_request("evm_mine", [])
        driver = QueueDriver(client, task_queue, settings, signer.address)
        first = await driver.outcome(f"{run.id}/chain-1/batch-1")
        with pytest.raises(WorkflowFailureError) as rerun:
            await (await start_allocation(client, task_queue, settings, input)).result()
    assert first.ok and innermost(rerun.value).type == "InsufficientBalance"
    assert w3.eth.get_transaction_count(signer.address) == nonce + 1


async def test_two_identical_allocations_at_once_are_two_transactions(
    temporal_env, settings, web3s, signer, task_queue
):
    input = AllocateInput(legs=demo_input().legs[:1])
    fund_treasury(settings, web3s, input)
    fund_treasury(settings, web3s, input)  # enough for both
    settings = own_engine(settings)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s), extra_workflows=[EngineStandIn]):
        # Two stand-ins (an engine runs one operation at a time), both under the worker's engine
        # id: the queue door takes intents only from operations under it.
        started = [
            start_operation(
                client, task_queue, "AllocateWorkflow", "allocate", input, f"{settings.engine_id}/{n}", AllocateResult
            )
            for n in (1, 2)
        ]
        results = await asyncio.gather(*(handle.result() for handle in await asyncio.gather(*started)))
    hashes = {r.transactions[0].tx_hash for r in results}
    assert len(hashes) == 2
    chain = settings.chain(1)
    assert balance(web3s[1], chain.token("USDC").address, chain.executor) == 0  # both deposits happened


@pytest.fixture
def proxied(stack):
    """Chain 1 reached only through a fault-injecting proxy."""
    with RpcProxy(stack.chains[1].rpc_url) as proxy:
        config = stack.chains[1].deployed.chain_config(proxy.url("/"))
        yield proxy, Settings(chains=[config])


async def test_an_answer_lost_after_the_node_accepted_the_transaction_sends_nothing_twice(
    temporal_env, proxied, web3s, signer, task_queue
):
    proxy, settings = proxied
    w3 = web3s[1]
    start_block, nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        proxy.misbehave("lost_answer", times=2, method="eth_sendRawTransaction")
        await driver.send(approve_intent(settings, "lost-1"))
        outcome = await driver.outcome("lost-1")
    assert outcome.ok
    assert proxy.methods["eth_sendRawTransaction"] >= 3  # two answers lost, then "already known"/mined
    assert [t["nonce"] for t in sent_by(w3, signer.address, start_block)] == [nonce]


# The outage's length: 10 s in the suite (several failed polls of the watch); `make drills` runs
# the full minute.
OUTAGE_S = int(os.environ.get("FLOOR_OUTAGE_S", "10"))


async def test_a_long_rpc_outage_while_confirming_ends_confirmed(temporal_env, proxied, web3s, signer, task_queue):
    """The node answers errors (not only hangs) for OUTAGE_S after the broadcast: the watch
    keeps polling and the transaction is confirmed once the RPC is back; nothing fails."""
    proxy, settings = proxied
    w3 = web3s[1]
    nonce = w3.eth.get_transaction_count(signer.address)
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, stuck_after_s=30)
        w3.provider.make_request("evm_setAutomine", [False])
        try:
            await driver.send(approve_intent(settings, "outage-1"))
            for _ in range(100):  # until the queue has broadcast it
                if w3.eth.get_transaction_count(signer.address, "pending") > nonce:
                    break
                await asyncio.sleep(0.05)
            proxy.misbehave("bad_gateway", times=None)
            outage_started = time.monotonic()
            w3.provider.make_request("evm_mine", [])  # mined while the engine cannot see it
        finally:
            w3.provider.make_request("evm_setAutomine", [True])
        await asyncio.sleep(OUTAGE_S)
        failed_during_outage = proxy.requests
        proxy.reset()
        outcome = await driver.outcome("outage-1", timeout_s=60)
    assert time.monotonic() - outage_started >= OUTAGE_S and failed_during_outage > 10
    assert outcome.ok and outcome.transaction.nonce == nonce
    assert w3.eth.get_transaction_count(signer.address) == nonce + 1


async def test_a_transaction_that_reverts_on_chain_fails_its_intent_with_the_reason(
    temporal_env, settings, web3s, signer, task_queue, funded
):
    """Two intents simulated against the same state each pass (60 of the 100 held); mined one
    after the other, the second reverts: its intent fails TransactionFailed, reason decoded."""
    usdc, treasury = funded
    async with build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s)):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        await driver.send_many([transfer_intent(settings, f"sixty-{n}", 60) for n in range(2)])
        outcomes = await driver.outcomes(["sixty-0", "sixty-1"])
    first, second = outcomes["sixty-0"], outcomes["sixty-1"]
    assert first.ok and not second.ok and second.error == "TransactionFailed"
    assert second.transaction.status == 0 and second.transaction.nonce == first.transaction.nonce + 1
    assert second.message.startswith("CallFailed(call 0): ERC20InsufficientBalance(")
    assert balance(web3s[1], usdc, treasury) == 60
