"""The dashboard's plots over time, from the store: TVL and APY per protocol (the market marks
each reconciliation writes), drift against the strategy's targets (from the same marks), yield
harvested by source (the harvest metric's events) and gas spent (the transaction journal).
Each series is cut into at most MAX_POINTS buckets of equal time: a bucket's point is the
state at its last reading (carried forward per market, since the chains are read apart)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from api.ui.svg import Series
from floor import metrics as m
from floor.config import Settings
from floor.metrics import labels_of
from floor.store import MarketMark, MetricEvent, Store, TxJournal

MAX_POINTS = 240
IDLE = "idle"


def buckets(rows: Iterable[Any], since: datetime, until: datetime, at: str) -> Iterator[tuple[datetime, list[Any]]]:
    """`rows` (ordered by their `at` attribute) in runs of one bucket each: (the last time, rows)."""
    width = max((until - since).total_seconds() / MAX_POINTS, 1.0)
    current: list[Any] = []
    index = None
    for row in rows:
        when = getattr(row, at)
        n = int((when - since).total_seconds() // width)
        if index is not None and n != index and current:
            yield getattr(current[-1], at), current
            current = []
        index = n
        current.append(row)
    if current:
        yield getattr(current[-1], at), current


def market_history(store: Store, settings: Settings, since: datetime, until: datetime) -> dict[str, list[Series]]:
    """TVL (USD) and APY (%) per protocol, and each protocol's drift from its target weight (bps)."""
    c = MarketMark.__table__.c
    stmt = (
        select(c.taken_at, c.chain_id, c.protocol, c.market, c.value_usd, c.apy)
        .where(c.taken_at >= since, c.taken_at <= until)
        .order_by(c.taken_at, c.id)
    )
    targets: dict[str, int] = defaultdict(int)
    for t in settings.strategy.targets:
        targets[t.protocol] += t.weight_bps
    latest: dict[str, tuple[str, float, float | None]] = {}  # market -> protocol, value, apy
    tvl: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    apy: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    drift: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    with store.engine.connect() as connection:
        rows = connection.execute(stmt)
        for at, group in buckets(rows, since, until, "taken_at"):
            for row in group:
                value = float(row.value_usd) if row.value_usd is not None else 0.0
                latest[row.market] = (row.protocol, value, row.apy)
            per_protocol: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
            for protocol, value, rate in latest.values():
                per_protocol[protocol].append((value, rate))
            total = sum(v for parts in per_protocol.values() for v, _ in parts)
            for protocol, parts in per_protocol.items():
                value = sum(v for v, _ in parts)
                tvl[protocol].append((at, value))
                if protocol == IDLE:
                    continue
                rated = [(v, r) for v, r in parts if r is not None]
                if rated:
                    weight = sum(v for v, _ in rated)
                    mean = sum(v * r for v, r in rated) / weight if weight else sum(r for _, r in rated) / len(rated)
                    apy[protocol].append((at, mean * 100))
                if total > 0:
                    drift[protocol].append((at, value / total * 10_000 - targets.get(protocol, 0)))
    return {
        "tvl": [Series(p, tvl[p]) for p in sorted(tvl)],
        "apy": [Series(p, apy[p]) for p in sorted(apy)],
        "drift": [Series(p, drift[p]) for p in sorted(drift)],
    }


def yield_history(store: Store, since: datetime, until: datetime) -> list[Series]:
    """Yield harvested, cumulative in whole tokens, per source and token."""
    e = MetricEvent.__table__.c
    stmt = (
        select(e.at, e.labels, e.value)
        .where(e.name == m.HARVEST_YIELD.name, e.at >= since, e.at <= until)
        .order_by(e.at, e.id)
    )
    totals: dict[str, float] = defaultdict(float)
    points: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    with store.engine.connect() as connection:
        for at, group in buckets(connection.execute(stmt), since, until, "at"):
            for row in group:
                labels = labels_of(row.labels)
                totals[f"{labels.get('source', '?')} ({labels.get('token', '?')})"] += row.value
            for label, total in totals.items():
                points[label].append((at, total))
    return [Series(label, points[label]) for label in sorted(points)]


def gas_history(store: Store, since: datetime, until: datetime) -> list[Series]:
    """Gas paid by the engine's transactions, cumulative in ETH (each chain's gas token), per chain."""
    t = TxJournal.__table__.c
    stmt = (
        select(t.recorded_at, t.chain_id, t.gas_used, t.effective_gas_price)
        .where(t.recorded_at >= since, t.recorded_at <= until)
        .order_by(t.recorded_at, t.id)
    )
    totals: dict[int, int] = defaultdict(int)
    points: dict[int, list[tuple[datetime, float]]] = defaultdict(list)
    with store.engine.connect() as connection:
        for at, group in buckets(connection.execute(stmt), since, until, "recorded_at"):
            for row in group:
                totals[row.chain_id] += int(row.gas_used) * int(row.effective_gas_price)
            for chain_id, wei in totals.items():
                points[chain_id].append((at, wei / 10**18))
    return [Series(f"chain {chain_id}", points[chain_id]) for chain_id in sorted(points)]


def history(store: Store, settings: Settings, days: int, now: datetime | None = None) -> dict[str, list[Series]]:
    until = now or datetime.now(UTC)
    since = until - timedelta(days=days)
    return market_history(store, settings, since, until) | {
        "yield": yield_history(store, since, until),
        "gas": gas_history(store, since, until),
    }
