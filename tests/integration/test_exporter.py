"""`floor-exporter` over a real store and a real engine: every series rendered from the rows
written (scraped over HTTP, as Prometheus does), and the status poll following the engine and
its queues: `floor_engine_status_answering` 1 while a worker answers, 0 once none does."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from activities.deps import Deps
from floor import metrics as m
from floor.access.audit import AuditEntry, AuditRow
from floor.config import MetricsConfig, Settings, StoreConfig
from floor.devnet.processes import free_port
from floor.engine import EngineState
from floor.store import BreakerEventRow, EngineEvent, MarketMark, SignedTx, Store, TxJournal
from tests.integration.engine_helpers import engine_settings, start_allocated, wait_for
from tests.store.test_store import disc
from workers.exporter import StatusPoller, serve
from workers.temporal import build_worker

SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
EXECUTOR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exporter's /metrics, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[s.name, tuple(sorted(s.labels.items()))] = s.value
    return samples


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def with_exporter(settings: Settings, tmp_path, temporal_address: str) -> Settings:
    """`settings` with a store of the test's own, the exporter on a free port polling often, and
    Temporal at `temporal_address`."""
    return settings.model_copy(
        update={
            "store": StoreConfig(url=f"sqlite:///{tmp_path}/floor.db"),
            "metrics": MetricsConfig(exporter_port=free_port(), poll_s=0.3),
            "temporal": settings.temporal.model_copy(update={"address": temporal_address}),
        }
    )


def mark(market: str, block: int, amount: int, value_usd: str | None, apy: float | None, **extra) -> MarketMark:
    chain, protocol, asset = market.split(":")
    return MarketMark(
        chain_id=int(chain),
        protocol=protocol,
        market=market,
        asset=extra.pop("asset", asset),
        decimals=6,
        amount=amount,
        withdrawable=amount,
        value_usd=value_usd,
        apy=apy,
        block_number=block,
        taken_at=extra.pop("taken_at", datetime(2026, 12, 1, tzinfo=UTC)),
        **extra,
    )


def fill(store: Store, now: datetime, engine_id: str) -> None:
    """Rows as a running engine writes them."""
    store.record_market_marks(
        [
            mark("1:aave-v3:USDC", 90, 999, "999", 0.01),  # an older block: not shown
            mark(
                "1:aave-v3:USDC",
                100,
                3_000 * 10**6,
                "3000.5",
                0.04,
                liquidity_ratio_bps=250,
                max_safe_withdrawal=2_000 * 10**6,
            ),
            mark("1:metamorpho:steakUSDC", 100, 1_000 * 10**6, "1000", 0.08, asset="USDC", exit_slippage_bps=4),
            mark("1:metamorpho:gtUSDC", 100, 1_000 * 10**6, "1000", 0.06, asset="USDC", exit_slippage_bps=9),
            mark("1:spark:USDC", 100, 0, "0", 0.05),
            mark("1:idle:USDC", 100, 500 * 10**6, "500", None, taken_at=now),
            mark("42161:aave-v3:USDC", 7_000, 2_000 * 10**6, None, 0.03, taken_at=now),
        ]
    )
    store.record_metric_events(
        [
            m.ERRORS.event_row(1, "op-1/1", now, chain=1, protocol="aave-v3", type="RPCError"),
            m.ERRORS.event_row(1, "op-1/2", now, chain=1, protocol="aave-v3", type="RPCError"),
            m.REBALANCE_DURATION.event_row(42.0, f"{engine_id}/rebalance-1", now),
            m.MOVE_SLIPPAGE.event_row(3, "op-2/1:aave-v3:USDC", now, chain=1, protocol="aave-v3"),
            m.HARVEST_YIELD.event_row(12.5, "op-3/1:USDC", now, chain=1, token="USDC", source="rebase"),
        ]
    )
    store.set_gauges(
        [
            m.SIGNER_GAS.gauge_row(0.75, now, chain=1),
            m.PRICE_FEED_AGE.gauge_row(100, now - timedelta(seconds=60), chain=1, feed="USDC/USD"),
        ]
    )
    store.record_engine_events(
        [
            EngineEvent(
                engine_id=engine_id,
                at=now - timedelta(seconds=600),
                from_state="IDLE",
                to_state="PAUSED",
                cause="pause",
                actor="ops",
            ),
        ]
    )
    store.record_breaker_events(
        [
            BreakerEventRow(
                engine_id=engine_id,
                scope="protocol:spark",
                at=now,
                from_state="CLOSED",
                to_state="OPEN",
                trigger="tvl_fall",
                reason="r",
                actor="risk-check",
            ),
            BreakerEventRow(
                engine_id=engine_id,
                scope="reconcile:1:tx:0xabc",
                at=now,
                from_state="CLOSED",
                to_state="OPEN",
                trigger="manual",
                reason="r",
                actor="reconcile",
            ),
        ]
    )
    store.record_discrepancies([disc("run-1", "1:aave-v3:USDC")])
    store.raise_alert("low_gas", f"1:{SIGNER}", "", now)
    store.append_audit(
        [
            AuditEntry(
                id=f"refusal-{i}",
                row=AuditRow(
                    at=1_800_000_000,
                    workflow_id=engine_id,
                    signer=SIGNER,
                    kind="allocate",
                    digest="",
                    outcome="refused",
                    reason=reason,
                ),
            )
            for i, reason in enumerate(
                ["rate limited: too many allocate commands; retry in 9 s", "replayed: nonce 1 of x was already used"]
            )
        ]
    )
    signed = [(0, "0x01", EXECUTOR, 0), (1, "0x02", EXECUTOR, 0), (1, "0x03", EXECUTOR, 5), (1, "0x04", SIGNER, 9)]
    store.record_signed(
        [
            SignedTx(chain_id=1, signer=SIGNER, nonce=n, tx_hash=h, to=to, signed_at=now + timedelta(seconds=t))
            for n, h, to, t in signed
        ]
    )
    store.record_transactions(
        [
            TxJournal(
                operation_id="op",
                intent_id="i",
                chain_id=1,
                tx_hash=h,
                nonce=n,
                status=1,
                block_number=100 + n,
                gas_used=1,
                effective_gas_price=1,
                calls=1,
                recorded_at=now + timedelta(seconds=t),
            )
            for n, h, t in [(0, "0x01", 4), (1, "0x04", 20)]
        ]
    )


def test_a_scrape_renders_what_the_store_holds(settings, tmp_path):
    # Temporal at a port nothing listens on: the engine cannot answer.
    settings = with_exporter(settings, tmp_path, temporal_address=f"127.0.0.1:{free_port()}")
    now = datetime.now(UTC)
    store = Store.from_settings(settings)
    store.migrate()
    fill(store, now, settings.engine_id)
    port = settings.metrics.exporter_port
    poller, server = serve(settings, port, "127.0.0.1", store)
    try:
        assert poller.wait_polled(10)
        s = scrape(port)
        # What the engine writes next is in the next scrape (only the new rows read).
        store.record_metric_events([m.ERRORS.event_row(1, "op-1/3", now, chain=1, protocol="aave-v3", type="RPCError")])
        store.record_signed([SignedTx(chain_id=1, signer=SIGNER, nonce=2, tx_hash="0x05", to=EXECUTOR, signed_at=now)])
        store.record_transactions(
            [
                TxJournal(
                    operation_id="op",
                    intent_id="i",
                    chain_id=1,
                    tx_hash="0x05",
                    nonce=2,
                    status=1,
                    block_number=103,
                    gas_used=1,
                    effective_gas_price=1,
                    calls=1,
                    recorded_at=now + timedelta(seconds=400),
                )
            ]
        )
        again = scrape(port)
    finally:
        server.shutdown()
        poller.stop()
    assert value(again, "floor_engine_errors_total", chain="1", protocol="aave-v3", type="RPCError") == 3
    assert value(again, "floor_engine_tx_inclusion_seconds_count", chain="1") == 3
    assert value(again, "floor_engine_tx_inclusion_seconds_bucket", chain="1", le="300.0") == 2
    assert value(again, "floor_engine_tx_inclusion_seconds_bucket", chain="1", le="600.0") == 3
    assert value(s, "floor_engine_status_answering") == 0
    # The latest block of each chain: TVL, APY (value-weighted), positions.
    assert value(s, "floor_engine_tvl_total", chain="1", protocol="aave-v3") == 3000.5
    assert value(s, "floor_engine_tvl_total", chain="1", protocol="metamorpho") == 2000
    assert value(s, "floor_engine_tvl_total", chain="1", protocol="idle") == 500
    assert value(s, "floor_engine_tvl_total", chain="42161", protocol="aave-v3") == 0  # not priced
    assert value(s, "floor_engine_apy", chain="1", protocol="metamorpho") == pytest.approx(0.07)
    assert value(s, "floor_engine_apy", chain="1", protocol="spark") == 0.05  # no position: its rate
    assert value(s, "floor_engine_apy", chain="1", protocol="idle") is None
    assert value(s, "floor_engine_positions", chain="1", protocol="metamorpho") == 2
    assert value(s, "floor_engine_positions", chain="1", protocol="spark") == 0
    # Per position (two vaults of USDC: one series, summed; the worst slippage).
    usdc = {"chain": "1", "protocol": "metamorpho", "asset": "USDC"}
    assert value(s, "floor_engine_position_amount", **usdc) == 2000
    assert value(s, "floor_engine_exit_slippage_bps", **usdc) == 9
    aave = {"chain": "1", "protocol": "aave-v3", "asset": "USDC"}
    assert value(s, "floor_engine_liquidity_ratio", **aave) == 0.025
    assert value(s, "floor_engine_max_safe_withdrawal", **aave) == 2000
    assert value(s, "floor_engine_position_value_usd", **aave) == 3000.5
    assert value(s, "floor_engine_last_reading_timestamp_seconds", chain="42161") == pytest.approx(now.timestamp())
    # The engine's last recorded state (no answer): paused for about ten minutes.
    assert value(s, "floor_engine_state", state="PAUSED") == 1
    assert value(s, "floor_engine_state", state="IDLE") == 0
    assert 600 <= value(s, "floor_engine_paused_seconds") < 700
    assert value(s, "floor_engine_breaker_state", scope="protocol:spark") == 2
    assert value(s, "floor_engine_breaker_state", scope="reconcile:1:tx") == 2  # no hash as a label
    assert value(s, "floor_engine_breaker_state", scope="chain:42161") == 0
    assert value(s, "floor_engine_discrepancies_open", chain="1") == 1
    assert value(s, "floor_engine_discrepancies_open", chain="42161") == 0
    assert value(s, "floor_engine_alerts_open", kind="low_gas") == 1
    assert value(s, "floor_engine_command_refusals_total", kind="allocate", reason="rate_limit") == 1
    assert value(s, "floor_engine_command_refusals_total", kind="allocate", reason="replay") == 1
    # Transactions: one replacement and one cancel at nonce 1; inclusion 4 s and 20 s.
    assert value(s, "floor_engine_txqueue_replacements_total", chain="1") == 1
    assert value(s, "floor_engine_txqueue_cancels_total", chain="1") == 1
    assert value(s, "floor_engine_tx_inclusion_seconds_count", chain="1") == 2
    assert value(s, "floor_engine_tx_inclusion_seconds_sum", chain="1") == pytest.approx(24, abs=0.01)
    assert value(s, "floor_engine_tx_inclusion_seconds_bucket", chain="1", le="5.0") == 1
    assert value(s, "floor_engine_tx_inclusion_seconds_bucket", chain="1", le="30.0") == 2
    # What the activities recorded.
    assert value(s, "floor_engine_errors_total", chain="1", protocol="aave-v3", type="RPCError") == 2
    assert value(s, "floor_engine_harvest_yield_total", chain="1", token="USDC", source="rebase") == 12.5
    assert value(s, "floor_engine_rebalance_duration_seconds_bucket", le="30.0") == 0
    assert value(s, "floor_engine_rebalance_duration_seconds_bucket", le="60.0") == 1
    assert value(s, "floor_engine_move_slippage_bps_count", chain="1", protocol="aave-v3") == 1
    assert value(s, "floor_engine_signer_gas_balance_eth", chain="1") == 0.75
    assert (
        160 <= value(s, "floor_engine_price_feed_age_seconds", chain="1", feed="USDC/USD") < 170
    )  # 100 s when read, a minute ago
    # Every name rendered is declared, and the risk model scored the strategy's protocols.
    assert {name for name, _ in s} <= {series for x in m.ALL_METRICS for series in x.series}
    assert 0 < value(s, "floor_engine_risk_score", protocol="aave-v3") <= 100


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_the_exposition_is_what_prometheus_parses(settings, tmp_path):
    settings = with_exporter(settings, tmp_path, temporal_address=f"127.0.0.1:{free_port()}")
    store = Store.from_settings(settings)
    store.migrate()
    fill(store, datetime.now(UTC), settings.engine_id)
    port = settings.metrics.exporter_port
    poller, server = serve(settings, port, "127.0.0.1", store)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read()
    finally:
        server.shutdown()
        poller.stop()
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, check=False)
    # promtool's only objection is the seed's own name: a gauge called floor_engine_tvl_total.
    problems = [line for line in checked.stdout.decode().splitlines() + checked.stderr.decode().splitlines() if line]
    assert problems == ['floor_engine_tvl_total non-counter metrics should not have "_total" suffix'], problems


async def test_the_status_poll_follows_the_engine_and_its_queues(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    client = temporal_env.client
    settings = with_exporter(engine_settings(stack, task_queue), tmp_path, client.service_client.config.target_host)
    store = Store.from_settings(settings)
    store.migrate()
    port = settings.metrics.exporter_port
    poller, server = serve(settings, port, "127.0.0.1", store)
    try:
        async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
            await start_allocated(client, settings, web3s)

            async def answered():
                s = await asyncio.to_thread(scrape, port)
                queues = value(s, "floor_engine_txqueue_inflight", chain="1") is not None
                idle = value(s, "floor_engine_state", state=EngineState.IDLE.value) == 1
                return s if value(s, "floor_engine_status_answering") == 1 and idle and queues else None

            s = await wait_for(answered, 20, "the engine's answer (idle, its queues too) in a scrape")
            assert value(s, "floor_engine_state", state=EngineState.ALLOCATING.value) == 0
            assert value(s, "floor_engine_paused_seconds") == 0
            for chain in ("1", "42161"):
                assert value(s, "floor_engine_txqueue_pending", chain=chain) == 0
                assert value(s, "floor_engine_txqueue_held", chain=chain) == 0
                assert value(s, "floor_engine_nonce_gap", chain=chain) == 0
            # The allocation's transactions, signed and journalled through the store.
            assert value(s, "floor_engine_tx_inclusion_seconds_count", chain="1") >= 1
            assert value(s, "floor_engine_txqueue_replacements_total", chain="1") == 0
            reading = await StatusPoller(settings).poll()
            assert reading.answering and reading.engine.engine_id == settings.engine_id
            assert {q.chain_id for q in reading.queues} >= {1, 42161}

        async def silent():
            s = await asyncio.to_thread(scrape, port)
            return value(s, "floor_engine_status_answering") == 0

        # No worker: the query finds none within its 2 s, the next poll says so.
        await wait_for(silent, 15, "answering 0 once the worker is gone")
    finally:
        server.shutdown()
        poller.stop()


async def test_the_worker_serves_temporals_sdk_metrics_on_their_own_port(
    temporal_env, stack, signer, web3s, task_queue
):
    from client.engine import connect
    from floor.logging import get_logger
    from workers.main import sdk_runtime

    settings = engine_settings(stack, task_queue)
    address = temporal_env.client.service_client.config.target_host
    settings = settings.model_copy(
        update={
            "metrics": MetricsConfig(temporal_port=free_port()),
            "temporal": settings.temporal.model_copy(update={"address": address}),
        }
    )
    runtime = sdk_runtime(settings, get_logger())
    client = await connect(settings, runtime=runtime)
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):

        async def served():
            url = f"http://127.0.0.1:{settings.metrics.temporal_port}/metrics"
            text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
            return text if "temporal_worker_task_slots_available" in text else None

        text = await wait_for(served, 15, "the SDK's metrics")
    # Temporal's names, not the engine's: each series from one place.
    assert "temporal_request" in text and "floor_engine_" not in text
