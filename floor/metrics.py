"""The engine's Prometheus metrics: every name, kind, unit and label declared once here, so
dashboards (`deploy/grafana`) and alert rules (`deploy/prometheus`) name what exists.

Which process exports what (each series from one place, however many workers run):

- the exporter (`floor-exporter`, `floor/exporter.py`, one per deployment, `metrics.exporter_port`):
  every `floor_engine_*` series, rendered from the store and the engine's and queues' status;
- each worker (`floor-worker`, `metrics.port`): its own `floor_basefee_*`, and Temporal's SDK
  metrics (`temporal_*`) on `metrics.temporal_port`;
- the watchdog: `floor_watchdog_*`; the admin API: `floor_api_*` on its own `/metrics`.

The engine's parts measure in activities and write to the store (`Store.set_gauges`,
`Store.record_metric_events`) with rows built here: `SOME_METRIC.gauge_row(value, at, **labels)`
for a gauge, `SOME_METRIC.event_row(value, key, at, **labels)` for a counter's increment or a
histogram's observation (`key`: the writer's own id for it, so a retry records it once).

Labels are bounded: `chain` is the chain id as text ("1", "42161"), `protocol` the adapter's
protocol id ("idle" for idle balances), `token`/`asset` a symbol; never a hash or an address.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from floor.store.tables import GaugeValue, MetricEvent

Kind = Literal["gauge", "counter", "histogram"]
Source = Literal["exporter", "worker", "api", "watchdog"]

# Engine states and breaker states as the metrics show them (floor.engine.EngineState,
# floor.risk.breakers.BreakerState), kept here so this module imports neither.
BREAKER_LEVELS = {"CLOSED": 0, "HALF_OPEN": 1, "OPEN": 2}
REFUSAL_REASONS = ("signature", "role", "replay", "expired", "rate_limit", "other")


def labels_key(labels: Mapping[str, str]) -> str:
    """Labels as the store keeps them: canonical JSON, keys sorted, no spaces."""
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


def labels_of(key: str) -> dict[str, str]:
    """The labels a `labels_key` text holds."""
    loaded = json.loads(key)
    if not isinstance(loaded, dict):
        raise ValueError(f"labels {key!r}: not a JSON object")
    return {str(k): str(v) for k, v in loaded.items()}


@dataclass(frozen=True)
class Metric:
    """One metric: its exposed name (a counter's ends in `_total`), kind, help (with its unit),
    label names, a histogram's bucket bounds, and the process that exports it."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    source: Source = "exporter"

    def __post_init__(self) -> None:
        if self.kind == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"{self.name}: a counter's name ends in _total")
        if (self.kind == "histogram") != bool(self.buckets):
            raise ValueError(f"{self.name}: a histogram, and only a histogram, has buckets")
        if list(self.buckets) != sorted(set(self.buckets)):
            raise ValueError(f"{self.name}: buckets must rise")

    @property
    def series(self) -> tuple[str, ...]:
        """The names of the series it exposes (a histogram's `_bucket`, `_sum`, `_count`)."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    def label_values(self, labels: Mapping[str, object]) -> dict[str, str]:
        """``labels`` checked against the declared names (none unknown, none missing), as text."""
        unknown = sorted(set(labels) - set(self.labels))
        missing = sorted(set(self.labels) - set(labels))
        if unknown or missing:
            parts = [
                f"unknown {', '.join(unknown)}" if unknown else "",
                f"missing {', '.join(missing)}" if missing else "",
            ]
            raise ValueError(
                f"{self.name} labels: {'; '.join(p for p in parts if p)} (declared: {', '.join(self.labels) or 'none'})"
            )
        out: dict[str, str] = {}
        for name, value in labels.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValueError(f"{self.name} label {name}: text (or a chain id), not {type(value).__name__}")
            out[name] = str(value)
        return out

    def gauge_row(self, value: float, at: datetime, **labels: str | int) -> GaugeValue:
        """A gauge's reading for `Store.set_gauges`."""
        from floor.store.tables import GaugeValue

        if self.kind != "gauge":
            raise ValueError(f"{self.name} is a {self.kind}: record it with event_row")
        return GaugeValue(name=self.name, labels=labels_key(self.label_values(labels)), value=float(value), at=at)

    def event_row(self, value: float, key: str, at: datetime, **labels: str | int) -> MetricEvent:
        """A counter's increment or a histogram's observation for `Store.record_metric_events`;
        ``key`` names it once (a retry with the same key records nothing)."""
        from floor.store.tables import MetricEvent

        if self.kind == "gauge":
            raise ValueError(f"{self.name} is a gauge: record it with gauge_row")
        if not key:
            raise ValueError(f"{self.name}: an event needs its key")
        if self.kind == "counter" and value < 0:
            raise ValueError(f"{self.name}: a counter only grows, not by {value}")
        return MetricEvent(
            name=self.name, labels=labels_key(self.label_values(labels)), value=float(value), key=key, at=at
        )

    # prometheus_client objects, for the processes that count in memory (worker, watchdog, API).

    def gauge(self, registry: CollectorRegistry | None = REGISTRY) -> Gauge:
        self._is("gauge")
        return Gauge(self.name, self.help, list(self.labels), registry=registry)

    def counter(self, registry: CollectorRegistry | None = REGISTRY) -> Counter:
        self._is("counter")
        return Counter(self.name, self.help, list(self.labels), registry=registry)

    def histogram(self, registry: CollectorRegistry | None = REGISTRY) -> Histogram:
        self._is("histogram")
        return Histogram(self.name, self.help, list(self.labels), registry=registry, buckets=self.buckets)

    def _is(self, kind: Kind) -> None:
        if self.kind != kind:
            raise ValueError(f"{self.name} is a {self.kind}, not a {kind}")


