"""What `floor-exporter` serves: every `floor_engine_*` series (`floor.metrics`), rendered at each
scrape from what the store holds now and from the engine's and queues' last answers to the
exporter's status poll (`workers/exporter.py` polls them in the background; a scrape never waits
on Temporal and never reads a chain).

Where each series comes from:

- the reconciliation's market marks (`Store.latest_market_marks`, the latest block of each
  chain): TVL, APY and positions per chain and protocol, each position's amount, value,
  liquidity ratio, safe withdrawal and exit slippage, and when the chain was last read;
- the engine's status (else its last recorded transition): its state, how long it has been
  paused, the operation running and its step; the breakers (the engine's book when it answers,
  else the store's last change per scope);
- each transaction queue's status: pending, in flight, held, private inclusion, nonce gaps;
- the store's tables, aggregated in SQL: open discrepancies and alerts, refused commands (the
  audit log), replacements and cancels (`signed_tx`), time to inclusion (`signed_tx` and the
  journal), and the gauges and events the engine's activities record (`gauge_value`,
  `metric_event`: errors, harvest yield, rebalance durations, realised slippage, gas balances,
  price feed ages);
- each chain's latest exit drill (`Store.latest_exit_drills`): per protocol whether every exit
  went through on the fork and the costliest, the slippage limit, the drill's age;
- the risk model's score of each protocol, computed from the settings when the exporter starts.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, Generic, TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.registry import Collector

from floor import metrics as m
from floor.access.roles import Kind
from floor.config import Settings
from floor.engine import EngineState
from floor.logging import get_logger
from floor.operations import EngineStatus
from floor.store import Store
from floor.store.tables import MarketMark
from floor.txqueue import QueueStatus

__all__ = [
    "DERIVED",
    "EngineCollector",
    "QueueReading",
    "StatusReading",
    "apy_of",
    "command_refusal_reason",
    "nonce_gap",
    "queue_reading",
    "risk_scores",
    "step_label",
]

log = get_logger(process="floor-exporter")
_T = TypeVar("_T")
_KINDS = frozenset(k.value for k in Kind)

# The metrics this module computes itself; any other exporter metric is rendered from the
# store's gauges (`gauge_value`) or events (`metric_event`) as recorded.
DERIVED = frozenset(
    metric.name
    for metric in (
        m.TVL_TOTAL,
        m.APY,
        m.POSITIONS,
        m.STATE,
        m.PAUSED_SECONDS,
        m.OPERATION_RUNNING,
        m.BREAKER_STATE,
        m.POSITION_AMOUNT,
        m.POSITION_VALUE,
        m.LIQUIDITY_RATIO,
        m.MAX_SAFE_WITHDRAWAL,
        m.EXIT_SLIPPAGE,
        m.RISK_SCORE,
        m.TXQUEUE_PENDING,
        m.TXQUEUE_INFLIGHT,
        m.TXQUEUE_HELD,
        m.TXQUEUE_REPLACEMENTS,
        m.TXQUEUE_CANCELS,
        m.TX_INCLUSION,
        m.PRIVATE_INCLUSION,
        m.NONCE_GAP,
        m.DISCREPANCIES_OPEN,
        m.ALERTS_OPEN,
        m.COMMAND_REFUSALS,
        m.STATUS_ANSWERING,
        m.LAST_READING,
        m.EXIT_DRILL_OK,
        m.EXIT_DRILL_SLIPPAGE,
        m.EXIT_DRILL_LIMIT,
        m.EXIT_DRILL_AGE,
    )
)
# Gauges recorded as an age at the time they were read: rendered as that age plus the time since.
AGES = frozenset({m.PRICE_FEED_AGE.name})


# ---------------------------------------------------------------------------- the status poll


@dataclass(frozen=True)
class QueueReading:
    """What one transaction queue answered, reduced to its metrics."""

    chain_id: int
    pending: int
    inflight: int
    held: bool
    private_inclusion: float | None  # None: nothing sent privately has settled yet
    nonce_gap: int


@dataclass(frozen=True)
class StatusReading:
    """The exporter's last status poll: whether the engine answered (and what), and the queues
    that answered (None: they could not be listed)."""

    answering: bool = False
    engine: EngineStatus | None = None
    queues: tuple[QueueReading, ...] | None = None
    at: float = 0.0  # unix seconds of the poll


def nonce_gap(inflight: Sequence[int], chain_nonce: int | None = None) -> int:
    """Nonces nothing holds below the queue's highest in flight: from the chain's mined nonce
    (when the queue says it) or else from its lowest in flight. Nothing in flight: 0."""
    if not inflight:
        return 0
    held = set(inflight)
    start = min(held) if chain_nonce is None else min(chain_nonce, min(held))
    return sum(1 for n in range(start, max(held)) if n not in held)


def queue_reading(raw: Mapping[str, Any]) -> QueueReading:
    """A queue's `status` query answer (`floor.txqueue.QueueStatus` as JSON) as its metrics."""
    status = QueueStatus.model_validate(raw)
    # 0 is also what a queue that has not read the chain yet says: holes inside the in-flight
    # range only then, never a false gap below it.
    chain_nonce = status.chain_nonce or None
    return QueueReading(
        chain_id=status.chain_id,
        pending=len(status.pending),
        inflight=len(status.inflight),
        held=bool(status.held),
        private_inclusion=status.private.inclusion_rate,
        nonce_gap=nonce_gap([t.nonce for t in status.inflight], chain_nonce),
    )


