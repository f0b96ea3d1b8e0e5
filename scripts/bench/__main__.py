"""`make bench` (`python -m scripts.bench`): run the chosen benchmarks, print the table, write bench-results.json."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from eth_account import Account

from floor.chain.rpc import connect
from floor.chain.signer import LocalKeySigner
from floor.config import ChainConfig
from floor.devnet.deploy import deploy_chain, fund
from floor.devnet.processes import free_port, start_anvil, stop_process
from floor.devnet.stack import CHAIN_IDS, fund_signer, new_operator_key, start_chains
from floor.logging import configure_logging
from scripts.bench.api import bench_api
from scripts.bench.batch import bench_batch_gas
from scripts.bench.cli import CLI_ROUNDS, bench_cli
from scripts.bench.gas import bench_gas
from scripts.bench.harness import BENCHES, RESULTS, print_table, write_results
from scripts.bench.metrics import SCRAPES, bench_metrics
from scripts.bench.multicall import ROUNDS, bench_multicall
from scripts.bench.panic import bench_panic
from scripts.bench.pause import PAUSES, bench_pause
from scripts.bench.positions import bench_positions
from scripts.bench.rebalance import REBALANCE_ROUNDS, bench_rebalance
from scripts.bench.reconcile import bench_reconcile
from scripts.bench.rewards import bench_rewards
from scripts.bench.soak import bench_soak
from scripts.bench.txqueue import ROUNDS as TXQUEUE_ROUNDS
from scripts.bench.txqueue import bench_txqueue
from scripts.bench.ui import bench_ui


def main() -> None:
    configure_logging("WARNING")  # the engine's per-transaction lines would bury the table
    only = [b for b in os.environ.get("FLOOR_BENCH_ONLY", "").replace(" ", "").split(",") if b]
    if unknown := set(only) - set(BENCHES):
        sys.exit(f"FLOOR_BENCH_ONLY: unknown {sorted(unknown)}; choose from {', '.join(BENCHES)}")
    chosen = only or BENCHES
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if set(chosen) & {"multicall", "batch", "txqueue"}:
            results |= bench_one_chain(Path(tmp), chosen)
        if set(chosen) & {"rebalance", "reconcile", "positions", "rewards", "cli", "metrics", "panic", "ui"}:
            results |= bench_two_chains(Path(tmp), chosen)
    if "gas" in chosen:
        results |= bench_gas()
    if "api" in chosen:
        results |= bench_api()
    if "soak" in chosen:
        results |= bench_soak()  # a stack of its own: a Temporal server it restarts, a worker it kills
    write_results(results)
    print_table(results)
    print(
        f"multicall: median of {ROUNDS} interleaved rounds; "
        f"rebalance: median of {REBALANCE_ROUNDS} alternating rounds; txqueue: median of {TXQUEUE_ROUNDS}; cli: median of {CLI_ROUNDS} runs; "
        f"metrics: median and p99 of {SCRAPES} scrapes; pause: p50 and p99 of {PAUSES} pauses; "
        f"written to {RESULTS}"
    )


def bench_one_chain(tmp: Path, chosen) -> dict[str, float]:
    """multicall, batch and txqueue on one anvil chain."""
    port = free_port()
    proc = start_anvil(port, 1, tmp / "anvil.log")
    try:
        url = f"http://127.0.0.1:{port}"
        w3 = connect([url])
        signer = LocalKeySigner.from_private_key(Account.create().key.hex())
        deployed = deploy_chain(w3, 1, signer.address)
        fund_signer(w3, signer.address, 10**22)
        fund(w3, deployed, deployed.executor, {"USDC": 10**15})
        chain = ChainConfig.model_validate(deployed.chain_config(url))
        results = bench_multicall(url, chain) if "multicall" in chosen else {}
        if "batch" in chosen:
            results |= bench_batch_gas(w3, chain, signer)
        if "txqueue" in chosen:
            results |= bench_txqueue(url, w3, chain, signer)
        return results
    finally:
        stop_process(proc)


def bench_two_chains(tmp: Path, chosen) -> dict[str, float]:
    """rebalance, reconcile, positions, rewards, cli, metrics and ui on both chains of the local
    stack, everything deployed."""
    signer = LocalKeySigner.from_private_key(new_operator_key())
    stack = start_chains({chain_id: free_port() for chain_id in CHAIN_IDS}, signer.address, tmp)
    try:
        results = bench_reconcile(stack, signer, tmp) if "reconcile" in chosen else {}
        if "positions" in chosen:
            results |= bench_positions(stack)
        if "rewards" in chosen:
            results |= bench_rewards(stack)
        if "rebalance" in chosen:
            results |= asyncio.run(bench_rebalance(stack, signer))
            results |= asyncio.run(bench_pause(stack, signer))  # on the chains the rebalance left drifted
        if "cli" in chosen:
            results |= asyncio.run(bench_cli(stack, signer, tmp))
        if "metrics" in chosen:
            results |= bench_metrics(stack, tmp)
        if "ui" in chosen:
            results |= bench_ui(stack, tmp)
        if "panic" in chosen:
            results |= asyncio.run(bench_panic(stack, signer))
        return results
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
