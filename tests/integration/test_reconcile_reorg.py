"""Reconciliation across a reorg: an operation reads its positions back at the block of its
transaction (the snapshot the reconciliation starts from); a reorg takes that block back, the
queue sends the same transaction again and it is mined in a later block. The snapshot's block
is no longer the chain's, so the reconciliation leaves it out and starts from the read before
it: the transaction counts once, and the run is clean. Money moved behind the engine's back
after all that is still found."""

from __future__ import annotations

import pytest

from activities.deps import Deps
from client import reconcile
from floor.calls import decode_result, read
from floor.chain.multicall import MULTICALL3_ADDRESS, MulticallReader
from floor.chain.rpc import connect, request_counts
from floor.engine import Operation
from tests.integration.engine_helpers import (
    allocate_request,
    engine_settings,
    fund,
    key,
    run_operation,
    start_allocated,
    wait_for,
)
from tests.integration.test_reconcile import take_behind_the_engines_back, with_store
from tests.integration.test_txqueue_chain_faults import receipt, rpc
from workers.temporal import build_worker

DEPOSIT = {(1, "USDC"): 25_000 * 10**6}
STEAK = key(1, "metamorpho", "steakUSDC")


def _fast_follow(settings):
    """Reorgs noticed within a second (the queue follows settled transactions until final)."""
    return settings.model_copy(
        update={"chains": [c.model_copy(update={"finality_poll_s": 0.3}) for c in settings.chains]}
    )


async def test_a_transaction_mined_again_after_a_reorg_counts_once_and_a_real_loss_is_still_found(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    settings, store = with_store(_fast_follow(engine_settings(stack, task_queue)), tmp_path)
    client, w3 = temporal_env.client, web3s[1]
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await start_allocated(client, settings, web3s)
        fund(settings, web3s, DEPOSIT)
        deposit = await run_operation(client, settings, Operation.ALLOCATE, allocate_request(DEPOSIT))
        assert deposit.status == "done", deposit.summary
        (sent,) = [t for t in store.transactions_of(f"{settings.engine_id}/allocate-2") if t.chain_id == 1]
        read_back = store.latest_snapshot(1)[str(STEAK)]
        assert read_back.block_number >= sent.block_number and read_back.block_hash  # read after it, at a hash
        clean = await reconcile(client, settings)
        assert clean.status == "clean", clean.summary

        depth = w3.eth.block_number - sent.block_number + 1
        rpc(w3, "anvil_reorg", depth, [])  # the transaction's block and any on top: empty now
        assert receipt(w3, sent.tx_hash) is None

        async def resettled():
            (row,) = [t for t in store.transactions_of(sent.operation_id) if t.chain_id == 1]
            mined = receipt(w3, row.tx_hash)
            return row if mined is not None and row.block_number == mined["blockNumber"] else None

        again = await wait_for(resettled, timeout_s=30, what="the transaction mined again and the journal following it")
        assert again.tx_hash == sent.tx_hash and again.block_number > read_back.block_number  # after the read back
        assert w3.eth.get_block(read_back.block_number)["hash"].to_0x_hex() != read_back.block_hash  # replaced

        after_reorg = await reconcile(client, settings)
        assert after_reorg.status == "clean" and not after_reorg.tripped, after_reorg.summary
        (part,) = [p for p in after_reorg.chains if p.chain_id == 1]
        compared = {str(key(1, "aave-v3", "USDC")), str(key(1, "spark", "USDC")), str(STEAK), "1:idle:USDC"}
        assert part.kinds.get("discrepancy", 0) == 0 and not compared & set(part.uncached), part

        # The same setup, funds moved out behind the engine's back: found, and it trips the breaker.
        taken = take_behind_the_engines_back(w3, settings, 10)
        found = await reconcile(client, settings)
    assert found.status == "discrepancy" and found.tripped, found.summary
    (d,) = [d for p in found.chains for d in p.discrepancies]
    assert d.market == str(STEAK) and 990 <= d.relative_bps <= 1_010, d
    assert abs(int(d.expected) - int(d.actual) - taken) <= 10**6


def test_a_pinned_read_is_of_the_block_its_hash_names_and_fails_once_a_reorg_replaced_it(stack):
    """The reads an operation stores name their block by hash: every chunk reads that block, one
    header request more; after a reorg replaced it, a read at that hash fails, never answering
    from the block now at that height."""
    w3 = connect([stack.chains[1].rpc_url])
    # A block of the test's own to replace (the chains revert to the one before), not empty: an
    # empty block replaced by an empty one is the same block, hash and all.
    sender = w3.eth.accounts[0]
    sent = rpc(w3, "eth_sendTransaction", {"from": sender, "to": sender, "value": "0x1"})
    # anvil answers before it has mined the block: the read must be of that block, the head.
    mined = w3.eth.wait_for_transaction_receipt(sent, poll_latency=0.05)
    before = dict(request_counts(w3))
    reads = [read(MULTICALL3_ADDRESS, "getBlockNumber()")] * 12
    reader = MulticallReader(w3, gas_cap=1_000_000, gas_per_read=100_000)  # 10 reads a chunk: 2 chunks
    batch = reader.read_pinned(reads)
    used = {m: n - before.get(m, 0) for m, n in request_counts(w3).items() if n != before.get(m, 0)}
    assert batch.eth_calls == 2 and used == {"eth_getBlockByNumber": 1, "eth_call": 2}, used
    assert batch.block_number == mined["blockNumber"]
    assert batch.block_hash == w3.eth.get_block(batch.block_number)["hash"].to_0x_hex()
    seen = {decode_result(["uint256"], r, "getBlockNumber")[0] for r in batch.results}
    assert seen == {batch.block_number}
    rpc(w3, "anvil_reorg", 1, [])
    assert w3.eth.get_block(batch.block_number)["hash"].to_0x_hex() != batch.block_hash
    with pytest.raises(Exception, match="(?i)not found"):
        reader.read(reads, batch.block_hash)