# ---------------------------------------------------------------------------- pure reductions


_DETAIL = re.compile(r"0x[0-9a-fA-F]+|\d+(?:[.,]\d+)*")  # a hash or address, a number


def step_label(step: str) -> str:
    """An operation's step as a bounded label: its text before any detail (a colon), numbers
    and hex as placeholders, at most 80 characters."""
    text = step.split(":", 1)[0]
    text = _DETAIL.sub(lambda found: "0x…" if found[0].startswith("0x") else "N", text)
    return " ".join(text.split())[:80]


def command_refusal_reason(reason: str) -> str:
    """A refused command's reason (the audit log's text) as one of `floor.metrics.REFUSAL_REASONS`."""
    text = reason.lower()
    if "rate limited" in text or "too many live commands" in text or "rate_limit" in text:
        return "rate_limit"
    if "replayed" in text or "already used" in text:
        return "replay"
    if "expired" in text or "deadline" in text:
        return "expired"
    if "signature" in text or "unsigned" in text or "half signed" in text:
        return "signature"
    if " needs " in text or "has no role" in text or "role" in text:
        return "role"
    return "other"


def whole(amount: int, decimals: int) -> float:
    return float(Decimal(amount).scaleb(-decimals))


def apy_of(marks: Sequence[MarketMark]) -> float | None:
    """A protocol's APY on a chain: weighted by value over its markets with a position and a
    rate (by whole tokens where a position is not priced); with no position, the plain mean of
    its markets' rates; None when none has a rate."""
    rated = [mark for mark in marks if mark.apy is not None]
    held = [mark for mark in rated if mark.amount > 0]
    if held:
        priced = all(mark.value_usd is not None for mark in held)
        weights = [
            float(Decimal(mark.value_usd))
            if priced and mark.value_usd is not None
            else whole(mark.amount, mark.decimals)
            for mark in held
        ]
        total = sum(weights)
        if total > 0:
            return sum(w * (mark.apy or 0.0) for w, mark in zip(weights, held, strict=True)) / total
    if not rated:
        return None
    return sum(mark.apy or 0.0 for mark in rated) / len(rated)


def risk_scores(settings: Settings, today: dt.date | None = None) -> dict[str, int]:
    """Each protocol of the strategy (every configured market's when it has no targets) scored by
    the risk model (`floor.risk.scores`, the packaged data, no TVL history: its neutral part),
    as of ``today``: per protocol the lowest overall of its chains. Protocols the data does not
    know are left out."""
    from floor.risk.protocol_data import load_protocol_data
    from floor.risk.scores import score

    data = load_protocol_data()
    known = {p.id: p for p in data.protocols}
    pairs = {(t.protocol, t.chain_id) for t in settings.strategy.targets}
    if not pairs:
        pairs = {(market.protocol, chain.id) for chain in settings.chains for market in chain.markets}
    as_of = today or dt.datetime.now(dt.UTC).date()
    scores: dict[str, int] = {}
    for protocol, chain_id in sorted(pairs):
        if protocol not in known:
            continue
        overall = score(known[protocol], (), as_of, chain_id=chain_id).overall
        scores[protocol] = min(overall, scores.get(protocol, overall))
    return scores


