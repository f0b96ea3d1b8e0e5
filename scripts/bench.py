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

rebalance: one rebalance across every market on both chains (each vault's share price pushed
up by a donation, so every leg with more than one market drifts), through the EngineWorkflow
and its RebalanceWorkflow and transaction queues, against a plain script making the same
reads and the same transactions (one execute per batch, chains in threads). Both start from
the same anvil snapshot, alternating; the ratio durable / direct is the cost of durability.

reconcile.p200: 200 positions (100 vaults on each chain) reconciled against the store's cache,
the chains in parallel, one Multicall3 batch each, against a loop of one eth_call per value read;
requests counted at the RPC provider.

positions.all: every position of the full strategy on both chains (every market of every
protocol the local stack deploys), with its asset's Chainlink price and its growth index, as
the position report reads them: one Multicall3 eth_call per chain, against one eth_call per
read (pinned to one block read first); both decode into the same rows. Requests counted at
the RPC provider; wall time the median of interleaved rounds, both chains one after the other.

gas: the base fee predictor (floor/chain/basefee.py) replayed on 14,651 recorded mainnet blocks
(May 2023, $FLOOR_SHARED_DATA or shared/data next to the repository), 1, 3 and 10 blocks ahead:
its mean absolute error against "fee in h blocks = fee now" (gwei), their ratio, and how often
the 90% interval held the outcome. No chain.

