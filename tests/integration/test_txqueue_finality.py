"""When the chain takes something back: the transaction queue follows a settled transaction
until the chain's final block passes it, sends again what a reorg took out before then, fills
a nonce gap it finds while running, and holds itself on a chain that is not the one it knew
(a restarted anvil) until an operator accepts the chain as it is.

Checked on both sides: the queue (its status, the intents' outcomes, the store's alerts) and
the chain (one transaction per nonce, the executor's effects exactly once).
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from web3 import Web3

from activities.deps import Deps
from cli.engine import _accept_chain_in_queues, chain_events
from floor.chain.rpc import FallbackHTTPProvider
from floor.devnet.processes import free_port, start_anvil, stop_process
from floor.devnet.stack import sent_by
from floor.store import Store
from floor.txqueue import TxOutcome
from scripts.bench.queue_driver import QueueDriver
from tests.integration.helpers import balance, mint
from tests.integration.queue_helpers import transfer_intent
from tests.integration.test_txqueue_chain_faults import hx, receipt, rpc, wait_for
from workers.temporal import build_worker
from workflows.txqueue import TxQueueWorkflow

CHAIN = 1
FAST = {"finality_poll_s": 0.3, "stuck_after_s": 2}


@pytest.fixture
def store(tmp_path):
    with Store(f"sqlite:///{tmp_path}/floor.db") as s:
        s.migrate()
        yield s


def funded_executor(w3, settings) -> tuple[str, str, int, int]:
    """The executor given USDC to pay out: (USDC, the treasury it pays, the treasury's balance
    before, the first block to come)."""
    chain = settings.chain(CHAIN)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    mint(w3, usdc, chain.executor, 10**9)
    return usdc, treasury, balance(w3, usdc, treasury), w3.eth.block_number + 1


def alerts(store: Store, kind: str) -> list[str]:
    return [a.detail for a in store.open_alerts() if a.kind == kind]


async def outcome_where(driver: QueueDriver, intent_id: str, check, what: str, timeout_s: float = 15) -> TxOutcome:
    async def look():
        outcome = await driver.handle.query(TxQueueWorkflow.outcome, intent_id)
        return outcome if outcome is not None and check(outcome) else None

    return await wait_for(look, what, timeout_s)


async def test_a_settled_transaction_reorged_out_before_finality_is_sent_again_once(
    temporal_env, settings, web3s, signer, task_queue, store
):
    """Confirmed at depth 1, then three blocks on top, then a reorg four deep replaces them
    all: the node and the chain forget the transaction. The queue, still following it (the
    chain's `finalized` block is 64 behind), sends the same bytes again; the outcome names the
    new block, the journal's alert says what happened, and the treasury is paid once. Once
    the finalized block passes it, the queue lets it go."""
    w3 = web3s[CHAIN]
    usdc, treasury, before, start_block = funded_executor(w3, settings)
    deps = Deps(settings, signer, web3s, store=store)
    async with build_worker(temporal_env.client, task_queue, deps):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, **FAST)
        intent = transfer_intent(settings, "finality/reorged", 7_777)
        assert (await driver.send(intent)).accepted
        first = await driver.outcome(intent.id)
        assert first.ok and receipt(w3, first.transaction.tx_hash) is not None
        assert (await driver.handle.query(TxQueueWorkflow.status)).following == 1

        rpc(w3, "anvil_mine", 3)
        rpc(w3, "anvil_reorg", 4, [])  # the transaction's block and the three on top
        assert receipt(w3, first.transaction.tx_hash) is None  # taken back, deeper than the depth

        again = await outcome_where(
            driver,
            intent.id,
            lambda o: o.transaction.block_number != first.transaction.block_number,
            "the outcome of the transaction mined again",
        )
        assert again.ok and again.transaction.tx_hash == first.transaction.tx_hash  # the same bytes
        assert receipt(w3, again.transaction.tx_hash)["blockNumber"] == again.transaction.block_number
        await wait_for(lambda: asyncio.to_thread(alerts, store, "reorg"), "the reorg's alert")

        rpc(w3, "anvil_mine", 70)  # the finalized block (64 behind) passes it

        async def let_go():
            return (await driver.handle.query(TxQueueWorkflow.status)).following == 0

        await wait_for(let_go, "the queue to stop following the final transaction")

    [detail] = alerts(store, "reorg")
    assert first.transaction.tx_hash in detail and "reorged out before finality" in detail
    mined = sent_by(w3, signer.address, start_block)
    assert [hx(t["hash"]) for t in mined] == [first.transaction.tx_hash]  # once on the chain
    assert balance(w3, usdc, treasury) == before + 7_777


class SlowResendProvider(FallbackHTTPProvider):
    """The engine's provider, where the second broadcast of the same raw bytes (the follower
    sending a reorged transaction again) returns only `delay_s` after the node took it: the
    watcher, running beside the follower, sees it mined again before that broadcast returns."""

    def __init__(self, *args, delay_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.delay_s = delay_s
        self.sent: dict[str, int] = {}
        self.delayed = 0
        self.lock = threading.Lock()

    def make_request(self, method, params):
        response = super().make_request(method, params)
        if method == "eth_sendRawTransaction":
            with self.lock:
                self.sent[params[0]] = self.sent.get(params[0], 0) + 1
                again = self.sent[params[0]] == 2
            if again:
                time.sleep(self.delay_s)
                self.delayed += 1
        return response


async def test_a_reorged_transaction_seen_mined_again_before_its_broadcast_returns_settles_once(
    stack, temporal_env, settings, web3s, signer, task_queue, store
):
    """The follower sends a reorged transaction again while the watcher runs beside it; the
    node mines it at once and the watcher settles it before the follower's broadcast returns.
    That broadcast's answer is about a transaction no longer in flight: it is set aside, and
    the queue goes on (before, every retry of its workflow task failed and the queue stood)."""
    w3 = web3s[CHAIN]
    usdc, treasury, before, start_block = funded_executor(w3, settings)
    provider = SlowResendProvider([stack.chains[CHAIN].rpc_url], chain_id=CHAIN, delay_s=3)
    provider.check_chain_ids()
    engine_w3 = Web3(provider)
    engine_w3.middleware_onion.remove("validation")
    deps = Deps(settings, signer, {**web3s, CHAIN: engine_w3}, store=store)
    async with build_worker(temporal_env.client, task_queue, deps):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, **FAST)
        intent = transfer_intent(settings, "finality/seen-again", 5_555)
        assert (await driver.send(intent)).accepted
        first = await driver.outcome(intent.id)
        assert first.ok

        rpc(w3, "anvil_mine", 1)
        rpc(w3, "anvil_reorg", 2, [])  # the transaction's block and the one on top
        assert receipt(w3, first.transaction.tx_hash) is None
        again = await outcome_where(
            driver,
            intent.id,
            lambda o: o.transaction.block_number != first.transaction.block_number,
            "the outcome of the transaction mined again, from the watcher",
        )
        assert provider.delayed == 0  # settled while the follower's broadcast was still out

        async def returned():
            return provider.delayed == 1

        await wait_for(returned, "the follower's broadcast to return")

        # The queue goes on: the next intent is sent and settles.
        later = transfer_intent(settings, "finality/after-seen-again", 1_111)
        assert (await driver.send(later)).accepted
        assert (await driver.outcome(later.id)).ok
        failures = [
            e.workflow_task_failed_event_attributes.failure.message
            async for e in driver.handle.fetch_history_events()
            if e.HasField("workflow_task_failed_event_attributes")
        ]
        assert failures == []

    assert again.ok and again.transaction.tx_hash == first.transaction.tx_hash
    mined = sent_by(w3, signer.address, start_block)
    assert [hx(t["hash"]) for t in mined].count(first.transaction.tx_hash) == 1  # once on the chain
    assert balance(w3, usdc, treasury) == before + 5_555 + 1_111


class RefusingProvider(FallbackHTTPProvider):
    """The engine's provider, where one raw transaction's first broadcast is refused as a
    node does when the signer cannot pay ("insufficient funds"): the queue gives its nonce
    back while the next one is already out, which leaves a gap below it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    def make_request(self, method, params):
        if method == "eth_sendRawTransaction":
            raw = params[0] if isinstance(params[0], str) else "0x" + bytes(params[0]).hex()
            with self.lock:
                if raw in self.refuse:
                    self.refuse.discard(raw)
                    return {"jsonrpc": "2.0", "id": 0, "error": {"code": -32003, "message": "insufficient funds"}}
        return super().make_request(method, params)


