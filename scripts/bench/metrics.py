"""metrics.scrape_ms: one scrape of `floor-exporter`'s /metrics over HTTP, as Prometheus makes it,
with every protocol on both chains: the store filled as a month of a running engine leaves it
(a reconciliation every 10 minutes marking every market of the demo's configuration on both
chains, rebalances, moves, errors, harvests, transactions with replacements and cancels,
refused commands, breaker and engine changes), and the engine's and queues' status as answered.
Median and p99 of 50 scrapes, on SQLite (the default store) and, when it is reachable,
PostgreSQL. The target: at most 50 ms."""

from __future__ import annotations

import statistics
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from floor import metrics as m
from floor.access.audit import AuditEntry, AuditRow
from floor.config import Settings
from floor.devnet.processes import free_port
from floor.engine import EngineState
from floor.exporter import EngineCollector, QueueReading, StatusReading, risk_scores
from floor.operations import EngineStatus
from floor.store import (
    Alert,
    BreakerEventRow,
    Discrepancy,
    EngineEvent,
    MarketMark,
    MetricEvent,
    SignedTx,
    Store,
    TxJournal,
)

SCRAPES = 50
DAYS = 30
READ_EVERY = timedelta(minutes=10)  # the reconciliation's schedule (reconcile.every_s = 600)
SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
EXECUTOR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
POSTGRES_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"


def bench_metrics(stack, tmp: Path) -> dict[str, float]:
    """The scrape over a month of the demo's markets on both chains, on each store."""
    configs = stack.chain_configs()
    results: dict[str, float] = {}
    with _stores(tmp) as stores:
        for backend, url in stores:
            settings = Settings(chains=configs, store={"url": url})
            store = Store.from_settings(settings)
            store.migrate()
            markets = fill(store, settings)
            cold, p50, p99, written = scrape_times(store, settings)
            suffix = "" if backend == "sqlite" else f".{backend}"
            results |= {
                f"metrics.scrape_ms{suffix}": round(p50, 2),
                f"metrics.scrape_ms.p99{suffix}": round(p99, 2),
                f"metrics.scrape_ms.cold{suffix}": round(cold, 2),
                f"metrics.scrape_ms.after_write{suffix}": round(written, 2),
            }
            results["metrics.markets"] = markets
            store.close()
    return results


