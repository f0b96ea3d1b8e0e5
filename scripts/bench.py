"""`make bench`: the engine's benchmarks, printed as a table and written to bench-results.json
(a flat object, name -> number) so runs can be compared.

multicall.read100: reading 100 positions on one chain through one Multicall3 aggregate3,
against one eth_call per read, side by side in the same run on the same anvil.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eth_account import Account  # noqa: E402

from floor.adapters.registry import adapters_of_chain  # noqa: E402
from floor.chain.multicall import MulticallReader  # noqa: E402
from floor.chain.rpc import connect, request_counts  # noqa: E402
from floor.config import ChainConfig  # noqa: E402
from floor.devnet.deploy import deploy_chain  # noqa: E402
from floor.devnet.processes import free_port, start_anvil, stop_process  # noqa: E402

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


def main() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_anvil(port, 1, Path(tmp) / "anvil.log")
        try:
            url = f"http://127.0.0.1:{port}"
            deployed = deploy_chain(connect([url]), 1, Account.create().address)
            chain = ChainConfig.model_validate(deployed.chain_config(url))
            results = bench_multicall(url, chain)
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
