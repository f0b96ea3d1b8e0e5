"""The metrics' declarations (`floor/metrics.py`): the names and labels dashboards and alert rules
use, each declared once with the process that exports it; the rows writers build from them; and
the exporter's pure reductions (`floor/exporter.py`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from floor import metrics as m
from floor.exporter import Grown, apy_of, command_refusal_reason, nonce_gap, queue_reading, step_label
from floor.store.tables import MarketMark
from floor.txqueue import InflightStatus, PendingStatus, PrivateStats, QueueStatus

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CPA = ("chain", "protocol", "asset")

# The names and labels every dashboard and rule may rely on (histograms: their buckets).
EXPORTER = {
    "floor_engine_tvl_total": ("gauge", ("chain", "protocol")),
    "floor_engine_apy": ("gauge", ("chain", "protocol")),
    "floor_engine_positions": ("gauge", ("chain", "protocol")),
    "floor_engine_errors_total": ("counter", ("chain", "protocol", "type")),
    "floor_engine_rebalance_duration_seconds": ("histogram", ()),
    "floor_engine_harvest_yield_total": ("counter", ("chain", "token", "source")),
    "floor_engine_state": ("gauge", ("state",)),
    "floor_engine_paused_seconds": ("gauge", ()),
    "floor_engine_operation_running": ("gauge", ("kind", "step")),
    "floor_engine_breaker_state": ("gauge", ("scope",)),
    "floor_engine_position_amount": ("gauge", CPA),
    "floor_engine_position_value_usd": ("gauge", CPA),
    "floor_engine_liquidity_ratio": ("gauge", CPA),
    "floor_engine_max_safe_withdrawal": ("gauge", CPA),
    "floor_engine_exit_slippage_bps": ("gauge", CPA),
    "floor_engine_risk_score": ("gauge", ("protocol",)),
    "floor_engine_move_slippage_bps": ("histogram", ("chain", "protocol")),
    "floor_engine_txqueue_pending": ("gauge", ("chain",)),
    "floor_engine_txqueue_inflight": ("gauge", ("chain",)),
    "floor_engine_txqueue_held": ("gauge", ("chain",)),
    "floor_engine_txqueue_replacements_total": ("counter", ("chain",)),
    "floor_engine_txqueue_cancels_total": ("counter", ("chain",)),
    "floor_engine_tx_inclusion_seconds": ("histogram", ("chain",)),
    "floor_engine_private_inclusion_ratio": ("gauge", ("chain",)),
    "floor_engine_nonce_gap": ("gauge", ("chain",)),
    "floor_engine_signer_gas_balance_eth": ("gauge", ("chain",)),
    "floor_engine_discrepancies_open": ("gauge", ("chain",)),
    "floor_engine_price_feed_age_seconds": ("gauge", ("chain", "feed")),
    "floor_engine_alerts_open": ("gauge", ("kind",)),
    "floor_engine_command_refusals_total": ("counter", ("kind", "reason")),
    "floor_engine_status_answering": ("gauge", ()),
    "floor_engine_last_reading_timestamp_seconds": ("gauge", ("chain",)),
    "floor_engine_exit_drill_ok": ("gauge", ("chain", "protocol")),
    "floor_engine_exit_drill_slippage_bps": ("gauge", ("chain", "protocol")),
    "floor_engine_exit_drill_limit_bps": ("gauge", ("chain",)),
    "floor_engine_exit_drill_age_seconds": ("gauge", ("chain",)),
}
BUCKETS = {
    "floor_engine_rebalance_duration_seconds": (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
    "floor_engine_move_slippage_bps": (1, 2, 5, 10, 20, 50, 100, 200, 500),
    "floor_engine_tx_inclusion_seconds": (1, 2, 5, 10, 15, 30, 60, 120, 300, 600),
}
PREFIX = {"exporter": "floor_engine_", "worker": "floor_basefee_", "watchdog": "floor_watchdog_", "api": "floor_api_"}


def test_the_exporters_metrics_are_exactly_the_shared_names() -> None:
    exported = {x.name: (x.kind, x.labels) for x in m.ALL_METRICS if x.source == "exporter"}
    assert exported == EXPORTER
    assert {x.name: x.buckets for x in m.ALL_METRICS if x.kind == "histogram"} == BUCKETS


def test_each_name_once_each_with_its_processs_prefix_help_and_bounded_labels() -> None:
    assert len({x.name for x in m.ALL_METRICS}) == len(m.ALL_METRICS)
    for metric in m.ALL_METRICS:
        assert metric.name.startswith(PREFIX[metric.source]), metric.name
        assert metric.help and not metric.help.endswith("."), metric.name
        assert metric.kind != "counter" or metric.name.endswith("_total"), metric.name
        # never per transaction or per address
        assert not {"tx_hash", "hash", "address", "signer", "market"} & set(metric.labels), metric.name
    assert {x.name for x in m.ALL_METRICS if x.source == "api"} == {
        "floor_api_refusals_total",
        "floor_api_requests_total",
    }


def test_the_in_process_metrics_are_built_from_their_declarations() -> None:
    # The worker's and the watchdog's prometheus_client objects carry the declared names.
    for declared, built in [
        (m.BASEFEE_MAE_METRIC, m.BASEFEE_MAE),
        (m.BASEFEE_SETTLED_METRIC, m.BASEFEE_SETTLED),
        (m.WATCHDOG_PAUSES_METRIC, m.WATCHDOG_PAUSES),
        (m.WATCHDOG_BLOCK_METRIC, m.WATCHDOG_BLOCK),
    ]:
        assert built in REGISTRY._collector_to_names  # the default registry: what the worker serves
        assert built._labelnames == declared.labels
        assert built._name == declared.name.removesuffix("_total")
    with pytest.raises(ValueError, match="is a gauge, not a counter"):
        m.SIGNER_GAS.counter(registry=None)
    assert m.MOVE_SLIPPAGE.histogram(registry=None)._upper_bounds[:-1] == list(m.MOVE_SLIPPAGE.buckets)


def test_series_names_lead_back_to_their_metric() -> None:
    assert m.metric_of_series("floor_engine_tx_inclusion_seconds_bucket") is m.TX_INCLUSION
    assert m.metric_of_series("floor_engine_rebalance_duration_seconds_count") is m.REBALANCE_DURATION
    assert m.metric_of_series("floor_engine_errors_total") is m.ERRORS
    assert m.metric_of_series("floor_engine_tvl") is None
    assert m.metric_of_series("floor_engine_apy_bucket") is None


def test_labels_key_is_canonical() -> None:
    assert m.labels_key({"protocol": "aave-v3", "chain": "1"}) == '{"chain":"1","protocol":"aave-v3"}'
    assert m.labels_key({}) == "{}"
    assert m.labels_of('{"chain":"1"}') == {"chain": "1"}
    with pytest.raises(ValueError):
        m.labels_of("[1]")


def test_rows_carry_checked_labels_as_text() -> None:
    row = m.TVL_TOTAL.gauge_row(5, NOW, protocol="aave-v3", chain=42161)
    assert (row.name, row.labels, row.value, row.at) == (
        "floor_engine_tvl_total",
        '{"chain":"42161","protocol":"aave-v3"}',
        5.0,
        NOW,
    )
    event = m.HARVEST_YIELD.event_row(0.25, "engine/harvest-3/1:USDC", NOW, chain="1", token="USDC", source="claimed")
    assert (event.name, event.key, event.value) == ("floor_engine_harvest_yield_total", "engine/harvest-3/1:USDC", 0.25)
    assert m.REBALANCE_DURATION.event_row(3.5, "k", NOW).labels == "{}"
    with pytest.raises(ValueError, match="unknown asset; missing protocol"):
        m.TVL_TOTAL.gauge_row(1, NOW, chain="1", asset="USDC")
    with pytest.raises(ValueError, match="text"):
        m.TVL_TOTAL.gauge_row(1, NOW, chain=True, protocol="x")
    with pytest.raises(ValueError, match="needs its key"):
        m.ERRORS.event_row(1, "", NOW, chain="", protocol="", type="X")


def test_a_declaration_that_breaks_the_conventions_is_refused() -> None:
    with pytest.raises(ValueError, match="ends in _total"):
        m.Metric("floor_engine_x", "counter", "X")
    with pytest.raises(ValueError, match="buckets"):
        m.Metric("floor_engine_x", "histogram", "X")
    with pytest.raises(ValueError, match="rise"):
        m.Metric("floor_engine_x", "histogram", "X", buckets=(2, 1))


# ---------------------------------------------------------------- the exporter's reductions


def mark(amount: int, apy: float | None, value: str | None) -> MarketMark:
    return MarketMark(
        chain_id=1,
        protocol="metamorpho",
        market=f"1:metamorpho:v{amount}",
        asset="USDC",
        decimals=6,
        amount=amount,
        withdrawable=amount,
        value_usd=value,
        apy=apy,
        block_number=1,
        taken_at=NOW,
    )


def test_apy_is_value_weighted_over_positions_else_the_mean() -> None:
    held = [mark(3 * 10**6, 0.04, "3"), mark(1 * 10**6, 0.08, "1"), mark(0, 0.50, "0")]
    assert apy_of(held) == pytest.approx(0.05)  # (3 x 4 % + 1 x 8 %) / 4; the empty market left out
    # A position not priced: weighted by whole tokens.
    assert apy_of([mark(3 * 10**6, 0.04, None), mark(10**6, 0.08, "1")]) == pytest.approx(0.05)
    assert apy_of([mark(0, 0.02, None), mark(0, 0.04, None), mark(0, None, None)]) == pytest.approx(0.03)
    assert apy_of([mark(5, None, "1")]) is None


def test_nonce_gaps_are_the_nonces_nothing_holds() -> None:
    assert nonce_gap([]) == 0
    assert nonce_gap([7, 8, 9]) == 0
    assert nonce_gap([7, 9, 12]) == 3  # 8, 10, 11
    assert nonce_gap([7, 8], chain_nonce=5) == 2  # 5 and 6 mined by nothing the queue holds
    assert nonce_gap([7, 8], chain_nonce=8) == 0


def test_a_queues_status_as_its_metrics() -> None:
    status = QueueStatus(
        chain_id=42161,
        signer="0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        next_nonce=12,
        pending=[PendingStatus(intent_id="a", priority=2), PendingStatus(intent_id="b", priority=2)],
        inflight=[
            InflightStatus(nonce=9, intents=["x"], hashes=["0x1"], attempts=1, cancelling=False),
            InflightStatus(nonce=11, intents=["y"], hashes=["0x2"], attempts=2, cancelling=False),
        ],
        settled=3,
        held="paused by the engine",
        private=PrivateStats(sent=4, included=3, fallbacks=1),
    )
    reading = queue_reading(status.model_dump(mode="json"))
    assert (reading.chain_id, reading.pending, reading.inflight, reading.held) == (42161, 2, 2, True)
    assert (reading.private_inclusion, reading.nonce_gap) == (0.75, 1)
    with_chain = queue_reading({**status.model_dump(mode="json"), "chain_nonce": 7})
    assert with_chain.nonce_gap == 3  # 7, 8 and 10
    unread = queue_reading({**status.model_dump(mode="json"), "chain_nonce": 0})  # not read yet: no false gap
    assert unread.nonce_gap == 1


def test_steps_and_refusals_become_bounded_labels() -> None:
    assert step_label("claiming and selling rewards: 3 transactions") == "claiming and selling rewards"
    assert step_label("reading USDC liquidity on chain 42161") == "reading USDC liquidity on chain N"
    assert step_label("handing the claim of 0xabc to x") == "handing the claim of 0x… to x"
    assert len(step_label("x" * 500)) == 80
    reasons = {
        "rate limited: too many allocate commands; retry in 30 s": "rate_limit",
        "too many live commands: 0xA has 64 unexpired nonces": "rate_limit",
        "signature does not match: it recovers to 0xB, not the claimed signer 0xA": "signature",
        "malformed signature: v is 5, not 27 or 28": "signature",
        "unsigned: allocate needs a signature and its signer (no signature)": "signature",
        "0xA has no role; allocate needs OPERATOR": "role",
        "0xA is a VIEWER; pause needs OPERATOR": "role",
        "replayed: nonce 4 of 0xA was already used": "replay",
        "expired 30 s ago": "expired",
        "deadline is 9000 s ahead; at most 3600 s": "expired",
        "signed for chain 10, this engine is on chain 1": "other",
    }
    assert {r: command_refusal_reason(r) for r in reasons} == reasons
    assert set(reasons.values()) <= set(m.REFUSAL_REASONS)


def test_a_grown_aggregate_reads_only_what_was_appended_and_all_again_when_it_does_not_add_up() -> None:
    table: dict[int, int] = {}  # id -> value
    reads: list[tuple[int, int | None]] = []

    def read(after: int, upto: int | None) -> tuple[int, int]:
        reads.append((after, upto))
        rows = [v for i, v in table.items() if i > after and (upto is None or i <= upto)]
        return len(rows), sum(rows)

    def mark() -> tuple[int, int]:
        return len(table), max(table, default=0)

    total = Grown(read, lambda a, b: a + b)
    table |= {1: 10, 2: 20}
    assert total(mark()) == 30 and reads == [(0, 2)]
    assert total(mark()) == 30 and reads == [(0, 2)]  # unchanged: nothing read
    table |= {4: 40}
    assert total(mark()) == 70 and reads[-1] == (2, 4)  # only what was appended
    table[3] = 30  # committed late, under an id already passed: the count does not add up
    table[5] = 50
    assert total(mark()) == 150 and reads[-2:] == [(4, 5), (0, 5)]
    table.clear()  # a store emptied: read again from the start
    assert total(mark()) == 0 and reads[-1] == (0, 0)