rewards.read: the claimable rewards of every rewarding position on chain 1 (CRV of both Curve
gauges and crvUSD of the NG gauge's, Convex's CRV and CVX, Compound's COMP; the other
participant's positions, two days after the deployment), as the harvest reads them: one Multicall3
eth_call, against one eth_call per read (pinned to one block read first); both decode into the
same amounts. Requests counted at the RPC provider; wall time the median of interleaved rounds.

cli: the installed `floor` command as an operator starts it, a fresh process each run, median of
CLI_ROUNDS runs: `floor --help` (cli.help_ms), and `floor status` (cli.status_ms) against a fresh
engine on the bench's own Temporal dev server, its worker answering (in this process), with the
two chains' executors read (their `paused` flags) and a fresh SQLite store (no chain marks yet).

FLOOR_BENCH_ONLY=rebalance,txqueue (any of multicall, batch, txqueue, rebalance, reconcile, positions, rewards, gas, cli)
runs only
those; FLOOR_BENCH_PROFILE=1 prints where the queue's and the rebalance's time goes.
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
from web3.exceptions import Web3Exception  # noqa: E402

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
BENCHES = ("multicall", "batch", "txqueue", "rebalance", "reconcile", "positions", "rewards", "gas", "cli")

REBALANCE_ROUNDS = 3  # each: one durable run and one direct run, from the same snapshot
TREASURY_USD = 300_000  # allocated per (chain, token), before the drift


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


async def start_temporal():
    """A Temporal dev server of the bench's own (with the engine's search attribute)."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from workflows.engine import ENGINE_STATE

    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        port=free_port(),
        ui=False,
        search_attributes=[ENGINE_STATE],
    )


async def bench_queue(url: str, chain: ChainConfig, signer: LocalKeySigner) -> tuple[float, list[int]]:
    from activities.chain import ChainActivities
    from floor.txqueue import TxIntent
    from tests.integration.queue_helpers import QueueDriver, sent_by
    from workers.temporal import build_worker

    settings = Settings(chains=[chain.model_dump()])
    w3 = connect([url])
    env = await start_temporal()
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

    def guarded(amount: int, account: str = chain.executor):
        quote = adapter.decode_quote(
            Deposit(amount), reader.read(adapter.quote_reads(Deposit(amount), account)).results
        )
        return adapter.protected_calls(Deposit(amount), account, quote, 50)

    out: dict[str, float] = {}
    for k in (2, 5, 10):
        separate = sum(client.execute(guarded(10**6)).gas_used for _ in range(k))
        batched = client.execute([c for _ in range(k) for c in guarded(10**6)]).gas_used
        out[f"batch.k{k}.separate_gas"] = separate
        out[f"batch.k{k}.batched_gas"] = batched
        out[f"batch.k{k}.gas_saving_per_op"] = round((separate - batched) / (k - 1))
    out |= bench_guard_overhead(w3, chain, signer, guarded)
    return out


def bench_guard_overhead(w3, chain: ChainConfig, signer: LocalKeySigner, guarded) -> dict[str, float]:
    """The executor's loss bound in gas: 10 guarded deposits through the chain's executor against
    the same batch through an executor with the same rules naming no assets (nothing valued):
    into one vault (2 assets valued), and spread over the chain's USDC markets (one asset more
    per market, up to 10 markets)."""
    from dataclasses import replace

    from floor.adapters.registry import executor_setup
    from floor.chain.multicall import MulticallReader
    from floor.devnet.deploy import Deployer, configure_executor
    from floor.permissions import ExecutorSetup, PermissionSet

    setup = executor_setup(chain)
    bare = PermissionSet(
        tuple(replace(p, assets=(), key_word=0) for p in setup.permissions.rules), setup.permissions.members
    )
    d = Deployer(w3)
    plain = d.deploy("FloorExecutor", d.admin, signer.address, d.guardian).address
    configure_executor(w3, plain, ExecutorSetup(bare, setup.feeds, setup.bound, setup.tokens))
    usdc = chain.token("USDC").address
    for holder in (chain.executor, plain):
        d.send(d.at("TestERC20", usdc).functions.mint(holder, 100 * 10**6))
    markets = [a for a in adapters_of_chain(chain) if a.asset.symbol == "USDC"][:10]
    reader = MulticallReader(w3)

    def spread(account: str):
        calls = []
        for a in markets:
            quote = a.decode_quote(Deposit(10**6), reader.read(a.quote_reads(Deposit(10**6), account)).results)
            calls += a.protected_calls(Deposit(10**6), account, quote, 50)
        return calls

    def gas(account: str, calls) -> int:
        return ExecutorClient(w3, 1, account, signer).execute(calls).gas_used

    bounded, unbounded = (
        gas(chain.executor, [c for _ in range(10) for c in guarded(10**6)]),
        gas(plain, [c for _ in range(10) for c in guarded(10**6, plain)]),
    )
    bounded_spread, unbounded_spread = gas(chain.executor, spread(chain.executor)), gas(plain, spread(plain))
    return {
        "executor.k10.bounded_gas": bounded,
        "executor.k10.unbounded_gas": unbounded,
        "executor.guard_gas_overhead_pct": round(100 * (bounded - unbounded) / unbounded, 1),
        "executor.spread.markets": len(markets),
        "executor.spread.bounded_gas": bounded_spread,
        "executor.spread.unbounded_gas": unbounded_spread,
        "executor.spread.guard_gas_overhead_pct": round(
            100 * (bounded_spread - unbounded_spread) / unbounded_spread, 1
        ),
    }


# -- rebalance: durable against direct --------------------------------------------------------


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
    )


def treasury(settings: Settings) -> dict[tuple[int, str], int]:
    """TREASURY_USD of every token a market of the strategy takes, in base units."""
    from floor.devnet.deploy import PRICES, USD_UNIT

    out = {}
    for t in settings.strategy.targets:
        token = settings.chain(t.chain_id).token(settings.chain(t.chain_id).market(t.protocol, t.market).asset)
        out[(t.chain_id, token.symbol)] = TREASURY_USD * USD_UNIT // PRICES[token.symbol] * 10**token.decimals
    return out


def donate_to_vaults(stack) -> None:
    """Mint each vault's underlying to the vault, as much as its other depositor put in: its share
    price nearly doubles, so the executor's position in it jumps against the rest of its leg."""
    from floor.devnet.deploy import PARTICIPANT_SUPPLY, TOKENS

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
    from temporalio.service import RPCError

    for workflow_id in ids:
        try:
            await client.get_workflow_handle(workflow_id).terminate("bench round over")
        except RPCError:  # not running
            pass