# ---------------------------------------------------------------------------- the collector


class Grown(Generic[_T]):
    """An aggregate of a table that grows by appending, kept between scrapes: only the rows added
    since (ids after the last one read, up to the table's mark: its rows and highest id) are
    read (``read(after, upto)`` -> rows read, their aggregate) and merged in. When the rows
    counted do not add up to the table's (a row committed late under an id already passed),
    the whole table is read again."""

    def __init__(self, read: Callable[[int, int | None], tuple[int, _T]], merge: Callable[[_T, _T], _T]) -> None:
        self.read = read
        self.merge = merge
        self.kept: tuple[int, int, _T] | None = None  # rows seen, highest id read, aggregate

    def __call__(self, mark: tuple[int, int] | None) -> _T:
        rows, highest = mark or (0, 0)
        if self.kept is not None:
            seen, upto, value = self.kept
            if (seen, upto) == (rows, highest):
                return value
            if highest >= upto:
                added, delta = self.read(upto, highest)
                if seen + added == rows:
                    self.kept = (rows, highest, self.merge(value, delta))
                    return self.kept[2]
        seen, value = self.read(0, highest)
        self.kept = (seen, highest, value)
        return value


def _family(metric: m.Metric) -> Family:
    labels = list(metric.labels)
    if metric.kind == "counter":
        return CounterMetricFamily(metric.name, metric.help, labels=labels)
    if metric.kind == "histogram":
        return HistogramMetricFamily(metric.name, metric.help, labels=labels)
    return GaugeMetricFamily(metric.name, metric.help, labels=labels)


def _add(family: Family, metric: m.Metric, labels: Mapping[str, str], value: float) -> None:
    values = [labels[name] for name in metric.labels]
    if isinstance(family, CounterMetricFamily | GaugeMetricFamily):
        family.add_metric(values, value)


def _add_histogram(
    family: Family, metric: m.Metric, labels: Mapping[str, str], cumulative: Sequence[int], count: int, total: float
) -> None:
    if not isinstance(family, HistogramMetricFamily):
        return
    # Bounds as prometheus_client writes them (1.0, 0.5): repr of the float.
    buckets = [(repr(float(bound)), float(c)) for bound, c in zip(metric.buckets, cumulative, strict=True)]
    buckets.append(("+Inf", float(count)))
    family.add_metric([labels[name] for name in metric.labels], buckets, total)


@dataclass
class _Families:
    """The families of one scrape, by metric name, each created on first use."""

    by_name: dict[str, Family] = field(default_factory=dict)

    def __call__(self, metric: m.Metric) -> Family:
        family = self.by_name.get(metric.name)
        if family is None:
            family = self.by_name[metric.name] = _family(metric)
        return family

    def gauge(self, metric: m.Metric, value: float, **labels: str) -> None:
        _add(self(metric), metric, labels, value)


