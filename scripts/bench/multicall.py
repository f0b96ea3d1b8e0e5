"""multicall.read100: reading 100 positions on one chain through one Multicall3 aggregate3,
against one eth_call per read, side by side in the same run on the same anvil."""

from __future__ import annotations

import statistics

from eth_account import Account

from floor.adapters.registry import adapters_of_chain
from floor.chain.multicall import MulticallReader
from floor.chain.rpc import connect, request_counts
from floor.config import ChainConfig
from scripts.bench.harness import timed

ROUNDS = 20


def hundred_position_reads(chain: ChainConfig):
    adapters = adapters_of_chain(chain)
    holders = [chain.executor] + [Account.create().address for _ in range(100 // len(adapters) + 1)]
    pairs = [(a, h) for h in holders for a in adapters][:100]
    return [r for adapter, holder in pairs for r in adapter.position_reads(holder)]


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