async def test_a_nonce_gap_below_the_transactions_in_flight_is_filled(
    stack, temporal_env, settings, web3s, signer, task_queue, monkeypatch
):
    """Two transfers signed at nonces N and N+1; the node refuses N's first broadcast (an RPC
    that says the signer cannot pay) and takes N+1, which then waits in its pool behind N for
    ever. The queue fails N's intent (nothing was sent), sees the chain's nonce stopped below
    its lowest one in flight with nothing of its own there, and after `stuck_after_s` fills N
    with a zero-value self-transfer: N+1 is mined and its intent settles."""
    w3 = web3s[CHAIN]
    chain = settings.chain(CHAIN)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    mint(w3, usdc, chain.executor, 10**9)
    before = balance(w3, usdc, treasury)
    nonce, start_block = w3.eth.get_transaction_count(signer.address), w3.eth.block_number + 1
    provider = RefusingProvider([stack.chains[CHAIN].rpc_url], chain_id=CHAIN)
    provider.check_chain_ids()
    engine_w3 = Web3(provider)
    engine_w3.middleware_onion.remove("validation")

    from floor.chain.txsender import TxSender

    sign = TxSender.sign

    def sign_and_mark(self, tx):  # the first version signed at nonce N is the one refused
        signed = sign(self, tx)
        if tx.nonce == nonce and not getattr(sign_and_mark, "done", False):
            sign_and_mark.done = True
            provider.refuse.add(signed.raw)
        return signed

    monkeypatch.setattr(TxSender, "sign", sign_and_mark)
    deps = Deps(settings, signer, {**web3s, CHAIN: engine_w3})
    async with build_worker(temporal_env.client, task_queue, deps):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, **FAST)
        first, second = transfer_intent(settings, "gap/first", 1_000), transfer_intent(settings, "gap/second", 2_000)
        await driver.send_many([first, second])
        refused = await driver.outcome(first.id)
        assert not refused.ok and refused.error == "InsufficientFundsForGas"
        behind = await driver.outcome(second.id, timeout_s=30)

    assert behind.ok, behind
    assert behind.transaction.nonce == nonce + 1
    filler = w3.eth.get_transaction(
        next(t for t in sent_by(w3, signer.address, start_block) if t["nonce"] == nonce)["hash"]
    )
    assert filler["to"] == signer.address and filler["value"] == 0 and filler["input"] in (b"", "0x")
    assert balance(w3, usdc, treasury) == before + 2_000