@contextmanager
def _stores(tmp: Path) -> Iterator[list[tuple[str, str]]]:
    """SQLite in `tmp`, and a throwaway PostgreSQL database when the server answers."""
    stores = [("sqlite", f"sqlite:///{tmp / 'bench-metrics.db'}")]
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True)
    except Exception:  # no server here: SQLite only
        yield stores
        return
    name = f"floor_bench_metrics_{int(time.time())}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield [*stores, ("postgres", f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")]
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def fill(store: Store, settings: Settings) -> int:
    """A month of the engine's rows; returns the markets marked at each reading (both chains)."""
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    readings = int(timedelta(days=DAYS) / READ_EVERY)
    per_chain = {
        chain.id: [
            (market.protocol, f"{chain.id}:{market.protocol}:{market.market}", market.asset) for market in chain.markets
        ]
        + [("idle", f"{chain.id}:idle:{token.symbol}", token.symbol) for token in chain.tokens]
        for chain in settings.chains
    }
    marks = []
    for i in range(readings):
        at = start + i * READ_EVERY
        for chain_id, markets in per_chain.items():
            for n, (protocol, market, asset) in enumerate(markets):
                amount = (n + 1) * 10**12 + i
                marks.append(
                    MarketMark(
                        chain_id=chain_id,
                        protocol=protocol,
                        market=market,
                        asset=asset,
                        decimals=6,
                        amount=amount,
                        withdrawable=amount,
                        value_usd=f"{amount / 10**6:.8f}",
                        apy=None if protocol == "idle" else 0.03 + n / 1000,
                        apy_source=None if protocol == "idle" else "quoted",
                        liquidity_ratio_bps=None if protocol == "idle" else 10 + n,
                        max_safe_withdrawal=None if protocol == "idle" else amount // 2,
                        exit_slippage_bps=n % 7 if protocol in ("curve", "balancer-v2") else None,
                        block_number=1_000 + i * 50,
                        taken_at=at,
                    )
                )
    store.record_market_marks(marks)
    engine_id = settings.engine_id
    chains = [c.id for c in settings.chains]
    protocols = sorted({p for markets in per_chain.values() for p, _, _ in markets if p != "idle"})
    events: list[MetricEvent] = []
    for i in range(DAYS * 96):  # a rebalance check every 15 minutes
        at = start + timedelta(minutes=15 * i)
        events.append(m.REBALANCE_DURATION.event_row(5 + i % 300, f"{engine_id}/rebalance-{i}", at))
        for j, protocol in enumerate(protocols[:4]):
            chain = chains[(i + j) % len(chains)]
            events.append(
                m.MOVE_SLIPPAGE.event_row(
                    (i + j) % 40, f"{engine_id}/rebalance-{i}/{j}", at, chain=chain, protocol=protocol
                )
            )
    for i in range(2_000):
        events.append(
            m.ERRORS.event_row(
                1,
                f"op-{i}/1",
                start + timedelta(minutes=20 * i),
                chain=chains[i % 2],
                protocol=protocols[i % len(protocols)],
                type=("RPCError", "Timeout", "ExecutionReverted")[i % 3],
            )
        )
    for i in range(DAYS * 4):
        # "token" is the metric's label (a symbol), not a secret.
        events.append(
            m.HARVEST_YIELD.event_row(
                1.5,
                f"harvest-{i}",
                start + timedelta(hours=6 * i),
                chain=chains[i % 2],
                token="USDC",  # noqa: S106
                source="rebase",
            )
        )
    store.record_metric_events(events)
    store.set_gauges(
        [m.SIGNER_GAS.gauge_row(1.0, now, chain=c) for c in chains]
        + [
            m.PRICE_FEED_AGE.gauge_row(30, now, chain=c.id, feed=symbol)
            for c in settings.chains
            for symbol in c.price_feeds
        ]
    )
    signed, journal = [], []
    for chain_id in chains:
        for nonce in range(3_000):
            at = start + timedelta(minutes=14 * nonce)
            versions = 1 + (nonce % 10 == 0) + (nonce % 100 == 0)
            for v in range(versions):
                to = SIGNER if v == 2 else EXECUTOR
                signed.append(
                    SignedTx(
                        chain_id=chain_id,
                        signer=SIGNER,
                        nonce=nonce,
                        tx_hash=f"0x{chain_id:08x}{nonce:08x}{v:02x}",
                        to=to,
                        signed_at=at + timedelta(seconds=30 * v),
                    )
                )
            journal.append(
                TxJournal(
                    operation_id=f"op-{nonce}",
                    intent_id=f"op-{nonce}/i",
                    chain_id=chain_id,
                    tx_hash=f"0x{chain_id:08x}{nonce:08x}{versions - 1:02x}",
                    nonce=nonce,
                    status=1,
                    block_number=1_000 + nonce,
                    gas_used=210_000,
                    effective_gas_price=10**9,
                    calls=3,
                    recorded_at=at + timedelta(seconds=12 + 30 * (versions - 1)),
                )
            )
    store.record_signed(signed)
    store.record_transactions(journal)
    store.record_engine_events(
        [
            EngineEvent(
                engine_id=engine_id,
                at=start + timedelta(minutes=15 * i, seconds=s),
                from_state=a,
                to_state=b,
                cause=f"op-{i}",
                actor="schedule",
            )
            for i in range(DAYS * 96)
            for s, (a, b) in enumerate([("IDLE", "REBALANCING"), ("REBALANCING", "IDLE")])
        ]
    )
    store.record_breaker_events(
        [
            BreakerEventRow(
                engine_id=engine_id,
                scope=f"protocol:{protocols[i % len(protocols)]}",
                at=start + timedelta(hours=i),
                from_state="CLOSED" if i % 2 == 0 else "OPEN",
                to_state="OPEN" if i % 2 == 0 else "CLOSED",
                trigger="tvl_fall",
                reason="bench",
                actor="risk-check",
            )
            for i in range(100)
        ]
    )
    rows = [
        Discrepancy(
            run_id=f"run-{i}",
            chain_id=chains[i % 2],
            market=f"{chains[i % 2]}:aave-v3:M{i}",
            asset="USDC",
            decimals=6,
            expected=100,
            actual=90,
            difference=-10,
            relative_bps=-1000,
            block_number=1,
            found_at=now,
        )
        for i in range(20)
    ]
    for row in store.record_discrepancies(rows)[:15]:
        store.accept_discrepancy(row.id or 0, "ops", "known")
    for i in range(50):
        store.raise_alert("low_gas" if i % 2 else "discrepancy", f"subject-{i}", "", now)
        if i % 3:
            store.resolve_alert("low_gas" if i % 2 else "discrepancy", f"subject-{i}", now)
    store.append_audit(
        [
            AuditEntry(
                id=f"bench-refusal-{i}",
                row=AuditRow(
                    at=int(now.timestamp()),
                    workflow_id=engine_id,
                    signer=SIGNER,
                    kind="allocate",
                    digest="",
                    outcome="refused",
                    reason=(
                        "rate limited: retry in 9 s",
                        "expired 4 s ago",
                        f"replayed: nonce {i} of x was already used",
                    )[i % 3],
                ),
            )
            for i in range(500)
        ]
    )
    assert all(isinstance(a, Alert) for a in store.open_alerts())
    return sum(len(markets) for markets in per_chain.values())


