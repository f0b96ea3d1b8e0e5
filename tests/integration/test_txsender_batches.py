"""The queue's simulations and receipt reads as JSON-RPC batches: every plan whole is probed in
two batches, a plan that would revert is still found and named, and a provider that takes no
batches gets the same answers one request at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from floor.chain.rpc import connect
from floor.chain.txsender import TxSender
from floor.devnet.faultproxy import RpcProxy
from floor.models import Priority
from floor.txqueue import PlannedTx, UnsignedTx, Watched
from tests.integration.helpers import mint
from tests.integration.queue_helpers import transfer_intent

CHAIN = 1


@pytest.fixture
def proxy(stack) -> Iterator[RpcProxy]:
    with RpcProxy(stack.chains[CHAIN].rpc_url) as p:
        yield p


def _prepared(proxy: RpcProxy, settings, signer, amounts: list[int]):
    chain = settings.chain(CHAIN)
    sender = TxSender(connect([proxy.url()]), CHAIN, chain.executor, signer, chain.tx)
    plans = [
        PlannedTx(intents=[transfer_intent(settings, f"batch/{i}", amount)], priority=Priority.NORMAL)
        for i, amount in enumerate(amounts)
    ]
    return sender.prepare(plans)


def test_every_plan_is_probed_in_two_batches_and_a_revert_is_still_named(stack, settings, web3s, signer, proxy):
    chain = settings.chain(CHAIN)
    mint(web3s[CHAIN], chain.token("USDC").address, chain.executor, 10**9)
    amounts = [1_000 + i for i in range(9)] + [10**18]  # the last is more than the executor holds
    prepared = _prepared(proxy, settings, signer, amounts)

    assert [p.intents for p in prepared[:9]] == [[f"batch/{i}"] for i in range(9)]
    assert all(p.gas > 21_000 and p.fees is not None for p in prepared[:9])
    [failure] = prepared[9].failures
    assert prepared[9].intents == [] and failure.intent_id == "batch/9"
    assert failure.reason.startswith("intent batch/9: CallFailed(call 0): ERC20InsufficientBalance(")
    # Ten access lists, then nine calls at the limit: two batches. The failing plan alone is
    # then simulated again, whole and as its one-unit prefix (eth_estimateGas names its revert).
    assert proxy.methods["eth_createAccessList"] == 10 + 2 and proxy.methods["eth_call"] == 9
    assert proxy.methods["eth_estimateGas"] == 2 and proxy.batches == 2

    # The same plans from a provider that takes no batches: the same transactions and gas.
    proxy.misbehave("no_batches", times=None)
    one_by_one = _prepared(proxy, settings, signer, amounts)
    assert [(p.intents, p.data, p.gas) for p in one_by_one] == [(p.intents, p.data, p.gas) for p in prepared]
    assert [f.reason for f in one_by_one[9].failures] == [failure.reason]


def test_a_look_after_a_broadcast_asks_for_the_head_the_nonce_and_the_receipt_in_one_batch(
    stack, settings, web3s, signer, proxy
):
    """The first look's poll, on the hot path of every broadcast: one batch, not three requests
    (the head, then the signer's nonce at it, then the receipts). The fee history the prepare
    reads is one raw request."""
    chain = settings.chain(CHAIN)
    mint(web3s[CHAIN], chain.token("USDC").address, chain.executor, 10**9)
    sender = TxSender(connect([proxy.url()]), CHAIN, chain.executor, signer, chain.tx)
    [prepared] = sender.prepare(
        [PlannedTx(intents=[transfer_intent(settings, "look/1", 1_000)], priority=Priority.NORMAL)]
    )
    assert proxy.methods["eth_feeHistory"] == 1
    nonce = web3s[CHAIN].eth.get_transaction_count(signer.address, "pending")
    assert prepared.fees is not None
    tx = sender.sign(
        UnsignedTx(nonce=nonce, to=sender.executor, data=prepared.data, gas=prepared.gas, fees=prepared.fees)
    )
    assert sender.broadcast(tx).ok
    web3s[CHAIN].eth.wait_for_transaction_receipt(tx.hash)  # mined: the look's first poll finds it
    before, batches = proxy.requests, proxy.batches
    methods = dict(proxy.methods)

    [status] = sender.look([Watched(nonce=nonce, hashes=[tx.hash], raw=tx.raw, intents=["look/1"])], 1)

    assert status.state == "confirmed" and status.chain_nonce == nonce + 1 and status.head is not None
    assert (proxy.requests - before, proxy.batches - batches) == (1, 1)
    asked = {m: n - methods.get(m, 0) for m, n in proxy.methods.items() if n != methods.get(m, 0)}
    assert asked == {"eth_blockNumber": 1, "eth_getTransactionCount": 1, "eth_getTransactionReceipt": 1}