async def test_a_chain_reset_under_the_queue_holds_it_until_an_operator_accepts_the_chain(
    temporal_env, settings, signer, task_queue, tmp_path, store
):
    """A chain of the test's own (no executor there: calls to it are no-ops that still cost a
    transaction). One transfer settles; the next is in the node's pool when anvil is
    restarted with nothing: the head back at 0, below the finalized block the queue remembers,
    and the signer's nonce back at 0. The queue sends
    nothing into the new chain after a handful of tries, holds itself with a reason in its
    status, raises the `chain_state` alert; `accept_chain` fails what was in flight as
    ChainReset, and the next intent is sent at the new chain's nonce."""
    port = free_port()
    log = tmp_path / "anvil.log"
    proc = start_anvil(port, CHAIN, log)
    provider = CountingProvider([f"http://127.0.0.1:{port}"], chain_id=CHAIN)
    w3 = Web3(provider)
    w3.middleware_onion.remove("validation")
    own = settings.model_copy(
        update={
            "chains": [
                c.model_copy(update={"rpc_urls": [f"http://127.0.0.1:{port}"]}) if c.id == CHAIN else c
                for c in settings.chains
            ]
        }
    )
    try:
        w3.provider.make_request("anvil_setBalance", [signer.address, hex(10**20)])
        w3.provider.make_request("anvil_mine", [100])  # a chain with a past: its finalized block is 64 behind its head
        deps = Deps(own, signer, {CHAIN: w3}, store=store)
        async with build_worker(temporal_env.client, task_queue, deps):
            driver = QueueDriver(temporal_env.client, task_queue, own, signer.address, **FAST)
            one = transfer_intent(own, "reset/one", 1)
            await driver.send(one)
            assert (await driver.outcome(one.id)).ok

            async def marked():
                status = await driver.handle.query(TxQueueWorkflow.status)
                return status.following == 1 and (status.final_block or 0) > 30

            await wait_for(marked, "the queue to remember the chain's finalized block")
            w3.provider.make_request("evm_setAutomine", [False])
            two = transfer_intent(own, "reset/two", 2)
            await driver.send(two)

            async def in_pool():
                status = await driver.handle.query(TxQueueWorkflow.status)
                return any(t.attempts for t in status.inflight)

            await wait_for(in_pool, "the second transfer to be broadcast")
            stop_process(proc)
            proc = start_anvil(port, CHAIN, log)  # the same port and chain id, nothing on it
            w3.provider.make_request("anvil_setBalance", [signer.address, hex(10**20)])
            provider.sends = 0

            async def held():
                status = await driver.handle.query(TxQueueWorkflow.status)
                return status if status.chain_problem else None

            status = await wait_for(held, "the queue to hold itself", timeout_s=20)
            assert "state does not match what the engine knew at block" in status.chain_problem
            await wait_for(lambda: asyncio.to_thread(alerts, store, "chain_state"), "the critical alert")
            await asyncio.sleep(3)  # longer than stuck_after_s: nothing is replaced or rebroadcast
            assert provider.sends <= 3, provider.sends
            assert await driver.handle.query(TxQueueWorkflow.outcome, two.id) is None  # nobody guessed

            # The runbook's step (`floor reconcile --accept-chain`) tells every queue on the chain.
            host = temporal_env.client.service_client.config.target_host
            at = own.model_copy(update={"temporal": own.temporal.model_copy(update={"address": host})})
            [answer] = await _accept_chain_in_queues(at, CHAIN, "ops: the devnet was restarted")
            assert driver.handle.id in answer and "accepted" in answer
            lost = await driver.outcome(two.id)
            assert not lost.ok and lost.error == "ChainReset"
            w3.provider.make_request("evm_setAutomine", [True])
            three = transfer_intent(own, "reset/three", 3)
            await driver.send(three)
            after = await driver.outcome(three.id)
        assert after.ok and after.transaction.nonce == 0  # the new chain's first nonce
        assert not alerts(store, "chain_state")  # accepting resolves it
    finally:
        stop_process(proc)


