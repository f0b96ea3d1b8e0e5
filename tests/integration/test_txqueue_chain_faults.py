"""TxQueueWorkflow against a chain that misbehaves: fees too low to be mined, transactions never
mined (cancelled), dropped from the mempool, a nonce taken by another sender, a reorg before
the confirmation depth.

Every scenario is driven by anvil's RPCs (automine off and explicit `evm_mine`, a high next
base fee, `anvil_dropTransaction`, `anvil_reorg`) and checked on both sides: what the queue
says (its `status` query, the intent's outcome) and what the chain holds (one transaction per
nonce, contiguous nonces, the executor's effects exactly once or not at all).

Waits fail with `pytest.fail`, naming what did not happen in time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pytest
from web3 import Web3
from web3.exceptions import TransactionNotFound

from activities.deps import Deps
from floor.chain.rpc import FallbackHTTPProvider
from floor.devnet.stack import sent_by
from floor.txqueue import TxOutcome
from scripts.bench.queue_driver import QueueDriver
from tests.integration.helpers import balance, mint
from tests.integration.queue_helpers import approve_intent, transfer_intent
from workers.temporal import build_worker
from workflows.txqueue import TxQueueWorkflow

CHAIN = 1
T = TypeVar("T")


# -- chain helpers ---------------------------------------------------------------------------
def rpc(w3, method: str, *params):
    response = w3.provider.make_request(method, list(params))
    if "error" in response:
        pytest.fail(f"{method}{list(params)}: {response['error']}")
    return response.get("result")


def hx(value) -> str:
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


def receipt(w3, tx_hash: str):
    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return None


def node_knows(w3, tx_hash: str) -> bool:
    try:
        w3.eth.get_transaction(tx_hash)
        return True
    except TransactionNotFound:
        return False


def mempool(w3, address: str) -> dict[int, dict]:
    """The node's mempool for one sender: nonce -> transaction (anvil keeps one per nonce)."""
    content = rpc(w3, "txpool_content")
    return {
        int(nonce): tx
        for section in ("pending", "queued")
        for sender, txs in content[section].items()
        if sender.lower() == address.lower()
        for nonce, tx in txs.items()
    }


def market_fees(w3) -> dict:
    tip = 10**9
    return {"maxFeePerGas": 2 * w3.eth.get_block("pending")["baseFeePerGas"] + tip, "maxPriorityFeePerGas": tip}


@pytest.fixture
def manual_mining(web3s) -> Iterator[None]:
    """Blocks are mined only by the test (`evm_mine`); automine is back on afterwards (the
    snapshot revert does not restore the mining mode)."""
    w3 = web3s[CHAIN]
    rpc(w3, "evm_mine")  # a block of the test's own on top: reorgs and base fees start from it
    rpc(w3, "evm_setAutomine", False)
    yield
    rpc(w3, "evm_setAutomine", True)


# -- queue helpers ---------------------------------------------------------------------------
def require(condition: object, what: str) -> None:
    """A precondition of the scenario (pytest.fail, never an AssertionError: see the docstring)."""
    if not condition:
        pytest.fail(f"precondition: {what}")


async def wait_for(check: Callable[[], Awaitable[T | None]], what: str, timeout_s: float = 10) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if loop.time() >= deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)


async def inflight(driver: QueueDriver) -> dict[int, tuple[list[str], int]]:
    """The queue's in-flight transactions: nonce -> (every signed version's hash, broadcasts)."""
    status = await driver.handle.query(TxQueueWorkflow.status)
    return {t.nonce: ([h.lower() for h in t.hashes], t.attempts) for t in status.inflight}


async def versions(driver: QueueDriver, nonce: int, count: int, timeout_s: float = 10) -> list[str]:
    """Waits until the queue has broadcast `count` versions at `nonce`; their hashes, oldest first."""

    async def check():
        hashes, attempts = (await inflight(driver)).get(nonce, ([], 0))
        return hashes if len(hashes) >= count and attempts >= count else None

    return await wait_for(check, f"{count} broadcast version(s) at nonce {nonce}", timeout_s)