_CPA = ("chain", "protocol", "asset")

# ---------------------------------------------------------------------------- the seed's six

TVL_TOTAL = Metric(
    "floor_engine_tvl_total",
    "gauge",
    "Value of the engine's positions in USD per chain and protocol (idle: the executor's idle balances)",
    ("chain", "protocol"),
)
APY = Metric(
    "floor_engine_apy",
    "gauge",
    "APY as a ratio (0.035 is 3.5 %), value-weighted over the protocol's markets with a position, else their mean",
    ("chain", "protocol"),
)
POSITIONS = Metric(
    "floor_engine_positions",
    "gauge",
    "Markets of the protocol on this chain where the engine holds a position",
    ("chain", "protocol"),
)
ERRORS = Metric(
    "floor_engine_errors_total",
    "counter",
    "Failed activity attempts and failed operation parts, by error type (chain and protocol empty where not known)",
    ("chain", "protocol", "type"),
)
REBALANCE_DURATION = Metric(
    "floor_engine_rebalance_duration_seconds",
    "histogram",
    "Duration of a rebalance, from its start to its result, in seconds",
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
)
HARVEST_YIELD = Metric(
    "floor_engine_harvest_yield_total",
    "counter",
    "Yield harvested in whole tokens, by source: rebase, exchange_rate or claimed",
    ("chain", "token", "source"),
)

# ---------------------------------------------------------------------------- operations