async def durable_rebalance(client, settings: Settings):
    """The engine asked for a rebalance, followed to its result: (seconds, result, the
    rebalance's workflow id, when it was asked)."""
    from datetime import UTC, datetime

    from activities.engine import ask, ensure_engine
    from floor.engine import Operation
    from floor.operations import RebalanceResult

    await ensure_engine(client, settings)  # long-running in production: not timed
    at = datetime.now(UTC)
    start = time.perf_counter()
    started = await ask(client, settings.engine_id, Operation.REBALANCE, {"by": "bench"})
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
    from concurrent.futures import ThreadPoolExecutor

    from floor.batching import pack_batches
    from floor.messages import BuildMovesInput
    from floor.risk.rebalance import Weight, plan_rebalance

    weights = [Weight(key=t.key, asset=t.asset, weight_bps=t.weight_bps) for t in targets if t.key.chain_id == chain_id]
    reads = holdings_input(targets, chain_id)
    plan = plan_rebalance(chains.read_holdings(reads).holdings, weights, threshold)
    legs = [BuildMovesInput(chain_id=chain_id, asset=leg.asset, moves=leg.moves) for leg in plan.legs if leg.moves]
    if not legs:
        return 0, [], plan.drift_bps
    with ThreadPoolExecutor(len(legs)) as pool:
        groups = [g for built in pool.map(chains.build_moves, legs) for g in built]
    ctx = chains.chains[chain_id]
    client = ExecutorClient(ctx.w3, chain_id, ctx.config.executor, signer)
    nonce = ctx.w3.eth.get_transaction_count(signer.address, "pending")
    hashes = []
    for i, batch in enumerate(pack_batches(groups)):
        tx = client.build([c for g in batch for c in g], nonce=nonce + i)
        hashes.append(ctx.w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw))
    receipts = [ctx.w3.eth.wait_for_transaction_receipt(h, poll_latency=0.01) for h in hashes]
    after = plan_rebalance(chains.read_holdings(reads).holdings, weights, threshold)
    return len(plan.moves), receipts, after.drift_bps


def direct_rebalance(chains, signer: LocalKeySigner, targets, threshold: int) -> tuple[float, int, int]:
    """Every chain in its own thread: (seconds, moves, transactions)."""
    from concurrent.futures import ThreadPoolExecutor

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
    from activities.engine import ask, ensure_engine
    from floor.engine import Operation
    from floor.messages import AllocateResult

    amounts = treasury(settings)
    for (chain_id, asset), amount in amounts.items():
        local = stack.chains[chain_id]
        fund(local.web3(), local.deployed, local.deployed.executor, {asset: amount})
    await ensure_engine(client, settings)
    request = [{"chain_id": c, "asset": a, "amount": str(v)} for (c, a), v in amounts.items()]
    started = await ask(client, settings.engine_id, Operation.ALLOCATE, {"by": "bench", "amounts": request})
    allocated = await client.get_workflow_handle(started.workflow_id, result_type=AllocateResult).result()
    assert allocated.status == "done", allocated.summary
    await stop_workflows(client, [settings.engine_id, *stop])
    donate_to_vaults(stack)


