"""rebalance: one rebalance across every market on both chains (each vault's share price pushed
up by a donation, so every leg with more than one market drifts), through the EngineWorkflow
and its RebalanceWorkflow and transaction queues, against a plain script making the same
reads and the same transactions (one execute per batch, chains in threads). Both start from
the same anvil snapshot, alternating; the ratio durable / direct is the cost of durability."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from temporalio.service import RPCError

from client import Commander, ensure_engine
from client.txqueue import ensure_queue
from floor.batching import pack_batches
from floor.catalogue import engine_input, queue_input
from floor.chain.executor import ExecutorClient
from floor.chain.signer import LocalKeySigner
from floor.config import Settings
from floor.devnet.context import PARTICIPANT_SUPPLY, PRICES, TOKENS, USD_UNIT
from floor.devnet.deploy import fund
from floor.devnet.stack import CHAIN_IDS
from floor.engine import Operation
from floor.messages import AllocateResult, BuildMovesInput, ReadHoldingsInput
from floor.operations import RebalanceResult
from floor.planning.rebalance import Weight, plan_rebalance
from floor.txqueue import queue_id
from scripts.bench.harness import start_temporal
from scripts.bench.profile import history_spans, print_profile
from scripts.bench.wiring import BENCH_ACCESS, BENCH_ADMIN, chain_activities, deps
from workers.temporal import build_worker

# Each round: one durable run and one direct run, from the same snapshot. Nine, as a round varies
# by a third on two busy cores.
REBALANCE_ROUNDS = 9
TREASURY_USD = 300_000  # allocated per (chain, token), before the drift


def rebalance_settings(stack, task_queue: str, engine_id: str) -> Settings:
    """Every market deployed on both chains in the strategy, equal weights read per (chain,
    token) (a leg splits evenly between its markets); no cooldown, so rounds can follow each
    other. Native ETH is left out: it takes 32 ETH per validator, from deposit data."""
    chains = stack.chain_configs()
    markets = [
        (c["id"], m["protocol"], m["market"]) for c in chains for m in c["markets"] if m["adapter"] != "native_eth"
    ]
    weight = 10_000 // len(markets)
    return Settings(
        chains=chains,
        temporal={"task_queue": task_queue},
        strategy={
            "targets": [{"chain_id": c, "protocol": p, "market": m, "weight_bps": weight} for c, p, m in markets],
            "min_rebalance_interval_s": 0,
            "weights_of": "token",
        },
        engine={"workflow_id": engine_id},
        access=BENCH_ACCESS,
    )


def treasury(settings: Settings) -> dict[tuple[int, str], int]:
    """TREASURY_USD of every token a market of the strategy takes, in base units."""
    out = {}
    for t in settings.strategy.targets:
        token = settings.chain(t.chain_id).token(settings.chain(t.chain_id).market(t.protocol, t.market).asset)
        out[(t.chain_id, token.symbol)] = TREASURY_USD * USD_UNIT // PRICES[token.symbol] * 10**token.decimals
    return out


def donate_to_vaults(stack) -> None:
    """Mint each vault's underlying to the vault, as much as its other depositor put in: its share
    price nearly doubles, so the executor's position in it jumps against the rest of its leg."""
    for local in stack.chains.values():
        w3 = local.web3()
        for m in local.deployed.markets:
            if "vault" in m:
                amount = PARTICIPANT_SUPPLY[m["asset"]] * 10 ** TOKENS[m["asset"]][1]
                fund(w3, local.deployed, m["vault"], {m["asset"]: amount})


def snapshot(web3s) -> dict[int, str]:
    return {cid: w3.provider.make_request("evm_snapshot", [])["result"] for cid, w3 in web3s.items()}


def revert(web3s, snapshots: dict[int, str]) -> None:
    for cid, w3 in web3s.items():
        assert w3.provider.make_request("evm_revert", [snapshots[cid]])["result"], f"chain {cid}: revert failed"


async def stop_workflows(client, ids: list[str]) -> None:
    """Terminate the workflows that are running (the queues hold nonces the revert undoes)."""
    for workflow_id in ids:
        with contextlib.suppress(RPCError):  # not running
            await client.get_workflow_handle(workflow_id).terminate("bench round over")