class CountingProvider(FallbackHTTPProvider):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sends = 0

    def make_request(self, method, params):
        if method == "eth_sendRawTransaction":
            self.sends += 1
        return super().make_request(method, params)


# -- through the engine ------------------------------------------------------------------------
def _with_fast_follow(settings):
    return settings.model_copy(
        update={"chains": [c.model_copy(update={"finality_poll_s": 0.3}) for c in settings.chains]}
    )


async def test_a_delivery_reorged_out_is_sent_again_and_an_ended_operation_raises_an_alert(
    temporal_env, stack, web3s, signer, task_queue, store, tmp_path
):
    """A capital request's delivery, confirmed at depth 1 while the engine is paused (so the
    operation waits at its next step), is reorged out four blocks deep: the queue sends it
    again, the operation learns of it and ends done, the treasury paid once. A second
    delivery reorged out after its operation ended is sent again too, and an alert names the
    operation whose result was read before the reorg."""
    from client import engine_status, ensure_engine
    from floor.engine import EngineState, Operation
    from tests.integration.engine_helpers import commander, engine_settings, finished

    settings = _with_fast_follow(engine_settings(stack, task_queue))
    client = temporal_env.client
    w3 = web3s[CHAIN]
    chain = settings.chain(CHAIN)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    mint(w3, usdc, chain.executor, 100_000 * 10**6)
    before, start_block = balance(w3, usdc, treasury), w3.eth.block_number + 1

    def capital(amount: int) -> dict:
        return {"chain_id": CHAIN, "asset": "USDC", "amount": str(amount), "destination": treasury, "by": "desk"}

    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        queue = QueueDriver(client, task_queue, settings, signer.address)
        rpc(w3, "evm_setAutomine", False)
        try:
            started = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, capital(80_000 * 10**6))

            async def broadcast():
                try:  # an earlier test's run of the queue (terminated) is no one's to answer
                    if (await queue.handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                        return False
                except RPCError:  # the queue is not started yet
                    return False
                status = await queue.handle.query(TxQueueWorkflow.status)
                return any(t.attempts for t in status.inflight)

            await wait_for(broadcast, "the delivery to be broadcast", timeout_s=30)
            await commander(client, settings).pause("reorg drill")
            rpc(w3, "evm_mine")  # the delivery, at depth 1: the operation goes on, to its pause
            child = client.get_workflow_handle(started.workflow_id)

            async def waiting():
                return await child.query("status") == "reading positions back (paused)"

            await wait_for(waiting, "the operation waiting at its next step", timeout_s=30)
            delivery = f"{started.workflow_id}/chain-{CHAIN}/deliver-1"  # the intent's id (chain_intents)
            first = await queue.handle.query(TxQueueWorkflow.outcome, delivery)
            assert first is not None and first.ok, (first, await queue.handle.query(TxQueueWorkflow.status))
            rpc(w3, "anvil_mine", 3)
            rpc(w3, "anvil_reorg", 4, [])
            assert balance(w3, usdc, treasury) == before  # the chain took the delivery back

            async def mined_again():
                rpc(w3, "evm_mine")
                outcome = await queue.handle.query(TxQueueWorkflow.outcome, delivery)
                return outcome.transaction.block_number != first.transaction.block_number

            await wait_for(mined_again, "the delivery to be sent, mined and confirmed again", timeout_s=30)
        finally:
            rpc(w3, "evm_setAutomine", True)
        await commander(client, settings).resume("drill over")
        result = await finished(client, settings.engine_id, Operation.REQUEST_CAPITAL, started.workflow_id)
        assert result.status == "done" and "reorged out" in result.summary, result.summary
        assert (await engine_status(client, settings.engine_id)).state == EngineState.IDLE

        second = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, capital(5_000 * 10**6))
        await finished(client, settings.engine_id, Operation.REQUEST_CAPITAL, second.workflow_id)
        paid = balance(w3, usdc, treasury)
        rpc(w3, "anvil_mine", 2)
        rpc(w3, "anvil_reorg", 3, [])  # the second delivery's block and two on top
        assert balance(w3, usdc, treasury) == paid - 5_000 * 10**6

        async def alerted():
            return alerts(store, "reorg_after_operation")

        [detail] = await wait_for(alerted, "the alert for the ended operation", timeout_s=30)

    assert second.workflow_id in detail
    # `floor history` shows what the chains took back, from the store.
    url = f"sqlite:///{tmp_path}/floor.db"  # the store fixture's
    with_store = settings.model_copy(update={"store": settings.store.model_copy(update={"url": url})})
    shown = [(e["kind"], e["resolved_at"] is None) for e in chain_events(with_store, 10)]
    assert shown == [("reorg", False), ("reorg", True), ("reorg_after_operation", True)], shown
    assert balance(w3, usdc, treasury) == before + 85_000 * 10**6  # each delivery once
    deliveries = list(sent_by(w3, signer.address, start_block))
    assert len(deliveries) == 2 and deliveries[1]["nonce"] == deliveries[0]["nonce"] + 1
    journal = store.transactions_of(started.workflow_id)
    assert [(j.tx_hash, j.block_number) for j in journal] == [
        (hx(deliveries[0]["hash"]), w3.eth.get_transaction(deliveries[0]["hash"])["blockNumber"])
    ]