async def bench_rebalance(stack, signer: LocalKeySigner) -> dict[str, float]:
    from activities.chain import ChainActivities
    from activities.engine import engine_input
    from floor.devnet.stack import CHAIN_IDS
    from floor.txqueue import queue_id
    from workers.temporal import build_worker

    run = uuid.uuid4().hex[:8]
    task_queue = f"bench-rebalance-{run}"
    settings = rebalance_settings(stack, task_queue, f"bench-engine-{run}-allocate")
    web3s = {cid: local.web3() for cid, local in stack.chains.items()}
    queues = [queue_id(cid, signer.address) for cid in CHAIN_IDS]
    targets, threshold = engine_input(settings).catalogue.targets, settings.strategy.rebalance_drift_bps
    direct = ChainActivities(settings, signer)  # connections of its own, as a separate script has
    env = await start_temporal()
    try:
        client = env.client
        async with build_worker(client, task_queue, ChainActivities(settings, signer, web3s)):
            await allocate_and_drift(client, settings, stack, queues)
            for chain_id in CHAIN_IDS:  # warm the direct script's connections, as the worker's are
                direct.read_holdings(holdings_input(targets, chain_id))
            snapshots = snapshot(web3s)
            rows, profile = [], os.environ.get("FLOOR_BENCH_PROFILE")
            for n in range(1, REBALANCE_ROUNDS + 1):
                round_settings = rebalance_settings(stack, task_queue, f"bench-engine-{run}-{n}")
                durable_s, result, rebalance_id, at = await durable_rebalance(client, round_settings)
                if profile:
                    await _rebalance_profile(client, n, durable_s, at, [rebalance_id, *queues])
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
    return {
        "rebalance.markets": len(targets),
        "rebalance.moves": moves,
        "rebalance.transactions": transactions,
        "rebalance.durable_s": round(durable_s, 3),
        "rebalance.direct_s": round(direct_s, 3),
        "rebalance.overhead_ratio": round(durable_s / direct_s, 2),
    }


def holdings_input(targets, chain_id: int):
    """What the RebalanceWorkflow reads on a chain: every market of the strategy there and the
    executor's balance of each of their tokens."""
    from floor.messages import ReadHoldingsInput

    mine = [t for t in targets if t.key.chain_id == chain_id]
    return ReadHoldingsInput(chain_id=chain_id, keys=[t.key for t in mine], assets=sorted({t.asset for t in mine}))


async def _rebalance_profile(client, n: int, wall_s: float, at, workflow_ids: list[str]) -> None:
    """Where a durable round's time went (FLOOR_BENCH_PROFILE=1): every activity of the
    rebalance and the queues, from when it was scheduled, how long it waited for a worker and
    how long it ran; the time no activity was running is Temporal's (workflow tasks, updates,
    signals, starts). Per workflow, its workflow tasks' time from scheduled to picked up."""
    spans, tasks = [], []
    for workflow_id in workflow_ids:
        scheduled, started, task_wait, task_count = {}, {}, 0.0, 0
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            t = (event.event_time.ToDatetime().replace(tzinfo=at.tzinfo) - at).total_seconds()
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled[event.event_id] = (event.activity_task_scheduled_event_attributes.activity_type.name, t)
            elif event.HasField("activity_task_started_event_attributes"):
                started[event.activity_task_started_event_attributes.scheduled_event_id] = t
            elif event.HasField("activity_task_completed_event_attributes"):
                sid = event.activity_task_completed_event_attributes.scheduled_event_id
                spans.append((scheduled[sid][1], started[sid], t, scheduled[sid][0], workflow_id.split("/")[-1][:16]))
            elif event.HasField("workflow_task_scheduled_event_attributes"):
                scheduled[event.event_id] = ("workflow task", t)
            elif event.HasField("workflow_task_started_event_attributes"):
                task_wait += t - scheduled[event.workflow_task_started_event_attributes.scheduled_event_id][1]
                task_count += 1
        tasks.append(f"{workflow_id.split('/')[-1][:16]} {task_count} in {task_wait:.3f} s")
    busy, end = 0.0, 0.0
    for _, begin, finish, _, _ in sorted(spans, key=lambda s: s[1]):  # union of the running intervals
        busy += max(0.0, finish - max(begin, end))
        end = max(end, finish)
    print(f"rebalance round {n}: {wall_s:.3f} s; activities running {busy:.3f} s, the rest {wall_s - busy:.3f} s")
    print(f"  workflow tasks, scheduled to picked up: {'; '.join(tasks)}")
    for sched, begin, finish, name, where in sorted(spans):
        print(f"  +{sched:6.3f} s {where:16} {name:16} waited {begin - sched:6.3f} s, ran {finish - begin:6.3f} s")


