"""The metrics' tables on both databases (market marks, gauges, metric events) and the aggregate
readers the exporter renders from: each a GROUP BY in SQL, so a scrape stays fast as they grow."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from floor import metrics
from floor.access.audit import AuditEntry, AuditRow
from floor.store import (
    Alert,
    BreakerEventRow,
    EngineEvent,
    MarketMark,
    MetricEvent,
    SignedTx,
    Store,
    TxJournal,
)
from floor.store.errors import UnstorableValue

from .conftest import T0, at
from .test_store import disc, tx

SIGNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
EXECUTOR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def mark(market: str, block: int, amount: int = 10**6, *, chain_id: int = 1, taken: float = 0, **extra) -> MarketMark:
    protocol = market.split(":")[1]
    return MarketMark(
        chain_id=chain_id,
        protocol=protocol,
        market=market,
        asset=market.split(":")[2],
        decimals=6,
        amount=amount,
        withdrawable=amount,
        block_number=block,
        taken_at=at(taken),
        **extra,
    )


# ---------------------------------------------------------------- market marks


def test_market_marks_keep_exact_amounts_and_are_written_once(store: Store) -> None:
    big = 2**255 + 7
    rows = [
        mark(
            "1:aave-v3:USDC",
            10,
            big,
            value_usd="12345.678901",
            apy=0.0412,
            apy_source="quoted",
            liquidity_ratio_bps=12,
            max_safe_withdrawal=big - 1,
            exit_slippage_bps=3,
        ),
        mark("1:idle:USDC", 10, 5),
    ]
    assert store.record_market_marks(rows) == 2
    assert store.record_market_marks(rows) == 0  # a retried reconciliation
    got = {m.market: m for m in store.latest_market_marks()}
    aave = got["1:aave-v3:USDC"]
    assert (aave.amount, aave.max_safe_withdrawal, aave.value_usd) == (big, big - 1, "12345.678901")
    assert (aave.apy, aave.apy_source, aave.liquidity_ratio_bps, aave.exit_slippage_bps) == (0.0412, "quoted", 12, 3)
    idle = got["1:idle:USDC"]
    assert (idle.protocol, idle.value_usd, idle.apy, idle.max_safe_withdrawal) == ("idle", None, None, None)
    with pytest.raises(UnstorableValue):
        store.record_market_marks([mark("1:aave-v3:USDC", 11, -1)])


def test_latest_market_marks_are_each_chains_latest_block(store: Store) -> None:
    store.record_market_marks(
        [
            mark("1:aave-v3:USDC", 10),
            mark("1:compound-v3:USDC", 10),
            mark("1:aave-v3:USDC", 12, taken=24),  # the latest block of chain 1 has one market only
            mark("42161:aave-v3:USDC", 500, chain_id=42161),
            mark("42161:aave-v3:USDC", 400, chain_id=42161),
        ]
    )
    latest = [(m.chain_id, m.market, m.block_number) for m in store.latest_market_marks()]
    assert latest == [(1, "1:aave-v3:USDC", 12), (42161, "42161:aave-v3:USDC", 500)]
    assert [m.chain_id for m in store.latest_market_marks([42161, 10])] == [42161]
    assert store.latest_market_marks([]) == []


# ---------------------------------------------------------------- gauges


def test_gauges_are_upserted_and_an_older_reading_is_ignored(store: Store) -> None:
    gas = metrics.SIGNER_GAS
    store.set_gauges([gas.gauge_row(1.5, at(10), chain=1), gas.gauge_row(0.2, at(10), chain="42161")])
    store.set_gauges([gas.gauge_row(1.4, at(20), chain=1)])
    store.set_gauges([gas.gauge_row(9.9, at(5), chain=1)])  # a slower reader: older
    # Twice in one batch: the newer wins.
    store.set_gauges([gas.gauge_row(0.3, at(30), chain=42161), gas.gauge_row(0.1, at(25), chain=42161)])
    store.set_gauges([])
    got = {(g.name, g.labels): (g.value, g.at) for g in store.gauges()}
    assert got == {
        (gas.name, '{"chain":"1"}'): (1.4, at(20)),
        (gas.name, '{"chain":"42161"}'): (0.3, at(30)),
    }
    assert store.gauges([metrics.PRICE_FEED_AGE.name]) == []


def test_gauge_rows_refuse_unknown_or_missing_labels_and_naive_times() -> None:
    with pytest.raises(ValueError, match="unknown asset; missing protocol"):
        metrics.TVL_TOTAL.gauge_row(1.0, T0, chain="1", asset="USDC")
    with pytest.raises(ValueError, match="record it with event_row"):
        metrics.ERRORS.gauge_row(1.0, T0, chain="1", protocol="", type="X")
    with pytest.raises(ValueError, match="record it with gauge_row"):
        metrics.SIGNER_GAS.event_row(1.0, "k", T0, chain="1")
    with pytest.raises(ValueError, match="only grows"):
        metrics.ERRORS.event_row(-1.0, "k", T0, chain="1", protocol="", type="X")


def test_set_gauges_refuses_a_naive_time(store: Store) -> None:
    row = metrics.SIGNER_GAS.gauge_row(1.0, T0, chain=1)
    row.at = T0.replace(tzinfo=None)
    with pytest.raises(UnstorableValue):
        store.set_gauges([row])


# ---------------------------------------------------------------- events


def test_metric_events_are_recorded_once_per_key_and_summed(store: Store) -> None:
    errors, durations = metrics.ERRORS, metrics.REBALANCE_DURATION
    rows = [
        errors.event_row(1, "wf-1/1", T0, chain=1, protocol="aave-v3", type="RPCError"),
        errors.event_row(1, "wf-1/2", T0, chain=1, protocol="aave-v3", type="RPCError"),
        errors.event_row(1, "wf-2/1", T0, chain="", protocol="", type="Timeout"),
        durations.event_row(4.0, "engine/rebalance-1", T0),
        durations.event_row(45.5, "engine/rebalance-2", T0),
        durations.event_row(4000.0, "engine/rebalance-3", T0),
    ]
    assert store.record_metric_events(rows) == 6
    assert (
        store.record_metric_events(
            [*rows, errors.event_row(1, "wf-1/1", at(9), chain=1, protocol="aave-v3", type="RPCError")]
        )
        == 0
    )
    sums = store.metric_sums()
    assert sums[(errors.name, '{"chain":"1","protocol":"aave-v3","type":"RPCError"}')] == (2, 2.0)
    assert sums[(errors.name, '{"chain":"","protocol":"","type":"Timeout"}')] == (1, 1.0)
    assert sums[(durations.name, "{}")] == (3, 4049.5)
    assert set(store.metric_sums([durations.name])) == {(durations.name, "{}")}
    buckets = store.metric_buckets(durations.name, durations.buckets)
    # 1,2,5,10,20,30,60,120,300,600,1800: 4 s in 5 and up, 45.5 s in 60 and up, 4000 s in none.
    assert buckets == {"{}": [0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2]}
    assert store.metric_buckets(metrics.MOVE_SLIPPAGE.name, metrics.MOVE_SLIPPAGE.buckets) == {}
    # Both in one query, by id ranges that add up.
    bounds = {durations.name: durations.buckets}
    rows, totals = store.metric_totals(bounds)
    assert rows == 6
    assert totals[(durations.name, "{}")] == ([0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2], 3, 4049.5)
    assert totals[(errors.name, '{"chain":"1","protocol":"aave-v3","type":"RPCError"}')] == ([], 2, 2.0)
    ids = sorted(r.id for r in store._all(select(MetricEvent)))
    assert store.metric_totals(bounds, after=ids[3])[0] == 2
    assert store.metric_totals(bounds, after=ids[2], upto=ids[3]) == (
        1,
        {(durations.name, "{}"): ([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1], 1, 4.0)},
    )
    assert store.metric_totals({}, after=ids[-1]) == (0, {})


def test_table_marks_are_rows_and_highest_id_of_the_appended_tables(store: Store) -> None:
    assert store.table_marks() == {
        "metric_event": (0, 0),
        "signed_tx": (0, 0),
        "tx_journal": (0, 0),
        "audit_log": (0, 0),
    }
    store.record_metric_events([metrics.REBALANCE_DURATION.event_row(1, k, T0) for k in "ab"])
    store.record_signed([signed(0, "0x01", 0)])
    marks = store.table_marks()
    assert marks["metric_event"][0] == 2 and marks["metric_event"][1] >= 2
    assert marks["signed_tx"][0] == 1 and marks["tx_journal"] == (0, 0)


# ---------------------------------------------------------------- the other tables, aggregated


def test_engine_state_and_since_when_it_is_paused(store: Store) -> None:
    assert store.engine_state("engine-floor") is None

    def ev(t: float, a: str, b: str, cause: str) -> EngineEvent:
        return EngineEvent(engine_id="engine-floor", at=at(t), from_state=a, to_state=b, cause=cause, actor="x")

    store.record_engine_events([ev(0, "IDLE", "REBALANCING", "rebalance"), ev(5, "REBALANCING", "IDLE", "done")])
    row, since = store.engine_state("engine-floor")
    assert (row.to_state, since) == ("IDLE", None)
    store.record_engine_events([ev(10, "IDLE", "PAUSED", "pause"), ev(12, "PAUSED", "PAUSED", "pause again")])
    row, since = store.engine_state("engine-floor")
    assert (row.to_state, row.at, since) == ("PAUSED", at(12), at(10))
    store.record_engine_events([ev(20, "PAUSED", "IDLE", "resume"), ev(30, "IDLE", "PAUSED", "pause")])
    assert store.engine_state("engine-floor")[1] == at(30)
    assert store.engine_state("other") is None


def test_breaker_states_are_each_scopes_latest(store: Store) -> None:
    def b(scope: str, t: float, to: str, engine_id: str = "engine-floor") -> BreakerEventRow:
        return BreakerEventRow(
            engine_id=engine_id,
            scope=scope,
            at=at(t),
            from_state="",
            to_state=to,
            trigger="tvl_fall",
            reason="r",
            actor="x",
        )

    store.record_breaker_events(
        [
            b("chain:1", 0, "OPEN"),
            b("chain:1", 5, "HALF_OPEN"),
            b("protocol:aave-v3", 1, "OPEN"),
            b("chain:1", 9, "CLOSED"),
            b("engine", 0, "OPEN", engine_id="other"),
        ]
    )
    assert store.breaker_states("engine-floor") == {"chain:1": "CLOSED", "protocol:aave-v3": "OPEN"}


def test_open_discrepancies_alerts_and_refusals_are_counted(store: Store) -> None:
    store.record_discrepancies([disc("run-1", "1:aave-v3:USDC"), disc("run-1", "1:metamorpho:steakUSDC")])
    accepted = store.record_discrepancies([disc("run-2", "1:compound-v3:USDC")])[0]
    store.accept_discrepancy(accepted.id, "ops", "known")
    assert store.open_discrepancy_counts() == {1: 2}

    store.raise_alert("low_gas", "1:0xabc", "", T0)
    store.raise_alert("low_gas", "42161:0xabc", "", T0)
    store.raise_alert("discrepancy", "1:aave-v3:USDC", "", T0)
    store.resolve_alert("discrepancy", "1:aave-v3:USDC", at(1))
    assert store.open_alert_counts() == {"low_gas": 2}
    assert all(isinstance(a, Alert) for a in store.open_alerts())

    def entry(id: str, kind: str, outcome: str, reason: str) -> AuditEntry:
        row = AuditRow(
            at=1_800_000_000,
            workflow_id="engine-floor",
            signer=SIGNER,
            role="OPERATOR",
            kind=kind,
            digest="0x" + "ab" * 32,
            outcome=outcome,
            reason=reason,
        )
        return AuditEntry(id=id, row=row)

    store.append_audit(
        [
            entry("a", "allocate", "accepted", ""),
            entry("b", "allocate", "refused", "rate limited"),
            entry("c", "allocate", "refused", "rate limited"),
            entry("d", "pause", "refused", "bad signature"),
        ]
    )
    assert store.refusal_counts() == (4, {("allocate", "rate limited"): 2, ("pause", "bad signature"): 1})
    assert store.refusal_counts(after=2) == (2, {("allocate", "rate limited"): 1, ("pause", "bad signature"): 1})
    assert store.refusal_counts(after=1, upto=2) == (1, {("allocate", "rate limited"): 1})


def signed(nonce: int, hash: str, t: float, *, to: str = EXECUTOR, chain_id: int = 1) -> SignedTx:
    return SignedTx(chain_id=chain_id, signer=SIGNER, nonce=nonce, tx_hash=hash, to=to, signed_at=at(t))


def test_replacements_cancels_and_time_to_inclusion(store: Store) -> None:
    store.record_signed(
        [
            signed(0, "0x01", 0),  # mined as signed
            signed(1, "0x02", 10),
            signed(1, "0x03", 20),  # a replacement
            signed(1, "0x04", 30),  # another: mined
            signed(2, "0x05", 40),
            signed(2, "0x06", 50, to=SIGNER.lower()),  # a cancel: mined
            signed(0, "0x07", 0, chain_id=42161),  # never journalled
        ]
    )
    journal = [tx("0x01", 5, 0), tx("0x04", 6, 1), tx("0x06", 7, 2), tx("0xff", 8, 3)]  # 0xff: not ours
    recorded = {"0x01": 3, "0x04": 70, "0x06": 200, "0xff": 1}
    for row in journal:
        row.recorded_at = at(recorded[row.tx_hash])
    journal.append(tx("0x08", 9, 4, chain_id=10))
    store.record_transactions(journal)
    assert store.signed_versions() == (7, {1: (2, 1), 42161: (0, 0)})
    # By id ranges that add up: the second half still knows which versions came later.
    ids = sorted(r.id for r in store._all(select(SignedTx)))
    assert store.signed_versions(upto=ids[2]) == (3, {1: (1, 0)})
    assert store.signed_versions(after=ids[2]) == (4, {1: (1, 1), 42161: (0, 0)})
    bounds = metrics.TX_INCLUSION.buckets  # 1,2,5,10,15,30,60,120,300,600
    rows, got = store.inclusion_buckets(bounds)
    assert (rows, set(got)) == (5, {1})  # 0xff (not ours) counted as a row, not timed
    counts, count, total = got[1]
    # 3 s (nonce 0), 60 s (nonce 1: first signed at 10), 160 s (nonce 2: first signed at 40).
    assert (count, total) == (3, pytest.approx(223.0, abs=1e-3))
    assert counts == [0, 0, 1, 1, 1, 1, 2, 2, 3, 3]
    journal_ids = sorted(r.id for r in store._all(select(TxJournal)))
    first_rows, first = store.inclusion_buckets(bounds, upto=journal_ids[1])
    rest_rows, rest = store.inclusion_buckets(bounds, after=journal_ids[1])
    assert (first_rows, rest_rows) == (2, 3)
    assert (first[1][1], rest[1][1]) == (2, 1)
    assert [a + b for a, b in zip(first[1][0], rest[1][0], strict=True)] == counts


def test_time_to_inclusion_reads_the_timestamps_exactly(store: Store) -> None:
    store.record_signed([signed(0, "0x01", 0)])
    row = tx("0x01", 5, 0)
    row.recorded_at = T0 + timedelta(seconds=1.25)
    store.record_transactions([row])
    counts, count, total = store.inclusion_buckets([1, 2])[1][1]
    assert (counts, count, total) == ([0, 1], 1, pytest.approx(1.25, abs=1e-3))
