"""txqueue: 300 executor transfers through TxQueueWorkflow (a real Temporal dev server, the
worker in this process) against a plain web3 loop that signs and sends the same
transactions with pipelined nonces and then waits for every receipt; same anvil, same run.
Both must end with contiguous nonces."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import defaultdict

from floor.calls import call
from floor.chain.executor import ExecutorClient, encode_execute
from floor.chain.rpc import connect
from floor.chain.signer import LocalKeySigner
from floor.config import ChainConfig, Settings
from floor.devnet.stack import sent_by
from floor.txqueue import TxIntent
from scripts.bench.harness import start_temporal
from scripts.bench.queue_driver import QueueDriver
from scripts.bench.wiring import deps
from workers.temporal import build_worker

TRANSFERS = 300


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


async def bench_queue(url: str, chain: ChainConfig, signer: LocalKeySigner) -> tuple[float, list[int]]:
    settings = Settings(chains=[chain.model_dump()])
    w3 = connect([url])
    env = await start_temporal()
    try:
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, task_queue, deps(settings, signer)):
            driver = QueueDriver(env.client, task_queue, settings, signer.address, max_in_flight=128, send_batch=64)
            await driver.send(TxIntent(id="warm-up", chain_id=1, groups=[[_transfer(chain, 1)]]))
            await driver.outcome("warm-up")
            first_block = w3.eth.block_number + 1
            ids = [f"bench/{i}" for i in range(TRANSFERS)]
            start = time.perf_counter()
            await driver.send_many(
                [
                    TxIntent(id=intent_id, chain_id=1, groups=[[_transfer(chain, i + 1)]])
                    for i, intent_id in enumerate(ids)
                ]
            )
            outcomes = await driver.outcomes(ids, timeout_s=600)
            elapsed = time.perf_counter() - start
            if os.environ.get("FLOOR_BENCH_PROFILE"):
                await _profile(driver.handle)
        assert all(o.ok for o in outcomes.values())
        return TRANSFERS / elapsed, [t["nonce"] for t in sent_by(w3, signer.address, first_block)]
    finally:
        await env.shutdown()


async def _profile(handle) -> None:
    """Time per activity type in the queue's history (FLOOR_BENCH_PROFILE=1)."""
    scheduled, totals, counts = {}, defaultdict(float), defaultdict(int)
    async for event in handle.fetch_history_events():
        t = event.event_time.ToDatetime()
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, t)
        elif event.HasField("activity_task_completed_event_attributes"):
            name, start = scheduled[event.activity_task_completed_event_attributes.scheduled_event_id]
            totals[name] += (t - start).total_seconds()
            counts[name] += 1
    for name in sorted(totals, key=totals.get, reverse=True):
        print(f"  {name:24} {counts[name]:5} calls {totals[name]:7.2f} s")


def contiguous(nonces: list[int]) -> bool:
    return sorted(nonces) == list(range(min(nonces), min(nonces) + len(nonces))) and len(nonces) == TRANSFERS


def bench_txqueue(url: str, w3, chain: ChainConfig, signer: LocalKeySigner) -> dict[str, float]:
    """The queue's throughput against the plain sender's, on the same anvil."""
    queue_tps, queue_nonces = asyncio.run(bench_queue(url, chain, signer))
    plain_tps, plain_nonces = bench_plain_sender(w3, chain, signer)
    return {
        "txqueue.transfers": TRANSFERS,
        "txqueue.tx_per_s": round(queue_tps, 1),
        "txqueue.baseline_tx_per_s": round(plain_tps, 1),
        "txqueue.throughput_ratio": round(queue_tps / plain_tps, 2),
        "txqueue.nonces_contiguous": int(contiguous(queue_nonces) and contiguous(plain_nonces)),
    }