def main() -> None:
    from floor.logging import configure_logging

    configure_logging("WARNING")  # the engine's per-transaction lines would bury the table
    only = [b for b in os.environ.get("FLOOR_BENCH_ONLY", "").replace(" ", "").split(",") if b]
    if unknown := set(only) - set(BENCHES):
        sys.exit(f"FLOOR_BENCH_ONLY: unknown {sorted(unknown)}; choose from {', '.join(BENCHES)}")
    chosen = only or BENCHES
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if set(chosen) & {"multicall", "batch", "txqueue"}:
            results |= bench_one_chain(Path(tmp), chosen)
        if set(chosen) & {"rebalance", "reconcile", "positions", "rewards", "cli"}:
            results |= bench_two_chains(Path(tmp), chosen)
    if "gas" in chosen:
        results |= bench_gas()
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps(previous | results, indent=2, sort_keys=True) + "\n")
    width = max(len(k) for k in results)
    print(f"{'benchmark':<{width}}  value")
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")
    print(
        f"multicall: median of {ROUNDS} interleaved rounds; "
        f"rebalance: median of {REBALANCE_ROUNDS} alternating rounds; cli: median of {CLI_ROUNDS} runs; "
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
            queue_tps, queue_nonces = asyncio.run(bench_queue(url, chain, signer))
            plain_tps, plain_nonces = bench_plain_sender(w3, chain, signer)
            results |= {
                "txqueue.transfers": TRANSFERS,
                "txqueue.tx_per_s": round(queue_tps, 1),
                "txqueue.baseline_tx_per_s": round(plain_tps, 1),
                "txqueue.throughput_ratio": round(queue_tps / plain_tps, 2),
                "txqueue.nonces_contiguous": int(contiguous(queue_nonces) and contiguous(plain_nonces)),
            }
        return results
    finally:
        stop_process(proc)


def bench_two_chains(tmp: Path, chosen) -> dict[str, float]:
    """rebalance and reconcile on both chains of the local stack, everything deployed."""
    from floor.devnet.stack import CHAIN_IDS, new_operator_key, start_chains

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
        if "cli" in chosen:
            results |= asyncio.run(bench_cli(stack, signer, tmp))
        return results
    finally:
        stack.stop()


def bench_gas() -> dict[str, float]:
    """The base fee predictor against "fee in h blocks = fee now" on the recorded May 2023 series."""
    import csv

    from floor.chain.basefee import HORIZONS, replay

    data = Path(os.environ.get("FLOOR_SHARED_DATA") or REPO.parent / "shared" / "data") / "mainnet-basefee.csv"
    if not data.exists():
        sys.exit(f"gas: {data} absent (set FLOOR_SHARED_DATA to the directory holding mainnet-basefee.csv)")
    with data.open() as f:
        series = [int(row["base_fee_wei"]) for row in csv.DictReader(f)]
    results: dict[str, float] = {"gas.blocks": len(series)}
    for h in HORIZONS:
        stats = replay(series, h)
        results |= {
            f"gas.predict.mae_{h}": round(stats.mae / 1e9, 3),
            f"gas.naive.mae_{h}": round(stats.naive_mae / 1e9, 3),
            f"gas.predict.mae_ratio_{h}": round(stats.ratio, 3),
            f"gas.predict.coverage_{h}": round(stats.coverage, 3),
        }
    return results


CLI_ROUNDS = 7


async def floor_ms(*args: str) -> float:
    """The wall time of one run of the installed `floor` (a fresh process), in ms; it must exit 0."""
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "floor"),
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")},  # the config file only
    )
    _, err = await proc.communicate()
    elapsed_ms = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise AssertionError(f"floor {' '.join(args)} exited with {proc.returncode}: {err.decode().strip()}")
    return elapsed_ms