class EngineCollector(Collector):
    """A prometheus_client collector rendering the `floor_engine_*` series from ``store`` and the
    latest status reading (``status``: called at each scrape, never waits). ``risk``: each
    protocol's score (`risk_scores`). ``clock``: unix seconds."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        status: Callable[[], StatusReading],
        risk: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.settings = settings
        self.status = status
        self.risk = dict(risk or {})
        self.clock = clock
        self.chain_ids = [chain.id for chain in settings.chains]
        self.queue_chains = [chain.id for chain in settings.chains if chain.executor is not None]
        protocols = {t.protocol for t in settings.strategy.targets} or {
            market.protocol for chain in settings.chains for market in chain.markets
        }
        # The aggregates of the tables that grow by appending, kept between scrapes.
        histograms = {x.name: x.buckets for x in m.ALL_METRICS if x.source == "exporter" and x.kind == "histogram"}
        self._events = Grown(partial(store.metric_totals, histograms), _add_histograms)
        self._refusals = Grown(store.refusal_counts, _add_counts)
        self._versions = Grown(store.signed_versions, _add_pairs)
        self._inclusion = Grown(partial(store.inclusion_buckets, m.TX_INCLUSION.buckets), _add_histograms)
        self.scopes = ["engine", *(f"chain:{c}" for c in self.chain_ids), *(f"protocol:{p}" for p in sorted(protocols))]

    def describe(self) -> Iterable[Family]:
        return []  # registering must not scrape the store

    def collect(self) -> Iterator[Family]:
        families = _Families()
        for metric in m.ALL_METRICS:
            if metric.source == "exporter":
                families(metric)  # every family is shown, with or without samples
        now = self.clock()
        reading = self.status()
        try:
            self._positions(families)
            self._engine(families, reading, now)
            self._queues(families, reading)
            marks = self.store.table_marks()
            self._store_tables(families, marks)
            self._exit_drills(families, now)
            self._recorded(families, now, marks)
        except Exception as exc:  # a failed scrape is the signal (`up`); the cause goes to the log
            log.error("scrape failed", error=f"{type(exc).__name__}: {exc}")
            raise
        for protocol, overall in sorted(self.risk.items()):
            families.gauge(m.RISK_SCORE, overall, protocol=protocol)
        families.gauge(m.STATUS_ANSWERING, 1.0 if reading.answering else 0.0)
        yield from families.by_name.values()

    # -- the market marks

    def _positions(self, families: _Families) -> None:
        marks = self.store.latest_market_marks(self.chain_ids)
        by_protocol: dict[tuple[int, str], list[MarketMark]] = defaultdict(list)
        by_asset: dict[tuple[int, str, str], list[MarketMark]] = defaultdict(list)
        last_read: dict[int, float] = {}
        for mark in marks:
            by_protocol[mark.chain_id, mark.protocol].append(mark)
            by_asset[mark.chain_id, mark.protocol, mark.asset].append(mark)
            last_read[mark.chain_id] = max(last_read.get(mark.chain_id, 0.0), mark.taken_at.timestamp())
        for (chain_id, protocol), rows in sorted(by_protocol.items()):
            labels = {"chain": str(chain_id), "protocol": protocol}
            tvl = sum((Decimal(r.value_usd) for r in rows if r.value_usd is not None), Decimal(0))
            families.gauge(m.TVL_TOTAL, float(tvl), **labels)
            families.gauge(m.POSITIONS, sum(1 for r in rows if r.amount > 0), **labels)
            apy = apy_of(rows)
            if apy is not None:
                families.gauge(m.APY, apy, **labels)
        # Markets of one protocol with one asset (two vaults of USDC) are one series: summed, and
        # the worst ratio and slippage.
        for (chain_id, protocol, asset), rows in sorted(by_asset.items()):
            labels = {"chain": str(chain_id), "protocol": protocol, "asset": asset}
            families.gauge(m.POSITION_AMOUNT, sum(whole(r.amount, r.decimals) for r in rows), **labels)
            values = [Decimal(r.value_usd) for r in rows if r.value_usd is not None]
            if values:
                families.gauge(m.POSITION_VALUE, float(sum(values, Decimal(0))), **labels)
            ratios = [r.liquidity_ratio_bps for r in rows if r.liquidity_ratio_bps is not None]
            if ratios:
                families.gauge(m.LIQUIDITY_RATIO, max(ratios) / 10_000, **labels)
            safe = [whole(r.max_safe_withdrawal, r.decimals) for r in rows if r.max_safe_withdrawal is not None]
            if safe:
                families.gauge(m.MAX_SAFE_WITHDRAWAL, sum(safe), **labels)
            slippage = [r.exit_slippage_bps for r in rows if r.exit_slippage_bps is not None]
            if slippage:
                families.gauge(m.EXIT_SLIPPAGE, max(slippage), **labels)
        for chain_id, at in sorted(last_read.items()):
            families.gauge(m.LAST_READING, at, chain=str(chain_id))

    # -- the engine

    def _engine(self, families: _Families, reading: StatusReading, now: float) -> None:
        engine_id = self.settings.engine_id
        status = reading.engine if reading.answering else None
        state: str | None = None
        paused_since: float | None = None
        if status is not None:
            state = status.state.value
            if status.state == EngineState.PAUSED and status.paused_at is not None:
                paused_since = status.paused_at.timestamp()
        recorded = None
        if status is None or (state == EngineState.PAUSED.value and paused_since is None):
            recorded = self.store.engine_state(engine_id)
        if recorded is not None:
            row, since = recorded
            state = state or row.to_state
            if state == EngineState.PAUSED.value and paused_since is None:
                paused_since = (since or row.at).timestamp()
        if state is not None:
            for known in EngineState:
                families.gauge(m.STATE, 1.0 if known.value == state else 0.0, state=known.value)
            paused = max(0.0, now - paused_since) if state == EngineState.PAUSED.value and paused_since else 0.0
            families.gauge(m.PAUSED_SECONDS, paused)
        if status is not None and status.operation is not None:
            families.gauge(
                m.OPERATION_RUNNING, 1.0, kind=status.operation.kind.value, step=step_label(status.operation.step)
            )
        # Breakers: the engine's own book when it answers (every scope not in it is closed),
        # else each scope's last recorded change; the strategy's scopes always shown.
        if status is not None:
            states = {b.scope: b.state.value for b in status.breakers}
        else:
            states = self.store.breaker_states(engine_id)
        levels: dict[str, int] = dict.fromkeys(self.scopes, 0)
        for scope, to_state in states.items():
            level = m.BREAKER_LEVELS.get(to_state, 0)
            if level == 0 and scope not in levels:
                continue  # a closed scope outside the strategy (a past reconciliation's): not shown
            scope = _bounded_scope(scope)
            levels[scope] = max(levels.get(scope, 0), level)
        for scope, level in sorted(levels.items()):
            families.gauge(m.BREAKER_STATE, level, scope=scope)

    # -- the transaction queues

    def _queues(self, families: _Families, reading: StatusReading) -> None:
        if reading.queues is None:
            return
        per_chain: dict[int, list[QueueReading]] = {c: [] for c in self.queue_chains}
        for queue in reading.queues:
            per_chain.setdefault(queue.chain_id, []).append(queue)
        for chain_id, queues in sorted(per_chain.items()):
            chain = str(chain_id)
            families.gauge(m.TXQUEUE_PENDING, sum(q.pending for q in queues), chain=chain)
            families.gauge(m.TXQUEUE_INFLIGHT, sum(q.inflight for q in queues), chain=chain)
            families.gauge(m.TXQUEUE_HELD, 1.0 if any(q.held for q in queues) else 0.0, chain=chain)
            families.gauge(m.NONCE_GAP, sum(q.nonce_gap for q in queues), chain=chain)
            rates = [q.private_inclusion for q in queues if q.private_inclusion is not None]
            if rates:
                families.gauge(m.PRIVATE_INCLUSION, sum(rates) / len(rates), chain=chain)

    # -- the store's own tables, aggregated

    def _store_tables(self, families: _Families, marks: Mapping[str, tuple[int, int]]) -> None:
        discrepancies = self.store.open_discrepancy_counts()
        for chain_id in sorted(set(self.chain_ids) | set(discrepancies)):
            families.gauge(m.DISCREPANCIES_OPEN, discrepancies.get(chain_id, 0), chain=str(chain_id))
        for kind, count in sorted(self.store.open_alert_counts().items()):
            families.gauge(m.ALERTS_OPEN, count, kind=kind)
        refused = self._refusals(marks.get("audit_log"))
        refusals: dict[tuple[str, str], int] = defaultdict(int)
        for (kind, reason), count in refused.items():
            refusals[_bounded_kind(kind), command_refusal_reason(reason)] += count
        for (kind, reason), count in sorted(refusals.items()):
            _add(families(m.COMMAND_REFUSALS), m.COMMAND_REFUSALS, {"kind": kind, "reason": reason}, count)
        versions = self._versions(marks.get("signed_tx"))
        for chain_id in sorted(set(self.queue_chains) | set(versions)):
            replacements, cancels = versions.get(chain_id, (0, 0))
            _add(families(m.TXQUEUE_REPLACEMENTS), m.TXQUEUE_REPLACEMENTS, {"chain": str(chain_id)}, replacements)
            _add(families(m.TXQUEUE_CANCELS), m.TXQUEUE_CANCELS, {"chain": str(chain_id)}, cancels)
        inclusion = self._inclusion(marks.get("tx_journal"))
        for chain_id, (cumulative, count, total) in sorted(inclusion.items()):
            _add_histogram(families(m.TX_INCLUSION), m.TX_INCLUSION, {"chain": str(chain_id)}, cumulative, count, total)

    # -- the exit drills

    def _exit_drills(self, families: _Families, now: float) -> None:
        """Each chain's latest drill: per protocol whether every exit went and the costliest, the
        limit it ran under, and its age."""
        for drill in self.store.latest_exit_drills(self.chain_ids):
            chain = str(drill.chain_id)
            families.gauge(m.EXIT_DRILL_AGE, max(0.0, now - drill.drilled_at.timestamp()), chain=chain)
            if not drill.error:
                families.gauge(m.EXIT_DRILL_LIMIT, drill.limit_bps, chain=chain)
            for protocol, (sound, worst) in sorted(drill.protocols().items()):
                families.gauge(m.EXIT_DRILL_OK, 1.0 if sound else 0.0, chain=chain, protocol=protocol)
                if worst is not None:
                    families.gauge(m.EXIT_DRILL_SLIPPAGE, worst, chain=chain, protocol=protocol)

    # -- what the engine's activities recorded

    def _recorded(self, families: _Families, now: float, marks: Mapping[str, tuple[int, int]]) -> None:
        exported = [x for x in m.ALL_METRICS if x.source == "exporter" and x.name not in DERIVED]
        gauges = [x.name for x in exported if x.kind == "gauge"]
        for row in self.store.gauges(gauges):
            metric = m.BY_NAME[row.name]
            labels = _declared(metric, row.labels)
            if labels is None:
                continue
            value = row.value + max(0.0, now - row.at.timestamp()) if row.name in AGES else row.value
            families.gauge(metric, value, **labels)
        events = {x.name: x for x in exported if x.kind != "gauge"}
        totals = self._events(marks.get("metric_event"))
        for (name, key), (cumulative, count, total) in sorted(totals.items()):
            event = events.get(name)
            found = None if event is None else _declared(event, key)
            if event is None or found is None:
                continue  # not an event the exporter shows, or labels of an older declaration
            if event.kind == "counter":
                _add(families(event), event, found, total)
            else:
                _add_histogram(families(event), event, found, cumulative, count, total)


_K = TypeVar("_K")


def _add_counts(a: Mapping[_K, int], b: Mapping[_K, int]) -> dict[_K, int]:
    out = dict(a)
    for key, count in b.items():
        out[key] = out.get(key, 0) + count
    return out


def _add_pairs(a: Mapping[_K, tuple[int, int]], b: Mapping[_K, tuple[int, int]]) -> dict[_K, tuple[int, int]]:
    out = dict(a)
    for key, (x, y) in b.items():
        before = out.get(key, (0, 0))
        out[key] = (before[0] + x, before[1] + y)
    return out


def _add_histograms(
    a: Mapping[_K, tuple[list[int], int, float]], b: Mapping[_K, tuple[list[int], int, float]]
) -> dict[_K, tuple[list[int], int, float]]:
    out = dict(a)
    for key, (counts, n, total) in b.items():
        if key in out:
            before, m_, t = out[key]
            out[key] = ([x + y for x, y in zip(before, counts, strict=True)], m_ + n, t + total)
        else:
            out[key] = (list(counts), n, total)
    return out


def _declared(metric: m.Metric, key: str) -> dict[str, str] | None:
    """A stored row's labels when they are the metric's declared ones (rows of an older
    declaration are left out rather than break the scrape)."""
    try:
        labels = m.labels_of(key)
    except ValueError:
        return None
    return labels if set(labels) == set(metric.labels) else None


def _bounded_scope(scope: str) -> str:
    """A breaker scope as a label: a lost transaction's reconciliation scope without its hash."""
    prefix, _, rest = scope.partition(":")
    chain, _, kind = rest.partition(":")
    if prefix == "reconcile" and kind.startswith("tx:"):
        return f"reconcile:{chain}:tx"
    return scope


def _bounded_kind(kind: str) -> str:
    """A command kind as a label: the known kinds, else "other" (a refused sender's text)."""
    return kind if kind in _KINDS else "other"