async def durable_rebalance(client, settings: Settings, signer: str):
    """The engine asked for a rebalance, followed to its result: (seconds, result, the
    rebalance's workflow id, when it was asked)."""
    # The engine and the signer's queues run for ever in production: started, not timed.
    await ensure_engine(client, settings)
    for chain_id in CHAIN_IDS:
        await ensure_queue(client, settings.temporal.task_queue, queue_input(settings, chain_id, signer))
    at = datetime.now(UTC)
    start = time.perf_counter()
    started = await Commander(client, settings, BENCH_ADMIN).ask(Operation.REBALANCE, {"reason": "bench"})
    result = await client.get_workflow_handle(started.workflow_id, result_type=RebalanceResult).result()
    elapsed = time.perf_counter() - start
    threshold = settings.strategy.rebalance_drift_bps
    if result.status != "done" or not result.drift_before_bps > threshold >= result.drift_after_bps:
        raise AssertionError(f"durable rebalance did not bring the drift back: {result.status}: {result.summary}")
    return elapsed, result, started.workflow_id, at


def direct_chain(chains, signer: LocalKeySigner, chain_id: int, targets, threshold: int):
    """One chain as a plain script: the activities' chain code called directly, the legs
    built at once, one execute per batch signed and sent with pipelined nonces, the receipts
    waited for, the holdings read back. (moves, receipts, drift after)."""
    weights = [Weight(key=t.key, asset=t.asset, weight_bps=t.weight_bps) for t in targets if t.key.chain_id == chain_id]
    reads = holdings_input(targets, chain_id)
    plan = plan_rebalance(chains.read_holdings(reads).holdings, weights, threshold)
    legs = [BuildMovesInput(chain_id=chain_id, asset=leg.asset, moves=leg.moves) for leg in plan.legs if leg.moves]
    if not legs:
        return 0, [], plan.drift_bps
    with ThreadPoolExecutor(len(legs)) as pool:
        groups = [g for built in pool.map(chains.build_moves, legs) for g in built]
    ctx = chains.deps.chain(chain_id)
    client = ExecutorClient(ctx.w3, chain_id, ctx.config.executor, signer)
    nonce = ctx.w3.eth.get_transaction_count(signer.address, "pending")
    # Every batch simulated and signed before the first is sent, as the queue does (and the
    # estimates never race the node's mining of the one sent before).
    txs = [client.build([c for g in batch for c in g], nonce=nonce + i) for i, batch in enumerate(pack_batches(groups))]
    hashes = [ctx.w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw) for tx in txs]
    receipts = [ctx.w3.eth.wait_for_transaction_receipt(h, poll_latency=0.01) for h in hashes]
    after = plan_rebalance(chains.read_holdings(reads).holdings, weights, threshold)
    return len(plan.moves), receipts, after.drift_bps


def direct_rebalance(chains, signer: LocalKeySigner, targets, threshold: int) -> tuple[float, int, int]:
    """Every chain in its own thread: (seconds, moves, transactions)."""
    chain_ids = sorted({t.key.chain_id for t in targets})
    start = time.perf_counter()
    with ThreadPoolExecutor(len(chain_ids)) as pool:
        done = list(pool.map(lambda c: direct_chain(chains, signer, c, targets, threshold), chain_ids))
    elapsed = time.perf_counter() - start
    for chain_id, (_, receipts, drift_after) in zip(chain_ids, done, strict=True):
        if any(r["status"] != 1 for r in receipts) or drift_after > threshold:
            raise AssertionError(f"direct rebalance on chain {chain_id}: receipts {receipts}, drift {drift_after}")
    return elapsed, sum(d[0] for d in done), sum(len(d[1]) for d in done)


async def allocate_and_drift(client, settings: Settings, stack, stop: list[str]) -> None:
    """The treasury funded and allocated through the engine, then every vault's price pushed
    up; the engine and the queues of the allocation stopped."""
    amounts = treasury(settings)
    for (chain_id, asset), amount in amounts.items():
        local = stack.chains[chain_id]
        fund(local.web3(), local.deployed, local.deployed.executor, {asset: amount})
    await ensure_engine(client, settings)
    request = [{"chain_id": c, "asset": a, "amount": str(v)} for (c, a), v in amounts.items()]
    started = await Commander(client, settings, BENCH_ADMIN).ask(
        Operation.ALLOCATE, {"reason": "bench", "amounts": request}
    )
    allocated = await client.get_workflow_handle(started.workflow_id, result_type=AllocateResult).result()
    assert allocated.status == "done", allocated.summary
    await stop_workflows(client, [settings.engine_id, *stop])
    donate_to_vaults(stack)


