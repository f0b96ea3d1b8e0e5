"""The engine's reads write the numbers the exporter renders (`floor.metrics`), on the anvil
chains, a real Temporal dev server and a real store: a reconciliation records every strategy
market and idle balance as `floor positions --json` reports them at its block, and the signer's
gas balance; operations that finish through the engine write their duration, slippage, yield
and failed parts once; every failed activity attempt is one error event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import Session, select
from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from activities.chain import ChainActivities
from activities.deps import Deps
from activities.errors import named_errors
from activities.reconcile import ReconcileActivities
from client import ensure_engine, reconcile
from floor.chain.errors import RpcUnavailable
from floor.chain.report import exact, read_idle_report, read_report
from floor.devnet.context import Deployer
from floor.engine import Operation
from floor.messages import ReadHoldingsInput
from floor.metrics import labels_of
from floor.observations import move_slippage, observe_operation
from floor.store import Store
from floor.store.tables import MetricEvent
from tests.integration.engine_helpers import (
    allocate_request,
    engine_settings,
    fund,
    key,
    run_operation,
    start_allocated,
    wait_for,
)
from tests.integration.helpers import advance_time, contract, mint
from tests.integration.test_reconcile import with_store
from workers.temporal import build_worker

AAVE = key(1, "aave-v3", "USDC")


def events(store: Store, name: str) -> list[MetricEvent]:
    with Session(store.engine) as session:
        return list(session.exec(select(MetricEvent).where(MetricEvent.name == name).order_by(MetricEvent.key)))


# ---------------------------------------------------------------------------- market marks


async def test_a_reconciliation_records_what_floor_positions_reports_at_its_block(
    temporal_env, stack, web3s, signer, task_queue, tmp_path, cli
):
    """The most important numbers: TVL and positions. The marks a reconciliation stores are
    `floor positions --json` at the reconciliation's block, row for row, and their values sum
    to its total value; a report pinned to that block later still reads them."""
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    cli.use(settings)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await start_allocated(client, settings, web3s)
        mint(web3s[1], settings.chain(1).token("USDC").address, settings.chain(1).executor, 1_234 * 10**6)  # idle
        reconciled = await reconcile(client, settings)
        shown = await cli("positions", "--json")
    assert shown.code == 0, shown.err
    blocks = {part.chain_id: part.block_number for part in reconciled.chains}
    marks = store.latest_market_marks()
    assert {m.chain_id: m.block_number for m in marks} == blocks
    report = shown.json()
    # Nothing was mined since the reconciliation (anvil mines on transactions only): the CLI
    # read the same blocks.
    assert {(r["chain_id"], r["block_number"]) for r in report["positions"] + report["idle"]} == set(blocks.items())

    by_market = {m.market: m for m in marks}
    assert len(by_market) == len(report["positions"]) + len(report["idle"]) == len(marks)
    for row in report["positions"]:
        mark = by_market[f"{row['chain_id']}:{row['protocol']}:{row['market']}"]
        assert (mark.protocol, mark.asset, mark.decimals) == (row["protocol"], row["asset"], row["decimals"])
        assert (str(mark.amount), str(mark.withdrawable), mark.value_usd) == (
            row["amount"],
            row["withdrawable"],
            row["value"],
        )
        assert (mark.apy, mark.apy_source, mark.exit_slippage_bps) == (
            row["apy"],
            row["apy_source"],
            row["exit_slippage_bps"],
        )
        assert (mark.liquidity_ratio_bps, str(mark.max_safe_withdrawal)) == (
            row["liquidity"]["ratio_bps"],
            row["liquidity"]["max_safe_withdrawal"],
        )
    for row in report["idle"]:
        mark = by_market[f"{row['chain_id']}:idle:{row['asset']}"]
        assert (mark.protocol, str(mark.amount), mark.value_usd) == ("idle", row["amount"], row["value"])
    assert by_market["1:idle:USDC"].amount == 1_234 * 10**6
    # TVL: the marks' values sum to the report's total; positions: the markets held, per chain.
    assert sum(Decimal(m.value_usd) for m in marks) == Decimal(report["total_value"])
    held = sorted((m.chain_id, m.protocol) for m in marks if m.amount > 0 and m.protocol != "idle")
    assert held == sorted((r["chain_id"], r["protocol"]) for r in report["positions"] if int(r["amount"]) > 0)
    assert len(held) == 7

    # The signer's gas balance, in ETH, at the reconciliation.
    gas = {labels_of(g.labels)["chain"]: g.value for g in store.gauges(["floor_engine_signer_gas_balance_eth"])}
    assert gas == {str(c): web3s[c].eth.get_balance(signer.address) / 10**18 for c in (1, 42161)}

    # Later blocks (interest accrues): a report pinned to the reconciliation's blocks still
    # reads the marks; the latest does not.
    for w3 in web3s.values():
        advance_time(w3, 86_400)
    pinned = read_report(settings, web3s, exit_quotes=True, chains=[1], blocks={1: blocks[1]})
    assert {str(AAVE): r.amount for r in pinned if (r.protocol, r.market) == ("aave-v3", "USDC")} == {
        str(AAVE): by_market[str(AAVE)].amount
    }
    assert [r.chain_id for r in pinned] == [1] * len(pinned)
    latest = {(r.protocol, r.market): r.amount for r in read_report(settings, web3s, chains=[1], window_s=None)}
    assert latest["aave-v3", "USDC"] > by_market[str(AAVE)].amount
    (idle_then,) = [
        i for i in read_idle_report(settings, web3s, chains=[1], blocks={1: blocks[1]}) if i.asset == "USDC"
    ]
    assert (idle_then.amount, format(idle_then.value, "f")) == (1_234 * 10**6, by_market["1:idle:USDC"].value_usd)


async def test_a_stale_price_leaves_the_marks_unvalued_and_the_reconciliation_stands(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await start_allocated(client, settings, web3s)
        advance_time(web3s[1], 3 * 86_400, keep_feeds_fresh=False)  # past every feed's heartbeat
        reconciled = await reconcile(client, settings)
    assert reconciled.status == "clean", reconciled.summary
    marks = {m.market: m for m in store.latest_market_marks([1])}
    assert marks[str(AAVE)].amount > 0 and all(m.value_usd is None for m in marks.values())
    priced = store.latest_market_marks([42161])  # its feeds are fresh
    assert priced and all(m.value_usd is not None for m in priced)


# ---------------------------------------------------------------------------- operations


async def test_operations_through_the_engine_write_their_events_once(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    settings, store = with_store(engine_settings(stack, task_queue, harvest_cooldown_s=0), tmp_path)
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        allocated = await start_allocated(client, settings, web3s)
        mint(web3s[1], settings.chain(1).token("USDC").address, steak_vault(settings), 1_500_000 * 10**6)  # drift
        advance_time(web3s[1], 30 * 86_400)
        rebalanced = await run_operation(client, settings, Operation.REBALANCE, {"by": "test", "reason": "drift"})
        await run_operation(client, settings, Operation.HARVEST, {"by": "test"})  # the baseline
        for w3 in web3s.values():
            advance_time(w3, 90 * 86_400)
        harvested = await run_operation(client, settings, Operation.HARVEST, {"by": "test"})
        engine = settings.engine_id

        async def stored():  # the journal writes off the operations' path
            return bool(events(store, "floor_engine_harvest_yield_total"))

        await wait_for(stored, what="the harvest's yield in the store")
    assert rebalanced.status == "done" and harvested.status == "done", (rebalanced.summary, harvested.summary)

    (duration,) = events(store, "floor_engine_rebalance_duration_seconds")
    assert duration.key == f"{engine}/rebalance-2" and 0 < duration.value < 120

    slippage = events(store, "floor_engine_move_slippage_bps")
    planned = [(o.key, o.planned, o.realised) for o in allocated.outcomes] + [
        (m.key, m.planned, m.realised) for m in rebalanced.moves
    ]
    assert len(slippage) == len(planned) == 10  # 7 deposits, then 1 withdrawal and 2 deposits
    assert sorted((labels_of(e.labels)["chain"], labels_of(e.labels)["protocol"], e.value) for e in slippage) == sorted(
        (str(k.chain_id), k.protocol, move_slippage(p, r)) for k, p, r in planned
    )
    assert all(0 <= e.value < 1 for e in slippage)  # rounding only: well under a basis point

    yields = {
        (labels_of(e.labels)["chain"], labels_of(e.labels)["token"], labels_of(e.labels)["source"]): e.value
        for e in events(store, "floor_engine_harvest_yield_total")
    }
    decimals = {(y.key.chain_id, y.asset): y.decimals for y in harvested.yields}
    expected = {}
    for name, amount in harvested.totals.items():  # whole tokens
        chain, token, source = name.split(":")
        if amount > 0:
            expected[chain, token, source] = float(exact(amount, decimals[int(chain), token]))
    assert yields == expected
    assert yields["1", "USDC", "rebase"] > 0 and yields["42161", "USDC", "exchange_rate"] > 0
    assert not events(store, "floor_engine_errors_total")  # nothing failed

    # The journal sent again (an activity's retry): nothing counts twice.
    before = store.metric_sums()
    now = datetime.now(UTC)
    again = {
        "engine_id": engine,
        "events": [],
        "operations": [
            observe_operation("rebalance", f"{engine}/rebalance-2", now - timedelta(seconds=5), now, rebalanced),
            observe_operation("harvest", f"{engine}/harvest-4", now, now, harvested),
        ],
    }
    again["operations"] = [o.model_dump(mode="json") for o in again["operations"]]
    ReconcileActivities(Deps(settings, signer, web3s, store=store)).record_engine_events(again)
    assert store.metric_sums() == before


async def test_a_failed_chain_part_is_an_error_of_its_chain_and_type(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    client = temporal_env.client
    executor = contract(web3s[42161], "FloorExecutor", settings.chain(42161).executor)
    guardian = Deployer(web3s[42161]).guardian
    Deployer(web3s[42161]).send(executor.functions.pause(), guardian)  # chain 42161 refuses everything
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        fund(settings, web3s)
        result = await run_operation(client, settings, Operation.ALLOCATE, allocate_request())
        operation_id = f"{settings.engine_id}/allocate-1"

        async def part_stored():
            return [e for e in events(store, "floor_engine_errors_total") if e.key.startswith(f"{operation_id}/")]

        (part,) = await wait_for(part_stored, what="the failed part's error in the store")
    assert result.status == "partial"
    assert labels_of(part.labels) == {"chain": "42161", "protocol": "", "type": "ExecutionReverted"}
    assert (part.key, part.value) == (f"{operation_id}/failed-0", 1.0)


# ---------------------------------------------------------------------------- failed attempts


class Flaky:
    """A read that fails with a retryable error until its third attempt."""

    def __init__(self, deps: Deps):
        self.deps = deps
        self.attempts = 0

    @activity.defn(name="flaky_read")
    @named_errors
    def flaky_read(self, input: ReadHoldingsInput) -> int:
        self.attempts += 1
        if activity.info().attempt < 3:
            raise RpcUnavailable(f"every RPC URL of chain {input.chain_id} failed (attempt {self.attempts})")
        return activity.info().attempt


@workflow.defn(sandboxed=False)
class AttemptProbe:
    @workflow.run
    async def run(self, activity_name: str, input: dict) -> int:
        return await workflow.execute_activity(
            activity_name,
            input,
            result_type=int,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=5),
        )


async def probe(client, task_queue: str, activities: list, name: str, input: dict) -> tuple[str, int | Exception]:
    from concurrent.futures import ThreadPoolExecutor

    queue = f"{task_queue}-probe-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[AttemptProbe],
        activities=activities,
        activity_executor=ThreadPoolExecutor(4),
    ):
        handle = await client.start_workflow(
            AttemptProbe.run, args=[name, input], id=f"probe-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        try:
            return handle.result_run_id, await handle.result()
        except WorkflowFailureError as exc:
            return handle.result_run_id, exc


async def test_every_failed_attempt_is_one_error_event(temporal_env, stack, web3s, signer, task_queue, tmp_path):
    settings, store = with_store(engine_settings(stack, task_queue), tmp_path)
    deps = Deps(settings, signer, web3s, store=store)
    client = temporal_env.client
    read = ReadHoldingsInput(chain_id=1, keys=[AAVE]).model_dump(mode="json")
    run_id, answer = await probe(client, task_queue, [Flaky(deps).flaky_read], "flaky_read", read)
    assert answer == 3
    flaky = events(store, "floor_engine_errors_total")
    assert [(e.key, labels_of(e.labels)) for e in flaky] == [
        (f"{run_id}/1/{attempt}", {"chain": "1", "protocol": "aave-v3", "type": "RpcUnavailable"}) for attempt in (1, 2)
    ]

    # A real activity's bad input: one attempt (not retryable), one event, named for it.
    unknown = ReadHoldingsInput(chain_id=999, keys=[]).model_dump(mode="json")
    run_id, failed = await probe(client, task_queue, ChainActivities(deps).all(), "read_holdings", unknown)
    assert isinstance(failed, WorkflowFailureError)
    (event,) = [e for e in events(store, "floor_engine_errors_total") if e.key.startswith(f"{run_id}/")]
    assert labels_of(event.labels) == {"chain": "999", "protocol": "", "type": "UnknownChain"}


async def test_a_store_that_fails_never_masks_the_activitys_own_error(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    """The store's tables missing (never migrated): the attempt's own error still reaches the
    workflow, by its name; without a store nothing is recorded at all."""
    settings = engine_settings(stack, task_queue)
    broken = Store(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    unknown = ReadHoldingsInput(chain_id=999, keys=[]).model_dump(mode="json")
    for store in (broken, None):
        deps = Deps(settings, signer, web3s, store=store)
        _, failed = await probe(temporal_env.client, task_queue, ChainActivities(deps).all(), "read_holdings", unknown)
        assert isinstance(failed, WorkflowFailureError)
        assert failed.cause.cause.type == "UnknownChain", failed.cause.cause


def steak_vault(settings) -> str:
    return settings.chain(1).market("metamorpho", "steakUSDC").vault
