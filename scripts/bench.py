"""`make bench`: the engine's benchmarks, printed as a table and written to bench-results.json
(a flat object, name -> number) so runs can be compared.

multicall.read100: reading 100 positions on one chain through one Multicall3 aggregate3,
against one eth_call per read, side by side in the same run on the same anvil.

txqueue: 300 executor transfers through TxQueueWorkflow (a real Temporal dev server, the
worker in this process) against a plain web3 loop that signs and sends the same
transactions with pipelined nonces and then waits for every receipt; same anvil, same run.
Both must end with contiguous nonces.

batch.kK: the gas of K guarded deposits in one execute(calls) against K transactions of one
deposit each, and the gas saved per extra operation batched.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import asyncio  # noqa: E402
import uuid  # noqa: E402

from eth_account import Account  # noqa: E402

from floor.adapters.base import Deposit  # noqa: E402
from floor.adapters.registry import adapters_of_chain  # noqa: E402
from floor.calls import call  # noqa: E402
from floor.chain.executor import ExecutorClient, encode_execute  # noqa: E402
from floor.chain.multicall import MulticallReader  # noqa: E402
from floor.chain.rpc import connect, request_counts  # noqa: E402
from floor.chain.signer import LocalKeySigner  # noqa: E402
from floor.config import (
    ChainConfig,  # noqa: E402
    Settings,  # noqa: E402
)
from floor.devnet.deploy import deploy_chain, fund  # noqa: E402
from floor.devnet.processes import free_port, start_anvil, stop_process, temporal_binary  # noqa: E402
from floor.devnet.stack import fund_signer  # noqa: E402

TRANSFERS = 300

ROUNDS = 20
RESULTS = REPO / "bench-results.json"


def hundred_position_reads(chain: ChainConfig):
    adapters = adapters_of_chain(chain)
    holders = [chain.executor] + [Account.create().address for _ in range(100 // len(adapters) + 1)]
    pairs = [(a, h) for h in holders for a in adapters][:100]
    return [r for adapter, holder in pairs for r in adapter.position_reads(holder)]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_multicall(rpc_url: str, chain: ChainConfig) -> dict[str, float]:
    reads = hundred_position_reads(chain)
    batched_w3, naive_w3 = connect([rpc_url]), connect([rpc_url])
    reader = MulticallReader(batched_w3)

    def batched():
        reader.read(reads)

    def naive():
        for r in reads:
            naive_w3.eth.call({"to": r.target, "data": r.data})

    batched(), naive()  # warm up connections
    before_batched, before_naive = sum(request_counts(batched_w3).values()), sum(request_counts(naive_w3).values())
    batched_times, naive_times = [], []
    for _ in range(ROUNDS):  # interleaved, so both see the same machine load
        batched_times.append(timed(batched))
        naive_times.append(timed(naive))
    batched_s, naive_s = statistics.median(batched_times), statistics.median(naive_times)
    return {
        "multicall.read100.reads": len(reads),
        "multicall.read100.requests": (sum(request_counts(batched_w3).values()) - before_batched) / ROUNDS,
        "multicall.read100.naive_requests": (sum(request_counts(naive_w3).values()) - before_naive) / ROUNDS,
        "multicall.read100.batched_ms": round(batched_s * 1000, 3),
        "multicall.read100.naive_ms": round(naive_s * 1000, 3),
        "multicall.read100.speedup": round(naive_s / batched_s, 2),
    }


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
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from activities.chain import ChainActivities
    from floor.txqueue import TxIntent
    from tests.integration.queue_helpers import QueueDriver, sent_by
    from workers.temporal import build_worker

    settings = Settings(chains=[chain.model_dump()])
    w3 = connect([url])
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter, port=free_port(), ui=False
    )
    try:
        task_queue = f"bench-{uuid.uuid4().hex[:8]}"
        async with build_worker(env.client, task_queue, ChainActivities(settings, signer)):
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
    from collections import defaultdict

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


def bench_batch_gas(w3, chain: ChainConfig, signer: LocalKeySigner) -> dict[str, float]:
    """K guarded deposits into one vault: one execute of K groups against K executes."""
    from floor.chain.multicall import MulticallReader

    adapter = next(a for a in adapters_of_chain(chain) if a.key.market == "steakUSDC")
    client = ExecutorClient(w3, 1, chain.executor, signer)
    reader = MulticallReader(w3)

    def guarded(amount: int):
        quote = adapter.decode_quote(
            Deposit(amount), reader.read(adapter.quote_reads(Deposit(amount), chain.executor)).results
        )
        return adapter.protected_calls(Deposit(amount), chain.executor, quote, 50)

    out: dict[str, float] = {}
    for k in (2, 5, 10):
        separate = sum(client.execute(guarded(10**6)).gas_used for _ in range(k))
        batched = client.execute([c for _ in range(k) for c in guarded(10**6)]).gas_used
        out[f"batch.k{k}.separate_gas"] = separate
        out[f"batch.k{k}.batched_gas"] = batched
        out[f"batch.k{k}.gas_saving_per_op"] = round((separate - batched) / (k - 1))
    return out


def main() -> None:
    from floor.logging import configure_logging

    configure_logging("WARNING")  # the engine's per-transaction lines would bury the table
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_anvil(port, 1, Path(tmp) / "anvil.log")
        try:
            url = f"http://127.0.0.1:{port}"
            w3 = connect([url])
            signer = LocalKeySigner.from_private_key(Account.create().key.hex())
            deployed = deploy_chain(w3, 1, signer.address)
            fund_signer(w3, signer.address, 10**22)
            fund(w3, deployed, deployed.executor, {"USDC": 10**15})
            chain = ChainConfig.model_validate(deployed.chain_config(url))
            results = bench_multicall(url, chain)
            results |= bench_batch_gas(w3, chain, signer)
            queue_tps, queue_nonces = asyncio.run(bench_queue(url, chain, signer))
            plain_tps, plain_nonces = bench_plain_sender(w3, chain, signer)
            results |= {
                "txqueue.transfers": TRANSFERS,
                "txqueue.tx_per_s": round(queue_tps, 1),
                "txqueue.baseline_tx_per_s": round(plain_tps, 1),
                "txqueue.throughput_ratio": round(queue_tps / plain_tps, 2),
                "txqueue.nonces_contiguous": int(contiguous(queue_nonces) and contiguous(plain_nonces)),
            }
        finally:
            stop_process(proc)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps(previous | results, indent=2, sort_keys=True) + "\n")
    width = max(len(k) for k in results)
    print(f"{'benchmark':<{width}}  value   (median of {ROUNDS} interleaved rounds)")
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