STATE = Metric(
    "floor_engine_state",
    "gauge",
    "1 for the engine's current state, 0 for each other state",
    ("state",),
)
PAUSED_SECONDS = Metric(
    "floor_engine_paused_seconds", "gauge", "How long the engine has been paused, in seconds (0 when not)"
)
OPERATION_RUNNING = Metric(
    "floor_engine_operation_running",
    "gauge",
    "1 while an operation of this kind runs, labelled with its current step",
    ("kind", "step"),
)
BREAKER_STATE = Metric(
    "floor_engine_breaker_state",
    "gauge",
    "Circuit breaker per scope: 0 closed, 1 half-open, 2 open",
    ("scope",),
)
POSITION_AMOUNT = Metric("floor_engine_position_amount", "gauge", "Position in whole tokens", _CPA)
POSITION_VALUE = Metric("floor_engine_position_value_usd", "gauge", "Position's value in USD", _CPA)
LIQUIDITY_RATIO = Metric(
    "floor_engine_liquidity_ratio",
    "gauge",
    "Position over what the market has available to withdraw, as a ratio",
    _CPA,
)
MAX_SAFE_WITHDRAWAL = Metric(
    "floor_engine_max_safe_withdrawal",
    "gauge",
    "What can be withdrawn from the market within the slippage limit, in whole tokens",
    _CPA,
)
EXIT_SLIPPAGE = Metric(
    "floor_engine_exit_slippage_bps",
    "gauge",
    "Slippage of leaving the whole position now, in basis points",
    _CPA,
)
RISK_SCORE = Metric(
    "floor_engine_risk_score",
    "gauge",
    "The risk model's overall score of the protocol, 0 to 100 (higher is safer; the lowest of its chains)",
    ("protocol",),
)
MOVE_SLIPPAGE = Metric(
    "floor_engine_move_slippage_bps",
    "histogram",
    "Realised slippage of a move into or out of a market, in basis points",
    ("chain", "protocol"),
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
TXQUEUE_PENDING = Metric(
    "floor_engine_txqueue_pending", "gauge", "Intents waiting in the chain's transaction queue", ("chain",)
)
TXQUEUE_INFLIGHT = Metric(
    "floor_engine_txqueue_inflight", "gauge", "Transactions sent and not yet settled on the chain", ("chain",)
)
TXQUEUE_HELD = Metric("floor_engine_txqueue_held", "gauge", "1 while the chain's queue is held", ("chain",))
TXQUEUE_REPLACEMENTS = Metric(
    "floor_engine_txqueue_replacements_total",
    "counter",
    "Transactions re-signed at the same nonce with higher fees",
    ("chain",),
)
TXQUEUE_CANCELS = Metric(
    "floor_engine_txqueue_cancels_total",
    "counter",
    "Nonces cancelled with a zero-value self-transfer",
    ("chain",),
)
TX_INCLUSION = Metric(
    "floor_engine_tx_inclusion_seconds",
    "histogram",
    "Time from a nonce's first signing to its journalled receipt, in seconds",
    ("chain",),
    buckets=(1, 2, 5, 10, 15, 30, 60, 120, 300, 600),
)
PRIVATE_INCLUSION = Metric(
    "floor_engine_private_inclusion_ratio",
    "gauge",
    "Share of the nonces sent privately that were included privately, as a ratio",
    ("chain",),
)
NONCE_GAP = Metric(
    "floor_engine_nonce_gap",
    "gauge",
    "Nonces between the chain's mined nonce and the queue's lowest in flight that nothing holds",
    ("chain",),
)
SIGNER_GAS = Metric(
    "floor_engine_signer_gas_balance_eth",
    "gauge",
    "The operator signer's balance for gas, in ETH",
    ("chain",),
)
DISCREPANCIES_OPEN = Metric(
    "floor_engine_discrepancies_open",
    "gauge",
    "Reconciliation discrepancies open (not accepted by an operator)",
    ("chain",),
)
PRICE_FEED_AGE = Metric(
    "floor_engine_price_feed_age_seconds",
    "gauge",
    "Seconds since the price feed's last update, as the risk check last read it (stored: the age at reading)",
    ("chain", "feed"),
)
ALERTS_OPEN = Metric("floor_engine_alerts_open", "gauge", "Alerts the engine raised and not resolved", ("kind",))
COMMAND_REFUSALS = Metric(
    "floor_engine_command_refusals_total",
    "counter",
    "Signed commands the engine refused: reason signature, role, replay, expired, rate_limit or other",
    ("kind", "reason"),
)
STATUS_ANSWERING = Metric(
    "floor_engine_status_answering",
    "gauge",
    "1 when the engine answered the exporter's last status query, 0 when not (worker or Temporal down)",
)
LAST_READING = Metric(
    "floor_engine_last_reading_timestamp_seconds",
    "gauge",
    "When the chain's positions were last read (unix seconds)",
    ("chain",),
)
EXIT_DRILL_OK = Metric(
    "floor_engine_exit_drill_ok",
    "gauge",
    "1 when every exit of the protocol on the chain went through in the latest exit drill on a fork,"
    ' 0 when one would fail or only partly leave (protocol "all": the chain could not be drilled)',
    ("chain", "protocol"),
)
EXIT_DRILL_SLIPPAGE = Metric(
    "floor_engine_exit_drill_slippage_bps",
    "gauge",
    "The protocol's costliest exit on the chain in the latest exit drill, in basis points of fair value"
    " (realised on the fork, else as quoted)",
    ("chain", "protocol"),
)
EXIT_DRILL_LIMIT = Metric(
    "floor_engine_exit_drill_limit_bps",
    "gauge",
    "The slippage limit the chain's latest exit drill ran under, in basis points",
    ("chain",),
)
EXIT_DRILL_AGE = Metric(
    "floor_engine_exit_drill_age_seconds", "gauge", "Seconds since the chain's latest exit drill", ("chain",)
)

# ---------------------------------------------------------------------------- the admin API's

API_REFUSALS = Metric(
    "floor_api_refusals_total", "counter", "Requests the admin API refused, by reason", ("reason",), source="api"
)
API_REQUESTS = Metric(
    "floor_api_requests_total",
    "counter",
    "Requests the admin API answered, by route and HTTP status",
    ("route", "status"),
    source="api",
)

# ---------------------------------------------------------------------------- each worker's own

_BASEFEE = ("chain_id", "horizon_blocks")
BASEFEE_MAE_METRIC = Metric(
    "floor_basefee_prediction_mae_gwei",
    "gauge",
    "Mean absolute error of the base-fee predictor on this chain, over settled predictions",
    _BASEFEE,
    source="worker",
)
BASEFEE_NAIVE_MAE_METRIC = Metric(
    "floor_basefee_naive_mae_gwei",
    "gauge",
    "Mean absolute error of 'the base fee stays as it is', over the same predictions",
    _BASEFEE,
    source="worker",
)
BASEFEE_COVERAGE_METRIC = Metric(
    "floor_basefee_interval_coverage_ratio",
    "gauge",
    "Share of settled predictions whose interval held the true base fee (stated: 0.9)",
    _BASEFEE,
    source="worker",
)
BASEFEE_SETTLED_METRIC = Metric(
    "floor_basefee_predictions_settled",
    "gauge",
    "Predictions settled against the base fee that came",
    _BASEFEE,
    source="worker",
)

# ---------------------------------------------------------------------------- the watchdog's

WATCHDOG_FOREIGN_TXS_METRIC = Metric(
    "floor_watchdog_foreign_transactions_total",
    "counter",
    "Transactions of the operator key (or executes) the engine's queue did not sign: a leaked key",
    ("chain_id",),
    source="watchdog",
)
WATCHDOG_PAUSES_METRIC = Metric(
    "floor_watchdog_pauses_total",
    "counter",
    "The watchdog's answers to a foreign transaction: paused, already_paused, failed",
    ("chain_id", "outcome"),
    source="watchdog",
)
WATCHDOG_BLOCK_METRIC = Metric(
    "floor_watchdog_last_block",
    "gauge",
    "The last block the watchdog has checked on this chain (stalls when the watchdog does)",
    ("chain_id",),
    source="watchdog",
)

ALL_METRICS: tuple[Metric, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Metric))
BY_NAME: dict[str, Metric] = {m.name: m for m in ALL_METRICS}
if len(BY_NAME) != len(ALL_METRICS):
    raise ValueError("a metric name is declared twice")


def metric_of_series(series: str) -> Metric | None:
    """The declared metric a series name belongs to (a histogram's `_bucket`, `_sum`, `_count`
    included), None when none does."""
    for metric in ALL_METRICS:
        if series in metric.series:
            return metric
    return None


# The in-memory metrics of the processes that measure them themselves.
BASEFEE_MAE = BASEFEE_MAE_METRIC.gauge()
BASEFEE_NAIVE_MAE = BASEFEE_NAIVE_MAE_METRIC.gauge()
BASEFEE_COVERAGE = BASEFEE_COVERAGE_METRIC.gauge()
BASEFEE_SETTLED = BASEFEE_SETTLED_METRIC.gauge()
WATCHDOG_FOREIGN_TXS = WATCHDOG_FOREIGN_TXS_METRIC.counter()
WATCHDOG_PAUSES = WATCHDOG_PAUSES_METRIC.counter()
WATCHDOG_BLOCK = WATCHDOG_BLOCK_METRIC.gauge()


def serve(port: int, address: str = "127.0.0.1") -> None:
    """Serve /metrics on a daemon thread."""
    start_http_server(port, addr=address)