async def settled(driver: QueueDriver, intent_id: str, timeout_s: float = 10) -> TxOutcome:
    async def check():
        return await driver.handle.query(TxQueueWorkflow.outcome, intent_id)

    return await wait_for(check, f"the outcome of {intent_id}", timeout_s)


async def settled_all(driver: QueueDriver, intent_ids: list[str], timeout_s: float = 10) -> dict[str, TxOutcome]:
    outcomes = await asyncio.gather(*(settled(driver, i, timeout_s) for i in intent_ids))
    return dict(zip(intent_ids, outcomes, strict=True))


async def mine_until_settled(w3, driver: QueueDriver, intent_id: str, timeout_s: float = 10) -> TxOutcome:
    """Mines a block every 0.2 s until the intent settles (confirmation depth > 1)."""

    async def check():
        outcome = await driver.handle.query(TxQueueWorkflow.outcome, intent_id)
        if outcome is None:
            rpc(w3, "evm_mine")
            await asyncio.sleep(0.15)
        return outcome

    return await wait_for(check, f"the outcome of {intent_id}", timeout_s)


@dataclass
class _Hook:
    method: str
    when: Callable[[list], bool] | None
    before: Callable[[], None] | None
    after: Callable[[], None] | None
    fired: threading.Event


class HookedProvider(FallbackHTTPProvider):
    """The engine's provider, running an action of the test right before (or after) one request
    of a given method: a fault placed between two reads of one poll, deterministically."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._hooks: list[_Hook] = []
        self._hooks_lock = threading.Lock()

    def around(self, method: str, before=None, after=None, when=None) -> threading.Event:
        """Once, on the next `method` request whose params satisfy `when`; the event is set after."""
        hook = _Hook(method, when, before, after, threading.Event())
        with self._hooks_lock:
            self._hooks.append(hook)
        return hook.fired

    def make_request(self, method, params):
        return self.make_batch_request([(method, params)])[0]

    def make_batch_request(self, batch_requests):
        """Requests alone or in a batch: a hook on any of them runs around the whole batch."""
        with self._hooks_lock:
            hook = next(
                (
                    h
                    for h in self._hooks
                    for method, params in batch_requests
                    if h.method == method and (h.when is None or h.when(list(params)))
                ),
                None,
            )
            if hook is not None:
                self._hooks.remove(hook)
        if hook is not None and hook.before is not None:
            hook.before()
        if len(batch_requests) == 1:
            responses = [super().make_request(*batch_requests[0])]
        else:
            responses = super().make_batch_request(batch_requests)
        if hook is not None:
            if hook.after is not None:
                hook.after()
            hook.fired.set()
        return responses


def hooked(stack, web3s) -> tuple[HookedProvider, dict[int, Web3]]:
    """A Web3 to chain 1 for the engine alone (the test keeps its own), through a HookedProvider."""
    provider = HookedProvider([stack.chains[CHAIN].rpc_url], chain_id=CHAIN)
    provider.check_chain_ids()
    w3 = Web3(provider)
    w3.middleware_onion.remove("validation")  # as floor.chain.rpc.connect does
    return provider, {**web3s, CHAIN: w3}


def worker(temporal_env, task_queue, settings, signer, web3s):
    return build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s))


# -- 1. a fee too low to be mined ------------------------------------------------------------
async def test_a_fee_too_low_to_be_mined_is_replaced_with_bumped_fees_at_the_same_nonce(
    temporal_env, settings, web3s, signer, task_queue, manual_mining
):
    """The chain's base fee jumps above the transaction's max fee: a block is mined without it.
    The queue signs a second version at the same nonce, both fees >= +10%, and that version is
    the one mined (in a block the original could not enter); the outcome names it."""
    w3 = web3s[CHAIN]
    start_block, nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    async with worker(temporal_env, task_queue, settings, signer, web3s):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, stuck_after_s=2)
        intent = approve_intent(settings, "faults/fee-too-low")
        assert (await driver.send(intent)).accepted
        [first] = await versions(driver, nonce, 1)
        original = w3.eth.get_transaction(first)
        assert original["nonce"] == nonce and mempool(w3, signer.address)[nonce]["hash"] == first

        rpc(w3, "anvil_setNextBlockBaseFeePerGas", hex(4 * original["maxFeePerGas"]))
        rpc(w3, "evm_mine")
        block = w3.eth.get_block("latest")
        assert block["baseFeePerGas"] > original["maxFeePerGas"] and not block["transactions"]
        assert receipt(w3, first) is None and w3.eth.get_transaction_count(signer.address) == nonce

        hashes = await versions(driver, nonce, 2)
        assert hashes[0] == first and len(hashes) == 2
        second = hashes[1]
        assert mempool(w3, signer.address)[nonce]["hash"] == second  # the replacement is what waits
        replacement = w3.eth.get_transaction(second)
        assert replacement["nonce"] == nonce
        assert (replacement["to"], replacement["input"]) == (original["to"], original["input"])  # same calls
        assert 10 * replacement["maxFeePerGas"] >= 11 * original["maxFeePerGas"]
        assert 10 * replacement["maxPriorityFeePerGas"] >= 11 * original["maxPriorityFeePerGas"]

        rpc(w3, "evm_mine")
        outcome = await settled(driver, intent.id)

    assert outcome.ok, outcome
    assert outcome.transaction.tx_hash == second != first
    assert outcome.transaction.nonce == nonce
    mined_in = w3.eth.get_block(outcome.transaction.block_number)
    assert mined_in["baseFeePerGas"] > original["maxFeePerGas"]  # the original could not have been mined
    assert receipt(w3, first) is None
    mined = sent_by(w3, signer.address, start_block)
    assert [(t["nonce"], hx(t["hash"])) for t in mined] == [(nonce, second)]  # exactly one at the nonce


# -- 2. the cancel path ----------------------------------------------------------------------
async def test_a_transaction_never_mined_is_cancelled_by_a_zero_value_self_transfer(
    temporal_env, settings, web3s, signer, task_queue, manual_mining
):
    """Nothing is mined while the queue tries: the original, one bump (max_attempts=2), then a
    zero-value self-transfer at the same nonce. Mined, it holds the nonce; the intent fails
    "Cancelled" and its transfer never ran."""
    w3 = web3s[CHAIN]
    chain = settings.chain(CHAIN)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    rpc(w3, "evm_setAutomine", True)
    mint(w3, usdc, chain.executor, 10**9)
    rpc(w3, "evm_setAutomine", False)
    before = balance(w3, usdc, treasury)
    start_block, nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    async with worker(temporal_env, task_queue, settings, signer, web3s):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, stuck_after_s=2, max_attempts=2)
        intent = transfer_intent(settings, "faults/never-mined", 12_345)
        assert (await driver.send(intent)).accepted
        [first] = await versions(driver, nonce, 1)
        assert w3.eth.get_transaction(first)["to"] == chain.executor
        hashes = await versions(driver, nonce, 3, timeout_s=15)  # original, bump, cancel
        cancel = mempool(w3, signer.address)[nonce]
        assert hx(cancel["hash"]) == hashes[2]
        assert cancel["to"].lower() == signer.address.lower() and int(cancel["value"], 16) == 0
        assert cancel["input"] in ("0x", "")
        rpc(w3, "evm_mine")
        outcome = await settled(driver, intent.id)

    assert not outcome.ok and outcome.error == "Cancelled", outcome
    assert outcome.transaction.tx_hash == hashes[2] and outcome.transaction.nonce == nonce
    mined = sent_by(w3, signer.address, start_block)
    assert len(mined) == 1
    [held] = mined
    assert (held["nonce"], hx(held["hash"]), held["to"], held["value"]) == (nonce, hashes[2], signer.address, 0)
    assert bytes(held["input"]) == b""
    assert w3.eth.get_transaction_count(signer.address) == nonce + 1
    assert balance(w3, usdc, treasury) == before  # the executor call never happened


# -- 3. dropped from the mempool -------------------------------------------------------------
async def test_a_transaction_the_node_dropped_is_broadcast_again_as_the_same_bytes(
    temporal_env, settings, web3s, signer, task_queue, manual_mining
):
    """Three transactions wait in the mempool; the node drops the middle one (anvil drops the
    one after it too: it could no longer be mined). The queue sends the same signed bytes again
    (no replacement: stuck_after_s is far away), the gap closes and all three are mined."""
    w3 = web3s[CHAIN]
    start_block, nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    ids = [f"faults/dropped-{n}" for n in range(3)]
    async with worker(temporal_env, task_queue, settings, signer, web3s):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, stuck_after_s=60)
        for n, intent_id in enumerate(ids):
            assert (await driver.send(approve_intent(settings, intent_id, amount=n + 1))).accepted
        sent = {n: (await versions(driver, n, 1))[0] for n in range(nonce, nonce + 3)}
        assert set(mempool(w3, signer.address)) == set(sent)

        assert rpc(w3, "anvil_dropTransaction", sent[nonce + 1]) == sent[nonce + 1]

        async def all_known_again():
            return all(node_knows(w3, h) for h in sent.values())

        await wait_for(all_known_again, "the dropped transactions to be back in the mempool")
        assert {n: hx(tx["hash"]) for n, tx in mempool(w3, signer.address).items()} == sent
        assert {n: hashes for n, (hashes, _) in (await inflight(driver)).items()} == {
            n: [h] for n, h in sent.items()
        }  # the same bytes, no other version signed
        rpc(w3, "evm_mine")
        outcomes = await settled_all(driver, ids)

    assert all(o.ok for o in outcomes.values()), outcomes
    assert {o.transaction.nonce: o.transaction.tx_hash for o in outcomes.values()} == sent
    mined = sent_by(w3, signer.address, start_block)
    assert [(t["nonce"], hx(t["hash"])) for t in mined] == sorted(sent.items())  # contiguous, once each


# -- 4. another sender used the key ----------------------------------------------------------
async def test_a_nonce_another_sender_took_while_the_queue_was_idle(temporal_env, settings, web3s, signer, task_queue):
    """Between intents, two transactions signed with the engine's key outside the queue are mined
    at the queue's next nonces. The queue re-syncs up past them: its next intents are mined at the
    nonces after them, each once, no gap, none lost."""
    w3 = web3s[CHAIN]
    chain = settings.chain(CHAIN)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    mint(w3, usdc, chain.executor, 10**9)
    before = balance(w3, usdc, treasury)
    start_block, nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    async with worker(temporal_env, task_queue, settings, signer, web3s):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address)
        first = transfer_intent(settings, "faults/idle-1", 1)
        assert (await driver.send(first)).accepted
        assert (await settled(driver, first.id)).ok
        status = await driver.handle.query(TxQueueWorkflow.status)
        assert status.next_nonce == nonce + 1 and not status.inflight  # idle

        foreign = []
        for n in (nonce + 1, nonce + 2):
            tx = {"type": 2, "chainId": CHAIN, "nonce": n, "to": w3.eth.accounts[0], "value": 1, "gas": 21_000}
            foreign.append(signer.sign_transaction(tx | market_fees(w3)))
            w3.eth.send_raw_transaction(foreign[-1].raw)
            assert w3.eth.wait_for_transaction_receipt(foreign[-1].hash, timeout=5)["status"] == 1  # automine

        later = [transfer_intent(settings, f"faults/idle-{n}", n) for n in (2, 3, 4)]
        for intent in later:
            assert (await driver.send(intent)).accepted
        outcomes = await settled_all(driver, [i.id for i in later])
        status = await driver.handle.query(TxQueueWorkflow.status)

    assert all(o.ok for o in outcomes.values()), outcomes
    assert sorted(o.transaction.nonce for o in outcomes.values()) == [nonce + 3, nonce + 4, nonce + 5]
    mined = sent_by(w3, signer.address, start_block)
    assert [t["nonce"] for t in mined] == list(range(nonce, nonce + 6))  # contiguous, none twice
    assert [hx(t["hash"]) for t in mined[1:3]] == [f.hash for f in foreign]
    assert {hx(t["hash"]) for t in mined[3:]} == {o.transaction.tx_hash for o in outcomes.values()}
    assert balance(w3, usdc, treasury) == before + 1 + 2 + 3 + 4  # every transfer ran exactly once
    assert status.next_nonce == nonce + 6 and not status.inflight and not status.pending


async def test_a_nonce_another_sender_took_while_ours_waited_in_the_mempool(
    temporal_env, settings, web3s, signer, task_queue, manual_mining
):
    """Our transaction waits in the mempool; another sender with the key outbids it at the same
    nonce and is mined. Nothing of ours ran there: the intent is sent again at the next nonce
    and mined once (it is not reported as mined by the other transaction)."""
    w3 = web3s[CHAIN]
    chain = settings.chain(CHAIN)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    rpc(w3, "evm_setAutomine", True)
    mint(w3, usdc, chain.executor, 10**9)
    rpc(w3, "evm_setAutomine", False)
    before = balance(w3, usdc, treasury)
    start_block, nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    async with worker(temporal_env, task_queue, settings, signer, web3s):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, stuck_after_s=60)
        intent = transfer_intent(settings, "faults/outbid", 777)
        assert (await driver.send(intent)).accepted
        [ours] = await versions(driver, nonce, 1)
        queued = w3.eth.get_transaction(ours)
        foreign = signer.sign_transaction(
            {
                "type": 2,
                "chainId": CHAIN,
                "nonce": nonce,
                "to": w3.eth.accounts[0],
                "value": 1,
                "gas": 21_000,
                "maxFeePerGas": 2 * queued["maxFeePerGas"],
                "maxPriorityFeePerGas": 2 * queued["maxPriorityFeePerGas"],
            }
        )
        w3.eth.send_raw_transaction(foreign.raw)
        assert hx(mempool(w3, signer.address)[nonce]["hash"]) == foreign.hash  # it replaced ours
        rpc(w3, "evm_mine")
        assert receipt(w3, foreign.hash)["status"] == 1

        [again] = await versions(driver, nonce + 1, 1)
        rpc(w3, "evm_mine")
        outcome = await settled(driver, intent.id)

    assert outcome.ok, outcome
    assert (outcome.transaction.tx_hash, outcome.transaction.nonce) == (again, nonce + 1)
    mined = sent_by(w3, signer.address, start_block)
    assert [(t["nonce"], hx(t["hash"])) for t in mined] == [(nonce, foreign.hash), (nonce + 1, again)]
    assert receipt(w3, ours) is None
    assert balance(w3, usdc, treasury) == before + 777  # once


# -- 5. a reorg before the confirmation depth ------------------------------------------------
async def test_a_transaction_reorged_out_before_its_confirmations_is_broadcast_again(
    temporal_env, settings, stack, web3s, signer, task_queue
):
    """confirmations=3: the transaction is mined, then its block is replaced by an empty one
    before it is deep enough (between two polls of the watcher). The queue has not settled it;
    it sends the same bytes again, they are mined in a later block, and only then, at depth,
    the outcome is given, naming the canonical block. The chain holds the transaction once."""
    w3 = web3s[CHAIN]
    provider, engine_web3s = hooked(stack, web3s)
    chain = settings.chain(CHAIN)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    mint(w3, usdc, chain.executor, 10**9)
    before = balance(w3, usdc, treasury)
    start_block, nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    async with worker(temporal_env, task_queue, settings, signer, engine_web3s):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, confirmations=3)
        intent = transfer_intent(settings, "faults/reorged", 4_242)
        assert (await driver.send(intent)).accepted
        [sent] = await versions(driver, nonce, 1)
        first = await wait_for(lambda: asyncio.to_thread(receipt, w3, sent), "the transaction to be mined")
        assert first["blockNumber"] == w3.eth.block_number  # nothing on top: not deep yet
        await asyncio.sleep(1)  # two polls of the watcher at depth 1
        assert await driver.handle.query(TxQueueWorkflow.outcome, intent.id) is None

        seen = {}

        def reorg() -> None:  # after a poll's last read (our receipt, found at depth 1): between two polls
            rpc(w3, "anvil_reorg", 1, [])
            seen["block"] = w3.eth.get_block(first["blockNumber"])["hash"]
            seen["nonce"] = w3.eth.get_transaction_count(signer.address)
            seen["known"] = node_knows(w3, sent)

        fired = provider.around("eth_getTransactionReceipt", after=reorg, when=lambda p: hx(p[0]) == sent)
        await wait_for(lambda: asyncio.to_thread(fired.wait, 0.1), "the watcher's next poll")
        assert seen["block"] != first["blockHash"]  # the block was replaced
        assert seen["nonce"] == nonce and not seen["known"]  # the chain and the node forgot the transaction

        async def mined_again():
            r = receipt(w3, sent)
            return r if r is not None and r["blockHash"] != first["blockHash"] else None

        again = await wait_for(mined_again, "the same transaction to be mined again")
        assert again["blockNumber"] == first["blockNumber"] + 1
        assert await driver.handle.query(TxQueueWorkflow.outcome, intent.id) is None  # depth 1 of 3
        rpc(w3, "evm_mine")
        rpc(w3, "evm_mine")
        outcome = await settled(driver, intent.id)

    assert outcome.ok, outcome
    assert outcome.transaction.tx_hash == sent
    assert outcome.transaction.block_number == again["blockNumber"] == receipt(w3, sent)["blockNumber"]
    mined = sent_by(w3, signer.address, start_block)
    assert [(t["nonce"], hx(t["hash"])) for t in mined] == [(nonce, sent)]  # once
    assert balance(w3, usdc, treasury) == before + 4_242


# -- a bug found on the way ------------------------------------------------------------------
async def test_an_earlier_cancel_mined_after_a_re_bumped_one_is_still_a_cancel(
    temporal_env, settings, web3s, signer, task_queue, manual_mining
):
    """max_attempts=1: the first replacement is already a cancel (c1); still not mined, the
    cancel is re-bumped (c2). A block producer that never saw c2 mines c1 (here: a reorg of
    the head block that includes c1's bytes, which the test re-signs, RFC 6979 being
    deterministic). The executor call never ran, so the outcome must be "Cancelled"."""
    w3 = web3s[CHAIN]
    chain = settings.chain(CHAIN)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    rpc(w3, "evm_setAutomine", True)
    mint(w3, usdc, chain.executor, 10**9)
    rpc(w3, "evm_mine")  # the head block the reorg replaces is an empty one of this test
    rpc(w3, "evm_setAutomine", False)
    before = balance(w3, usdc, treasury)
    start_block, nonce = w3.eth.block_number, w3.eth.get_transaction_count(signer.address)
    async with worker(temporal_env, task_queue, settings, signer, web3s):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, stuck_after_s=2, max_attempts=1)
        intent = transfer_intent(settings, "faults/earlier-cancel", 999)
        require((await driver.send(intent)).accepted, "the intent is accepted")
        hashes = await versions(driver, nonce, 2)  # the original, then the first cancel
        c1 = w3.eth.get_transaction(hashes[1])
        require(c1["to"] == signer.address and c1["value"] == 0, f"the first replacement is a cancel: {c1}")
        c1_signed = signer.sign_transaction(
            {
                "type": 2,
                "chainId": CHAIN,
                "nonce": nonce,
                "to": c1["to"],
                "value": 0,
                "data": "0x",
                "gas": c1["gas"],
                "maxFeePerGas": c1["maxFeePerGas"],
                "maxPriorityFeePerGas": c1["maxPriorityFeePerGas"],
            }
        )
        require(c1_signed.hash == hashes[1], "re-signing the first cancel gives its bytes")
        hashes = await versions(driver, nonce, 3)  # the cancel re-bumped: c2
        require(hx(mempool(w3, signer.address)[nonce]["hash"]) != hashes[1], "c2 replaced c1 in the mempool")

        rpc(w3, "anvil_reorg", 1, [["0x" + c1_signed.raw.hex(), 0]])
        require(receipt(w3, hashes[1]) is not None, "the reorg mined the first cancel")
        outcome = await settled(driver, intent.id)

    mined = sent_by(w3, signer.address, start_block)
    require([(t["nonce"], hx(t["hash"])) for t in mined] == [(nonce, hashes[1])], f"c1 alone at {nonce}: {mined}")
    require(balance(w3, usdc, treasury) == before, "the transfer never ran")
    assert outcome.transaction.tx_hash == hashes[1]
    assert not outcome.ok and outcome.error == "Cancelled", f"the outcome claims the calls ran: {outcome}"


async def test_a_reorg_between_the_watchers_reads_does_not_send_the_intent_twice(
    temporal_env, settings, stack, web3s, signer, task_queue
):
    """confirmations=3, the transaction mined at depth 1. The watcher's poll reads the nonce
    (past ours), then the head block is reorged out before it reads our receipt (none), and the
    node, as geth does, returns the transaction to its mempool and mines it again in the next
    block. Nothing but our transaction ever held the nonce: the intent must run once."""
    w3 = web3s[CHAIN]
    provider, engine_web3s = hooked(stack, web3s)
    chain = settings.chain(CHAIN)
    usdc, treasury = chain.token("USDC").address, chain.destinations[0]
    mint(w3, usdc, chain.executor, 10**9)
    before = balance(w3, usdc, treasury)
    start_block, nonce = w3.eth.block_number + 1, w3.eth.get_transaction_count(signer.address)
    async with worker(temporal_env, task_queue, settings, signer, engine_web3s):
        driver = QueueDriver(temporal_env.client, task_queue, settings, signer.address, confirmations=3)
        intent = transfer_intent(settings, "faults/reorg-between-reads", 4_321)
        require((await driver.send(intent)).accepted, "the intent is accepted")
        [sent] = await versions(driver, nonce, 1)
        await wait_for(lambda: asyncio.to_thread(receipt, w3, sent), "the transaction to be mined")
        raw = w3.eth.get_raw_transaction(sent)
        await asyncio.sleep(1)  # every poll from now on reads the nonce past ours

        def reorg() -> None:
            rpc(w3, "anvil_reorg", 1, [])

        def back_in_the_mempool_and_mined() -> None:
            w3.eth.send_raw_transaction(raw)
            w3.eth.wait_for_transaction_receipt(sent, timeout=5)

        fired = provider.around(
            "eth_getTransactionReceipt",
            before=reorg,
            after=back_in_the_mempool_and_mined,
            when=lambda p: hx(p[0]) == sent,
        )
        await wait_for(lambda: asyncio.to_thread(fired.wait, 0.1), "the watcher's next receipt read")
        outcome = await mine_until_settled(w3, driver, intent.id)

    require(receipt(w3, sent) is not None, "the original transaction was mined again")
    mined = sent_by(w3, signer.address, start_block)
    assert [(t["nonce"], hx(t["hash"])) for t in mined] == [(nonce, sent)], f"sent twice: {mined}"
    assert balance(w3, usdc, treasury) == before + 4_321
    assert outcome.ok and outcome.transaction.tx_hash == sent
