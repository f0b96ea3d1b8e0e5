"""The store's API on both databases: idempotent writes, reads, discrepancies, alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from floor.logging import REDACTED, scrub
from floor.store import (
    Alert,
    Discrepancy,
    DiscrepancyAlreadyAccepted,
    EngineEvent,
    PositionSnapshot,
    RateObservation,
    SignedTx,
    Store,
    StoreError,
    TxJournal,
    UnknownDiscrepancy,
    encode_effects,
)

from .conftest import T0, at

USDC = "1:aave-v3:USDC"
VAULT = "1:metamorpho:steakUSDC"


def snap(snapshot_id: str, market: str, block: int, amount: int, *, chain_id: int = 1, taken: float = 0):
    return PositionSnapshot(
        snapshot_id=snapshot_id,
        operation_id="engine-floor/rebalance-1",
        chain_id=chain_id,
        market=market,
        asset="USDC",
        decimals=6,
        amount=amount,
        growth_index=10**27,
        block_number=block,
        taken_at=at(taken),
    )


def tx(tx_hash: str, block: int, nonce: int, *, operation_id: str = "op-1", chain_id: int = 1) -> TxJournal:
    return TxJournal(
        operation_id=operation_id,
        intent_id=f"{operation_id}/chain-{chain_id}/batch-0",
        chain_id=chain_id,
        tx_hash=tx_hash,
        nonce=nonce,
        status=1,
        block_number=block,
        gas_used=210_000,
        effective_gas_price=30 * 10**9,
        calls=5,
        recorded_at=T0,
        effects=encode_effects({USDC: -5_000_000, VAULT: 5_000_000}),
    )


def disc(run_id: str, market: str, expected: int = 100, actual: int = 90) -> Discrepancy:
    return Discrepancy(
        run_id=run_id,
        chain_id=1,
        market=market,
        asset="USDC",
        decimals=6,
        expected=expected,
        actual=actual,
        difference=actual - expected,
        relative_bps=(actual - expected) * 10_000 // expected,
        block_number=50,
        growth_index=10**27,
        found_at=T0,
    )


# ---------------------------------------------------------------- idempotent writes


def test_snapshots_written_twice_counted_once(store: Store) -> None:
    rows = [snap("s1", USDC, 10, 1), snap("s1", VAULT, 10, 2)]
    assert store.record_snapshot(rows) == 2
    assert store.record_snapshot(rows) == 0
    # A retry carrying one new row writes only that one; a key twice in a batch once.
    assert store.record_snapshot([*rows, snap("s2", USDC, 11, 3), snap("s2", USDC, 11, 3)]) == 1
    assert store.record_snapshot([]) == 0


def test_rates_written_twice_counted_once(store: Store) -> None:
    rows = [
        RateObservation(chain_id=1, market=USDC, block_number=b, timestamp=at(b), growth_index=10**27 + b)
        for b in (1, 2)
    ]
    rows.append(
        RateObservation(
            chain_id=1,
            market=VAULT,
            block_number=1,
            timestamp=at(1),
            growth_index=2 * 10**27,
            quoted_apr=0.0425,
            total_assets=2**200,
        )
    )
    assert store.record_rates(rows) == 3
    assert store.record_rates(rows) == 0


def test_rate_windows_read_every_market_from_a_time_on_oldest_first(store: Store) -> None:
    store.record_rates(
        [
            RateObservation(chain_id=1, market=m, block_number=b, timestamp=at(b), growth_index=10**27 + b)
            for m in (USDC, VAULT)
            for b in (3, 1, 2)
        ]
    )
    windows = store.rate_windows([USDC, VAULT, "1:none:X"], at(2))
    assert {m: [o.block_number for o in rows] for m, rows in windows.items()} == {
        USDC: [2, 3],
        VAULT: [2, 3],
        "1:none:X": [],
    }


def test_transactions_written_twice_counted_once(store: Store) -> None:
    rows = [tx("0xaa", 10, 0), tx("0xbb", 11, 1), tx("0xaa", 12, 7, chain_id=42161)]  # same hash, other chain
    assert store.record_transactions(rows) == 3
    assert store.record_transactions(rows) == 0


def test_engine_events_written_twice_counted_once(store: Store) -> None:
    transitions = [
        (0, "IDLE", "REBALANCING", "rebalance", "schedule"),
        (5, "REBALANCING", "IDLE", "finished", "engine"),
    ]
    rows = [
        EngineEvent(engine_id="engine-floor", at=at(t), from_state=a, to_state=b, cause=cause, actor=actor)
        for t, a, b, cause, actor in transitions
    ]
    assert store.record_engine_events(rows) == 2
    assert store.record_engine_events(rows) == 0


# ---------------------------------------------------------------- reads


def test_latest_snapshot_picks_the_newest_block_per_market(store: Store) -> None:
    store.record_snapshot(
        [
            snap("a", USDC, 100, 1, taken=30),  # taken last, but an older block
            snap("b", USDC, 120, 2, taken=10),
            snap("b", VAULT, 120, 3),
            snap("c", VAULT, 110, 4, taken=50),
            snap("d", VAULT, 120, 5, taken=20),  # same block as "b", taken later: newest
            snap("e", "42161:aave-v3:USDC", 999, 6, chain_id=42161),
        ]
    )
    latest = store.latest_snapshot(1)
    assert {m: (r.snapshot_id, r.amount) for m, r in latest.items()} == {USDC: ("b", 2), VAULT: ("d", 5)}
    assert latest[USDC].growth_index == 10**27 and latest[USDC].taken_at == at(10)
    assert list(store.latest_snapshot(42161)) == ["42161:aave-v3:USDC"]
    assert store.latest_snapshot(10) == {}


def test_latest_snapshot_leaves_out_the_blocks_a_reorg_replaced(store: Store) -> None:
    def at_hash(snapshot: PositionSnapshot, block_hash: str | None) -> PositionSnapshot:
        return snapshot.model_copy(update={"block_hash": block_hash})

    store.record_snapshot(
        [
            at_hash(snap("before", USDC, 100, 1), "0xaa"),
            at_hash(snap("before", VAULT, 100, 2), "0xaa"),
            at_hash(snap("after", USDC, 101, 3), "0xbb"),  # read at a block later replaced
            at_hash(snap("after", VAULT, 101, 4), "0xbb"),
            at_hash(snap("accepted", VAULT, 101, 5, taken=1), None),  # no hash: never left out
        ]
    )
    assert {m: r.snapshot_id for m, r in store.latest_snapshot(1).items()} == {USDC: "after", VAULT: "accepted"}
    kept = store.latest_snapshot(1, leaving_out={(101, "0xbb")})
    assert {m: (r.snapshot_id, r.block_hash) for m, r in kept.items()} == {
        USDC: ("before", "0xaa"),
        VAULT: ("accepted", None),
    }
    assert store.latest_snapshot(1, leaving_out={(101, "0xcc")})[USDC].snapshot_id == "after"  # another hash


def test_transactions_since_and_of(store: Store) -> None:
    store.record_transactions(
        [
            tx("0x03", 12, 3, operation_id="op-2"),
            tx("0x01", 10, 1),
            tx("0x02", 12, 2),
            tx("0x04", 11, 9, chain_id=10),
        ]
    )
    # Strictly after the block: a position read at block 10 includes its transactions.
    assert [t.tx_hash for t in store.transactions_since(1, 10)] == ["0x02", "0x03"]
    assert [t.tx_hash for t in store.transactions_since(1, 9)] == ["0x01", "0x02", "0x03"]
    assert [t.tx_hash for t in store.transactions_of("op-1")] == ["0x01", "0x02", "0x04"]  # by chain, block, nonce
    first = store.transactions_of("op-1")[0]
    assert first.effect_amounts() == {USDC: -5_000_000, VAULT: 5_000_000}
    assert first.effective_gas_price == 30 * 10**9 and first.recorded_at == T0


# ---------------------------------------------------------------- discrepancies


def test_record_discrepancies_answers_the_stored_rows(store: Store) -> None:
    first = store.record_discrepancies([disc("run-1", USDC), disc("run-1", VAULT)])
    assert all(d.id is not None for d in first) and first[0].id != first[1].id
    assert [d.status for d in first] == ["open", "open"]
    # A retry (and a new market of the same run) answers the same ids, the new one added.
    again = store.record_discrepancies([disc("run-1", VAULT), disc("run-1", "1:spark:DAI")])
    assert again[0].id == first[1].id and again[0].actual == 90
    assert [d.market for d in store.open_discrepancies()] == [USDC, VAULT, "1:spark:DAI"]
    assert store.record_discrepancies([]) == []


def test_one_open_discrepancy_per_market_a_later_run_updates_it(store: Store) -> None:
    (first,) = store.record_discrepancies([disc("run-1", VAULT)])
    later = disc("run-2", VAULT, actual=70)
    later.found_at, later.block_number, later.detail = at(600), 60, "still short"
    (again,) = store.record_discrepancies([later])
    assert again.id == first.id and again.run_id == "run-1"  # the one an operator was told of, first found by run-1
    assert (again.actual, again.difference, again.block_number, again.found_at, again.detail) == (
        70,
        -30,
        60,
        at(600),
        "still short",
    )
    assert [(d.id, d.actual) for d in store.open_discrepancies()] == [(first.id, 70)]
    # Accepted, it stays as accepted; the market found short again opens a new one.
    store.accept_discrepancy(first.id, by="alice", reason="INC-1")
    (third,) = store.record_discrepancies([disc("run-3", VAULT, actual=50)])
    assert third.id != first.id and [d.id for d in store.open_discrepancies()] == [third.id]
    assert store.record_discrepancies([disc("run-2", VAULT, actual=50)])[0].id == third.id  # a late retry
    (accepted,) = store.accepted_discrepancies()
    assert (accepted.id, accepted.actual, accepted.accepted_by) == (first.id, 70, "alice")
    # The store refuses a second open row of a market, whoever writes it.
    with pytest.raises(Exception, match="(?i)unique"):
        store._record(Discrepancy, [disc("run-4", VAULT)], ("run_id", "market"))


def test_accept_discrepancy_records_who_why_when(store: Store) -> None:
    d, other = store.record_discrepancies([disc("run-1", USDC), disc("run-1", VAULT)])
    when = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)
    accepted = store.accept_discrepancy(d.id, by="alice", reason=" donation to the vault, verified ", at=when)
    assert (accepted.id, accepted.status) == (d.id, "accepted")
    assert (accepted.accepted_by, accepted.accepted_reason, accepted.accepted_at) == (
        "alice",
        "donation to the vault, verified",
        when,
    )
    assert [x.id for x in store.open_discrepancies()] == [other.id]
    assert [(x.id, x.status) for x in store.discrepancies()] == [(d.id, "accepted"), (other.id, "open")]
    assert store.discrepancies("run-2") == [] and len(store.discrepancies("run-1")) == 2
    # Recorded: a retried run answers the accepted row.
    assert store.record_discrepancies([disc("run-1", USDC)])[0].accepted_by == "alice"
    # Without `at`, now.
    before = datetime.now(UTC)
    assert store.accept_discrepancy(other.id, by="bob", reason="rounding").accepted_at >= before.replace(microsecond=0)


def test_accept_discrepancy_refusals(store: Store) -> None:
    (d,) = store.record_discrepancies([disc("run-1", USDC)])
    with pytest.raises(StoreError, match=rf"discrepancy {d.id}: a reason is required"):
        store.accept_discrepancy(d.id, by="alice", reason="   ")
    with pytest.raises(StoreError, match="say who"):
        store.accept_discrepancy(d.id, by="", reason="why")
    with pytest.raises(UnknownDiscrepancy, match="no discrepancy 9999"):
        store.accept_discrepancy(9999, by="alice", reason="why")
    assert store.open_discrepancies()[0].id == d.id  # none of those changed it
    store.accept_discrepancy(d.id, by="alice", reason="first", at=at(60))
    with pytest.raises(
        DiscrepancyAlreadyAccepted, match=rf"discrepancy {d.id} was accepted already, by alice at .*: first"
    ):
        store.accept_discrepancy(d.id, by="bob", reason="second")
    assert store.record_discrepancies([disc("run-1", USDC)])[0].accepted_reason == "first"


# ---------------------------------------------------------------- alerts


def test_alerts_one_open_per_kind_and_subject(store: Store) -> None:
    assert store.raise_alert("discrepancy", USDC, "#1: 10 bps", at(0)) is True
    assert store.raise_alert("discrepancy", USDC, "#1: 10 bps", at(0)) is False  # a retry
    assert store.raise_alert("discrepancy", USDC, "#2: 12 bps", at(60)) is False  # still open
    assert store.raise_alert("low_gas", "1:0xabc", "0.01 ETH", at(30)) is True
    assert [(a.kind, a.subject, a.detail) for a in store.open_alerts()] == [
        ("discrepancy", USDC, "#1: 10 bps"),
        ("low_gas", "1:0xabc", "0.01 ETH"),
    ]
    assert store.resolve_alert("discrepancy", USDC, at(120)) is True
    assert store.resolve_alert("discrepancy", USDC, at(120)) is False
    assert [a.kind for a in store.open_alerts()] == ["low_gas"]
    # Raised again once resolved: a new alert.
    assert store.raise_alert("discrepancy", USDC, "#3", at(180)) is True
    opened = [a for a in store.open_alerts() if a.kind == "discrepancy"]
    assert [(a.detail, a.raised_at, a.resolved_at) for a in opened] == [("#3", at(180), None)]
    assert isinstance(opened[0], Alert)


# ---------------------------------------------------------------- the URL


def test_known_transactions_are_the_signed_and_the_journalled(store: Store) -> None:
    signed = [
        SignedTx(chain_id=1, signer="0xS", nonce=7, tx_hash=h, to="0xE", signed_at=T0) for h in ("0xaa01", "0xaa02")
    ]
    assert store.record_signed(signed) == 2
    assert store.record_signed(signed[:1]) == 0  # a retried sign records nothing twice
    store.record_transactions([tx("0xBB03", block=5, nonce=8)])
    asked = ["0xAA01", "0xaa02", "0xbb03", "0xcc04"]
    assert store.known_transactions(1, asked) == {"0xaa01", "0xaa02", "0xbb03"}
    assert store.known_transactions(42161, asked) == set()
    assert store.known_transactions(1, []) == set()


def test_the_watchdog_cursor_moves_per_executor(store: Store) -> None:
    assert store.watchdog_cursor(1, "0xE") is None
    store.set_watchdog_cursor(1, "0xE", 10, T0)
    store.set_watchdog_cursor(1, "0xE", 12, at(1))
    store.set_watchdog_cursor(42161, "0xE", 3, T0)
    assert (store.watchdog_cursor(1, "0xE"), store.watchdog_cursor(42161, "0xE")) == (12, 3)


def test_a_chain_mark_moves_forward_unless_the_chain_changed_or_an_operator_forces_it(store: Store) -> None:
    assert store.record_chain_mark(1, 100, "0xAA", "0xG1", T0, note="run-1")
    assert not store.record_chain_mark(1, 90, "0xbb", "0xg1", at(1))  # a slower reader: kept
    assert store.record_chain_mark(1, 80, "0xcc", "0xg2", at(2))  # another genesis: replaced
    assert store.record_chain_mark(1, 70, "0xdd", "0xg2", at(3), note="accepted by alice", force=True)
    store.record_chain_mark(42161, 5, "0xee", "0xg3", T0)
    marks = store.chain_marks()
    assert (marks[1].block_number, marks[1].block_hash, marks[1].note) == (70, "0xdd", "accepted by alice")
    assert sorted(marks) == [1, 42161]


def test_the_journal_to_check_is_what_is_not_final_yet_newest_first(store: Store) -> None:
    store.record_transactions(
        [tx("0xA1", block=5, nonce=1), tx("0xA2", block=6, nonce=2), tx("0xA3", block=7, nonce=3)]
    )
    assert [t.tx_hash for t in store.journal_to_check(1, 10)] == ["0xA3", "0xA2", "0xA1"]
    assert store.set_chain_state(1, "0xa1", "final", 5) and store.set_chain_state(1, "0xA2", "pending", 9)
    assert not store.set_chain_state(1, "0xnone", "gone")
    checked = store.journal_to_check(1, 1)
    assert [t.tx_hash for t in checked] == ["0xA3"]
    assert [(t.tx_hash, t.canonical_block) for t in store.journal_to_check(1, 10)] == [("0xA3", None), ("0xA2", 9)]


def test_a_relative_sqlite_path_is_relative_to_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Store("sqlite:///state/floor.db") as store:
        store.migrate()
        assert store.current_revision() == "0010"
    assert (tmp_path / "state" / "floor.db").is_file()


def test_the_password_is_hidden_and_scrubbed() -> None:
    with Store("postgresql://floor:Sw0rdf1sh%2Bpg@db.invalid:5432/floor") as store:
        assert "Sw0rdf1sh" not in repr(store) and "***" in repr(store)
        assert store.engine.url.drivername == "postgresql+psycopg"
    assert scrub("connect as floor with Sw0rdf1sh+pg") == f"connect as floor with {REDACTED}"


def test_only_sqlite_and_postgresql() -> None:
    with pytest.raises(StoreError, match=r"must be sqlite:///<path> or postgresql\+psycopg://.*got scheme 'mysql'"):
        Store("mysql://floor:hunter2hunter2@db/floor")