async def bench_rebalance(stack, signer: LocalKeySigner) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    task_queue = f"bench-rebalance-{run}"
    settings = rebalance_settings(stack, task_queue, f"bench-engine-{run}-allocate")
    web3s = {cid: local.web3() for cid, local in stack.chains.items()}
    queues = [queue_id(cid, signer.address) for cid in CHAIN_IDS]
    targets, threshold = engine_input(settings).catalogue.targets, settings.strategy.rebalance_drift_bps
    direct = chain_activities(settings, signer)  # connections of its own, as a separate script has
    env = await start_temporal()
    try:
        client = env.client
        async with build_worker(client, task_queue, deps(settings, signer, web3s)):
            await allocate_and_drift(client, settings, stack, queues)
        for chain_id in CHAIN_IDS:  # warm the direct script's connections, as the worker's are
            direct.read_holdings(holdings_input(targets, chain_id))
        snapshots = snapshot(web3s)
        rows, profile = [], os.environ.get("FLOOR_BENCH_PROFILE")
        for n in range(1, REBALANCE_ROUNDS + 1):
            # A worker serves only its configured engine: each round's engine has one of its own.
            round_settings = rebalance_settings(stack, f"{task_queue}-{n}", f"bench-engine-{run}-{n}")
            async with build_worker(client, round_settings.temporal.task_queue, deps(round_settings, signer, web3s)):
                durable_s, result, rebalance_id, at = await durable_rebalance(client, round_settings, signer.address)
                if profile:
                    await _rebalance_profile(
                        client, n, durable_s, at, [round_settings.engine_id, rebalance_id, *queues]
                    )
                await stop_workflows(client, [round_settings.engine_id, *queues])
            revert(web3s, snapshots)
            snapshots = snapshot(web3s)
            direct_s, moves, transactions = await asyncio.to_thread(
                direct_rebalance, direct, signer, targets, threshold
            )
            revert(web3s, snapshots)
            snapshots = snapshot(web3s)
            durable_txs = sum(len(c.transactions) for c in result.chains)
            if (moves, transactions) != (len(result.moves), durable_txs):
                raise AssertionError(
                    f"not the same work: durable {len(result.moves)} moves in {durable_txs} transactions, "
                    f"direct {moves} moves in {transactions}"
                )
            rows.append((durable_s, direct_s))
            print(
                f"rebalance round {n}: durable {durable_s:.3f} s, direct {direct_s:.3f} s, "
                f"ratio {durable_s / direct_s:.2f} ({moves} moves, {transactions} transactions, "
                f"drift {result.drift_before_bps} -> {result.drift_after_bps} bps)"
            )
    finally:
        await env.shutdown()
    durable_s, direct_s = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    ratios = sorted(d / p for d, p in rows)  # side by side: each round's durable run against its direct run
    return {
        "rebalance.markets": len(targets),
        "rebalance.moves": moves,
        "rebalance.transactions": transactions,
        "rebalance.durable_s": round(durable_s, 3),
        "rebalance.direct_s": round(direct_s, 3),
        "rebalance.rounds": len(rows),
        "rebalance.overhead_ratio": round(statistics.median(ratios), 2),
        "rebalance.overhead_ratio_min": round(ratios[0], 2),
        "rebalance.overhead_ratio_max": round(ratios[-1], 2),
    }


def holdings_input(targets, chain_id: int):
    """What the RebalanceWorkflow reads on a chain: every market of the strategy there and the
    executor's balance of each of their tokens."""
    mine = [t for t in targets if t.key.chain_id == chain_id]
    return ReadHoldingsInput(chain_id=chain_id, keys=[t.key for t in mine], assets=sorted({t.asset for t in mine}))


async def _rebalance_profile(client, n: int, wall_s: float, at, workflow_ids: list[str]) -> None:
    """Where a durable round's time went (FLOOR_BENCH_PROFILE=1): the rebalance's and the
    queues' workflow tasks and activities, each waited for and run (scripts/bench/profile.py)."""
    print_profile(f"rebalance round {n}", wall_s, await history_spans(client, workflow_ids, at))