async def bench_cli(stack, signer: LocalKeySigner, tmp: Path) -> dict[str, float]:
    """`floor --help`, and `floor status` against a fresh engine on the bench's Temporal with its
    worker answering (in this process, between the runs' awaits); medians of CLI_ROUNDS runs."""
    import tomli_w

    from activities.chain import ChainActivities
    from activities.engine import ensure_engine
    from workers.temporal import build_worker

    run = uuid.uuid4().hex[:8]
    settings = Settings(
        chains=stack.chain_configs(),
        temporal={"task_queue": f"bench-cli-{run}"},
        engine={"workflow_id": f"bench-engine-{run}-cli"},
    )
    help_ms = [await floor_ms("--help") for _ in range(CLI_ROUNDS)]
    env = await start_temporal()
    try:
        data = settings.model_dump(mode="json", exclude_none=True)
        data["temporal"]["address"] = env.client.service_client.config.target_host
        data["store"] = {"url": f"sqlite:///{tmp / f'cli-{run}.db'}"}
        config = tmp / f"cli-{run}.toml"
        config.write_text(tomli_w.dumps(data))
        async with build_worker(env.client, settings.temporal.task_queue, ChainActivities(settings, signer)):
            await ensure_engine(env.client, settings)
            await floor_ms("status", "--config", str(config))  # the engine's first query: its worker warms up
            status_ms = [await floor_ms("status", "--config", str(config)) for _ in range(CLI_ROUNDS)]
    finally:
        await env.shutdown()
    return {
        "cli.help_ms": round(statistics.median(help_ms), 1),
        "cli.status_ms": round(statistics.median(status_ms), 1),
    }


RECONCILE_MARKETS = 100  # per chain: 200 positions on two chains


