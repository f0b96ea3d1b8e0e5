"""txqueue: 300 executor transfers through TxQueueWorkflow (a real Temporal dev server, the
worker in this process) against a plain web3 loop that signs and sends the same
transactions with pipelined nonces and then waits for every receipt; same anvil, same run.
Both must end with contiguous nonces."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime

from floor.calls import call
from floor.chain.executor import ExecutorClient, encode_execute
from floor.chain.rpc import connect
from floor.chain.signer import LocalKeySigner
from floor.config import ChainConfig, Settings
from floor.devnet.stack import sent_by
from floor.txqueue import TxIntent
from scripts.bench.harness import start_temporal
from scripts.bench.profile import history_spans, print_profile
from scripts.bench.queue_driver import QueueDriver
from scripts.bench.wiring import deps
from workers.temporal import build_worker

TRANSFERS = 300
ROUNDS = 5  # alternating: the queue's burst, then the plain sender's


def _transfer(chain: ChainConfig, amount: int):
    return call(chain.token("USDC").address, "transfer(address,uint256)", chain.destinations[0], amount)


def bench_plain_sender(w3, chain: ChainConfig, signer: LocalKeySigner) -> tuple[float, list[int]]:
    """The baseline: sign and send with pipelined nonces, then wait for every receipt."""
    client = ExecutorClient(w3, 1, chain.executor, signer)
    template = client.build([_transfer(chain, 1)])  # gas and fees once, as a tight loop would
    start_nonce = w3.eth.get_transaction_count(signer.address)
    start = time.perf_counter()
    hashes = []
    for i in range(TRANSFERS):
        data = "0x" + encode_execute([_transfer(chain, i + 1)]).hex()
        signed = signer.sign_transaction({**template, "nonce": start_nonce + i, "data": data})
        hashes.append(w3.eth.send_raw_transaction(signed.raw))
    for h in hashes:
        w3.eth.wait_for_transaction_receipt(h, poll_latency=0.01)
    elapsed = time.perf_counter() - start
    return TRANSFERS / elapsed, [w3.eth.get_transaction(h)["nonce"] for h in hashes]


async def queue_round(client, driver: QueueDriver, w3, chain: ChainConfig, n: int) -> tuple[float, list[int]]:
    """One burst through a queue started afresh (it reads the nonce the plain rounds moved):
    (tx/s, the nonces it sent). The queue is terminated after, so the next plain round owns
    the signer's nonces alone."""
    await driver.send(TxIntent(id=f"warm-up/{n}", chain_id=1, groups=[[_transfer(chain, 1)]]))
    await driver.outcome(f"warm-up/{n}")
    first_block = w3.eth.block_number + 1
    ids = [f"bench/{n}/{i}" for i in range(TRANSFERS)]
    at, start = datetime.now(UTC), time.perf_counter()
    await driver.send_many(
        [TxIntent(id=intent_id, chain_id=1, groups=[[_transfer(chain, i + 1)]]) for i, intent_id in enumerate(ids)]
    )
    outcomes = await driver.outcomes(ids, timeout_s=600)
    elapsed = time.perf_counter() - start
    if os.environ.get("FLOOR_BENCH_PROFILE"):
        await _profile(client, driver.handle, elapsed, at)
    await driver.handle.terminate("bench round over")
    assert all(o.ok for o in outcomes.values())
    return TRANSFERS / elapsed, [t["nonce"] for t in sent_by(w3, driver.queue.signer, first_block)]


async def bench_rounds(url: str, w3, chain: ChainConfig, signer: LocalKeySigner) -> list[tuple[float, float, bool]]:
    """ROUNDS alternating rounds, the queue's then the plain sender's, on one Temporal server
    and worker: (queue tx/s, plain tx/s, both nonces contiguous) per round."""
    settings = Settings(chains=[chain.model_dump()])
    env = await start_temporal()
    rows = []
    try:
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, task_queue, deps(settings, signer)):
            driver = QueueDriver(env.client, task_queue, settings, signer.address, max_in_flight=128, send_batch=64)
            for n in range(1, ROUNDS + 1):
                queue_tps, queue_nonces = await queue_round(env.client, driver, connect([url]), chain, n)
                plain_tps, plain_nonces = await asyncio.to_thread(bench_plain_sender, w3, chain, signer)
                rows.append((queue_tps, plain_tps, contiguous(queue_nonces) and contiguous(plain_nonces)))
                print(
                    f"txqueue round {n}: queue {queue_tps:.0f} tx/s, plain {plain_tps:.0f} tx/s, "
                    f"ratio {queue_tps / plain_tps:.2f}"
                )
    finally:
        await env.shutdown()
    return rows


async def _profile(client, handle, wall_s: float, at: datetime) -> None:
    """Where the queue's time went (FLOOR_BENCH_PROFILE=1): its workflow tasks and activities
    by kind, waited for and run (scripts/bench/profile.py)."""
    print_profile("txqueue", wall_s, await history_spans(client, [handle.id], at), timeline=False)


def contiguous(nonces: list[int]) -> bool:
    return sorted(nonces) == list(range(min(nonces), min(nonces) + len(nonces))) and len(nonces) == TRANSFERS


def bench_txqueue(url: str, w3, chain: ChainConfig, signer: LocalKeySigner) -> dict[str, float]:
    """The queue's throughput against the plain sender's, on the same anvil, alternating."""
    rows = asyncio.run(bench_rounds(url, w3, chain, signer))
    ratios = sorted(q / p for q, p, _ in rows)
    return {
        "txqueue.transfers": TRANSFERS,
        "txqueue.rounds": len(rows),
        "txqueue.tx_per_s": round(statistics.median(q for q, _, _ in rows), 1),
        "txqueue.baseline_tx_per_s": round(statistics.median(p for _, p, _ in rows), 1),
        "txqueue.throughput_ratio": round(statistics.median(ratios), 2),
        "txqueue.throughput_ratio_min": round(ratios[0], 2),
        "txqueue.throughput_ratio_max": round(ratios[-1], 2),
        "txqueue.nonces_contiguous": int(all(ok for _, _, ok in rows)),
    }