def scrape_times(store: Store, settings: Settings) -> tuple[float, float, float, float]:
    """Scrapes over HTTP, in ms: the first (every statement compiled, every table aggregated);
    the median and p99 of `SCRAPES` after three to warm up (the append-only tables aggregated
    again only when they grew); and the median of ten scrapes each after the engine wrote (an
    error, a signed and journalled transaction, a refused command: every aggregate again)."""
    status = EngineStatus(
        engine_id=settings.engine_id,
        state=EngineState.IDLE,
        operation=None,
        paused_from=None,
        pause_reason="",
        last=None,
        positions={},
        positions_read_at="",
    )
    queues = tuple(
        QueueReading(chain_id=c.id, pending=0, inflight=1, held=False, private_inclusion=None, nonce_gap=0)
        for c in settings.chains
    )
    reading = StatusReading(answering=True, engine=status, queues=queues, at=time.time())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(store, settings, lambda: reading, risk_scores(settings)))
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        times = []
        for _ in range(SCRAPES + 3):
            started = time.perf_counter()
            with urllib.request.urlopen(url, timeout=10) as answer:
                body = answer.read()
            times.append((time.perf_counter() - started) * 1000)
        assert b"floor_engine_tvl_total" in body and b"floor_engine_status_answering 1.0" in body
        cold, warm = times[0], sorted(times[3:])
        written = []
        for i in range(10):
            wrote(store, settings, i)
            started = time.perf_counter()
            with urllib.request.urlopen(url, timeout=10) as answer:
                answer.read()
            written.append((time.perf_counter() - started) * 1000)
    finally:
        server.shutdown()
        server.server_close()
    return cold, statistics.median(warm), warm[min(len(warm) - 1, int(len(warm) * 0.99))], statistics.median(written)


def wrote(store: Store, settings: Settings, i: int) -> None:
    """One round of the engine's writes: a failed attempt, a transaction signed and journalled, a
    refused command."""
    now = datetime.now(UTC)
    chain_id = settings.chains[0].id
    store.record_metric_events([m.ERRORS.event_row(1, f"bench-write-{i}", now, chain=chain_id, protocol="", type="X")])
    tx_hash = f"0xfeed{i:060x}"
    store.record_signed(
        [SignedTx(chain_id=chain_id, signer=SIGNER, nonce=10_000 + i, tx_hash=tx_hash, to=EXECUTOR, signed_at=now)]
    )
    store.record_transactions(
        [
            TxJournal(
                operation_id="bench",
                intent_id="bench/i",
                chain_id=chain_id,
                tx_hash=tx_hash,
                nonce=10_000 + i,
                status=1,
                block_number=10**6 + i,
                gas_used=1,
                effective_gas_price=1,
                calls=1,
                recorded_at=now,
            )
        ]
    )
    row = AuditRow(
        at=int(now.timestamp()),
        workflow_id="bench",
        signer=SIGNER,
        kind="pause",
        digest="",
        outcome="refused",
        reason="expired 1 s ago",
    )
    store.append_audit([AuditEntry(id=f"bench-write-{i}", row=row)])