def bench_reconcile(stack, signer: LocalKeySigner, tmp: Path) -> dict[str, float]:
    """200 positions on two chains reconciled (one Multicall3 batch per chain, the chains in
    parallel) against a loop reading each position's values one eth_call at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from activities.chain import ChainActivities
    from activities.reconcile import ReconcileActivities
    from floor.devnet.deploy import Deployer
    from floor.reconcile import ReconcileChainInput
    from floor.store import Store

    configs = []
    for chain in stack.chains.values():
        config = chain.deployed.chain_config(chain.rpc_url)
        usdc = next(t for t in config["tokens"] if t["symbol"] == "USDC")["address"]
        d = Deployer(chain.web3())
        config["markets"] = [
            {
                "protocol": "metamorpho",
                "adapter": "erc4626",
                "market": f"v{i:03d}",
                "asset": "USDC",
                "vault": d.deploy("ERC4626Vault", usdc, f"v{i}", f"v{i}", d.admin).address,
            }
            for i in range(RECONCILE_MARKETS)
        ]
        configs.append(config)
    settings = Settings(chains=configs, store={"url": f"sqlite:///{tmp / 'bench-store.db'}"})
    store = Store.from_settings(settings)
    store.migrate()
    web3s = {cid: c.web3() for cid, c in stack.chains.items()}
    activities = ReconcileActivities(ChainActivities(settings, signer, web3s, store=store))

    def reconciled() -> None:
        with ThreadPoolExecutor(len(web3s)) as pool:
            list(pool.map(lambda c: activities.reconcile_chain(ReconcileChainInput(run_id="bench", chain_id=c)), web3s))

    def naive() -> None:
        for chain in settings.chains:
            w3 = web3s[chain.id]
            for adapter in activities.chains.registry.on_chain(chain.id):
                for r in adapter.position_reads(chain.executor) + adapter.rate_reads():
                    w3.eth.call({"to": r.target, "data": r.data})

    def requests() -> int:
        return sum(sum(request_counts(w3).values()) for w3 in web3s.values())

    walls, naive_walls = [], []
    for _ in range(5):
        before = requests()
        walls.append(timed(reconciled))
        used = requests() - before
        before = requests()
        naive_walls.append(timed(naive))
        naive_used = requests() - before
    wall, naive_wall = statistics.median(walls), statistics.median(naive_walls)
    return {
        "reconcile.p200.wall_s": round(wall, 4),
        "reconcile.p200.naive_wall_s": round(naive_wall, 4),
        "reconcile.p200.requests": used,
        "reconcile.p200.requests_per_chain": used / len(web3s),
        "reconcile.p200.naive_requests": naive_used,
        "reconcile.p200.speedup": round(naive_wall / wall, 1),
    }


POSITION_ROUNDS = 20


def bench_positions(stack) -> dict[str, float]:
    """Every market of both chains with prices and growth indexes: the report's one batch per
    chain against one eth_call per read."""
    from floor.adapters.registry import AdapterRegistry
    from floor.calls import ReadResult
    from floor.chain.multicall import ReadBatch
    from floor.chain.report import MarketReport, chain_report_rows, plan_chain_report, read_chain_report

    # The other participants' account: it holds a position in every market.
    chains = stack.chain_configs()
    for config, local in zip(chains, stack.chains.values(), strict=True):
        config["executor"] = local.deployed.participant
    settings = Settings(chains=chains)
    registry = AdapterRegistry.from_settings(settings)
    batched_w3 = {cid: c.web3() for cid, c in stack.chains.items()}
    naive_w3 = {cid: c.web3() for cid, c in stack.chains.items()}

    def batched() -> list[MarketReport]:
        rows = []
        for chain in settings.chains:
            rows += read_chain_report(chain, batched_w3[chain.id], registry.on_chain(chain.id), window_s=None)
        return rows

    def naive() -> list[MarketReport]:
        rows = []
        for chain in settings.chains:
            w3, adapters = naive_w3[chain.id], registry.on_chain(chain.id)
            plan, assets = plan_chain_report(chain, adapters)
            header = w3.eth.get_block("latest")
            results = []
            for r in plan.calls:
                try:
                    results.append(ReadResult(True, w3.eth.call({"to": r.target, "data": r.data}, header["number"])))
                except Web3Exception:  # a reverting read, as Multicall3 reports it
                    results.append(ReadResult(False, b""))
            batch = ReadBatch(results, header["number"], header["timestamp"], eth_calls=len(results))
            rows += chain_report_rows(chain, adapters, plan, assets, batch, {})
        return rows

    def requests(web3s) -> int:
        return sum(sum(request_counts(w3).values()) for w3 in web3s.values())

    # Both read every market (and warm up). Their amounts agree except where a read depends on
    # one before it in the same execution: Morpho's `accrueInterest` then `market(id)`, which a
    # call per read sees as of the market's last interaction (no accrual): counted, not hidden.
    first, second = batched(), naive()
    assert [(r.chain_id, r.protocol, r.market) for r in first] == [(r.chain_id, r.protocol, r.market) for r in second]
    differing = [r.protocol for r, n in zip(first, second, strict=True) if r.amount != n.amount]
    assert set(differing) <= {"morpho-blue"}, differing
    reads = sum(len(plan_chain_report(c, registry.on_chain(c.id))[0]) for c in settings.chains)
    walls, naive_walls = [], []
    before, naive_before = requests(batched_w3), requests(naive_w3)
    for _ in range(POSITION_ROUNDS):  # interleaved, so both see the same machine load
        walls.append(timed(batched))
        naive_walls.append(timed(naive))
    used = (requests(batched_w3) - before) / POSITION_ROUNDS
    naive_used = (requests(naive_w3) - naive_before) / POSITION_ROUNDS
    wall, naive_wall = statistics.median(walls), statistics.median(naive_walls)
    return {
        "positions.all.markets": len(registry),
        "positions.all.reads": reads,
        "positions.all.requests": used,
        "positions.all.requests_per_chain": used / len(settings.chains),
        "positions.all.naive_requests": naive_used,
        "positions.all.batched_ms": round(wall * 1000, 3),
        "positions.all.naive_ms": round(naive_wall * 1000, 3),
        "positions.all.speedup": round(naive_wall / wall, 1),
        "positions.all.naive_unaccrued_rows": len(differing),
    }


REWARD_ROUNDS = 20
REWARD_WAIT_S = 86_400  # a day, Convex earmarks, a day: every rewarding position has something to claim


def bench_rewards(stack) -> dict[str, float]:
    """Every rewarding position's claimable rewards on chain 1, read as the harvest reads them
    (one Multicall3 batch) against one eth_call per read. The chain's clock moves a day for it
    and is put back (a snapshot), so later benchmarks see the stack as deployed."""
    from floor.adapters.registry import AdapterRegistry
    from floor.calls import ReadResult
    from floor.readplan import ReadPlan

    chain = next(c for c in stack.chain_configs() if c["id"] == 1)
    local = stack.chains[1]
    chain["executor"] = local.deployed.participant  # it holds a position in every market
    settings = Settings(chains=[chain])
    batched_w3, naive_w3 = local.web3(), local.web3()
    account = chain["executor"]
    adapters = [a for a in AdapterRegistry.from_settings(settings).on_chain(1) if a.reward_reads(account)]
    plan = ReadPlan()
    for i, adapter in enumerate(adapters):
        plan.add(i, adapter.reward_reads(account))
    reader = MulticallReader(batched_w3)
    snapshot = batched_w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        from floor.devnet.deploy import Deployer

        d = Deployer(batched_w3)
        batched_w3.provider.make_request("evm_increaseTime", [REWARD_WAIT_S])
        batched_w3.provider.make_request("evm_mine", [])
        for m in chain["markets"]:  # Convex streams the gauge's CRV once someone earmarks it
            if m["adapter"] == "convex":
                d.send(d.at("ConvexBooster", m["booster"]).functions.earmarkRewards(m["pid"]), d.participant)
        batched_w3.provider.make_request("evm_increaseTime", [REWARD_WAIT_S])
        batched_w3.provider.make_request("evm_mine", [])

        def decoded(results) -> list:
            got = plan.results(results)
            return [(str(a.key), a.decode_rewards(got[i])) for i, a in enumerate(adapters)]

        def batched() -> list:
            return decoded(reader.read(plan.calls).results)

        def naive() -> list:
            block = naive_w3.eth.block_number
            results = []
            for r in plan.calls:
                try:
                    results.append(ReadResult(True, naive_w3.eth.call({"to": r.target, "data": r.data}, block)))
                except Web3Exception:  # a reverting read, as Multicall3 reports it
                    results.append(ReadResult(False, b""))
            return decoded(results)

        first, second = batched(), naive()  # both decode the same amounts (and warm up)
        assert first == second, (first, second)
        lines = [line for _, rewards in first for line in rewards]
        assert lines and all(line.amount > 0 for line in lines), first
        walls, naive_walls = [], []
        before, naive_before = sum(request_counts(batched_w3).values()), sum(request_counts(naive_w3).values())
        for _ in range(REWARD_ROUNDS):  # interleaved, so both see the same machine load
            walls.append(timed(batched))
            naive_walls.append(timed(naive))
        used = (sum(request_counts(batched_w3).values()) - before) / REWARD_ROUNDS
        naive_used = (sum(request_counts(naive_w3).values()) - naive_before) / REWARD_ROUNDS
    finally:
        batched_w3.provider.make_request("evm_revert", [snapshot])
    wall, naive_wall = statistics.median(walls), statistics.median(naive_walls)
    return {
        "rewards.read.positions": len(adapters),
        "rewards.read.tokens": len(lines),
        "rewards.read.reads": len(plan.calls),
        "rewards.read.requests": used,
        "rewards.read.naive_requests": naive_used,
        "rewards.read.batched_ms": round(wall * 1000, 3),
        "rewards.read.naive_ms": round(naive_wall * 1000, 3),
        "rewards.read.speedup": round(naive_wall / wall, 1),
    }


if __name__ == "__main__":
    main()
