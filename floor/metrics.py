"""The engine's Prometheus metrics, served by the worker on `/metrics` (`metrics.port`).

Each metric is declared once here, so names and labels stay one list for dashboards and
alert rules. Values are set by the parts that measure them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, start_http_server

BASEFEE_MAE = Gauge(
    "floor_basefee_prediction_mae_gwei",
    "Mean absolute error of the base-fee predictor on this chain, over settled predictions",
    ["chain_id", "horizon_blocks"],
)
BASEFEE_NAIVE_MAE = Gauge(
    "floor_basefee_naive_mae_gwei",
    "Mean absolute error of 'the base fee stays as it is', over the same predictions",
    ["chain_id", "horizon_blocks"],
)
BASEFEE_COVERAGE = Gauge(
    "floor_basefee_interval_coverage_ratio",
    "Share of settled predictions whose interval held the true base fee (stated: 0.9)",
    ["chain_id", "horizon_blocks"],
)
BASEFEE_SETTLED = Gauge(
    "floor_basefee_predictions_settled",
    "Predictions settled against the base fee that came",
    ["chain_id", "horizon_blocks"],
)

# The watchdog's (`floor/watchdog.py`, its own process and port).
WATCHDOG_FOREIGN_TXS = Counter(
    "floor_watchdog_foreign_transactions_total",
    "Transactions of the operator key (or executes) the engine's queue did not sign: a leaked key",
    ["chain_id"],
)
WATCHDOG_PAUSES = Counter(
    "floor_watchdog_pauses_total",
    "The watchdog's answers to a foreign transaction: paused, already_paused, failed",
    ["chain_id", "outcome"],
)
WATCHDOG_BLOCK = Gauge(
    "floor_watchdog_last_block",
    "The last block the watchdog has checked on this chain (stalls when the watchdog does)",
    ["chain_id"],
)


def serve(port: int, address: str = "127.0.0.1") -> None:
    """Serve /metrics on a daemon thread."""
    start_http_server(port, addr=address)
