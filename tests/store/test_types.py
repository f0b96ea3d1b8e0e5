"""Exact uint256 and signed amounts, and aware timestamps, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import StatementError

from floor.store import Discrepancy, PositionSnapshot, Store, UnstorableValue

from .conftest import T0, at

VALUES = [0, 1, 2**64, 10**30, 2**256 - 1]


def snapshot(market: str, amount: int, **kw) -> PositionSnapshot:
    fields = {
        "snapshot_id": "s1",
        "operation_id": "op",
        "chain_id": 1,
        "market": market,
        "asset": "USDC",
        "decimals": 6,
        "amount": amount,
        "block_number": 10,
        "taken_at": T0,
    }
    return PositionSnapshot(**(fields | kw))


def discrepancy(market: str, difference: int) -> Discrepancy:
    return Discrepancy(
        run_id="r1",
        chain_id=1,
        market=market,
        asset="USDC",
        decimals=6,
        expected=0,
        actual=0,
        difference=difference,
        relative_bps=0,
        block_number=10,
        found_at=T0,
    )


def test_uint256_round_trips_exactly(store: Store) -> None:
    rows = [snapshot(f"1:m:{i}", v, shares=v, growth_index=v) for i, v in enumerate(VALUES)]
    assert store.record_snapshot(rows) == len(VALUES)
    back = store.latest_snapshot(1)
    for i, v in enumerate(VALUES):
        row = back[f"1:m:{i}"]
        assert (row.amount, row.shares, row.growth_index) == (v, v, v)
        assert type(row.amount) is int
    # Ordered as numbers, in SQL, on both databases (SQLite's text is zero-padded).
    table = PositionSnapshot.__table__
    with store.engine.connect() as c:
        ordered = c.scalars(select(table.c.amount).order_by(table.c.amount.desc())).all()
        assert ordered == sorted(VALUES, reverse=True)
        assert c.scalars(select(table.c.market).where(table.c.amount > 2**64)).all() == ["1:m:3", "1:m:4"]


@pytest.mark.parametrize("bad", [-1, 2**256], ids=["-1", "2**256"])
def test_uint256_refuses_out_of_range(store: Store, bad: int) -> None:
    with pytest.raises(UnstorableValue, match=rf"position_snapshot\.amount: {bad} is out of range for a uint256"):
        store.record_snapshot([snapshot("1:m:ok", 5), snapshot("1:m:bad", bad)])
    assert store.latest_snapshot(1) == {}  # nothing of the batch was written
    with pytest.raises(UnstorableValue, match="out of range"):
        store.record_snapshot([snapshot("1:m:bad", 1, shares=bad)])


def test_the_column_type_refuses_too(store: Store) -> None:
    # Past the store's own check (a Core insert): the type itself refuses.
    values = {
        c.name: getattr(snapshot("1:m:x", 1), c.name) for c in PositionSnapshot.__table__.columns if c.name != "id"
    }
    with store.engine.begin() as c, pytest.raises(StatementError) as info:
        c.execute(insert(PositionSnapshot.__table__).values(values | {"amount": -1}))
    assert isinstance(info.value.orig, UnstorableValue)
    with pytest.raises(UnstorableValue, match="must be an int, not str"):
        store.record_snapshot([snapshot("1:m:x", "5")])  # type: ignore[arg-type]


def test_signed_amount_round_trips(store: Store) -> None:
    values = [-(2**256 - 1), -1, 0, 1, 10**30, 2**256 - 1]
    stored = store.record_discrepancies([discrepancy(f"1:m:{i}", v) for i, v in enumerate(values)])
    assert [d.difference for d in stored] == values
    assert [d.difference for d in store.open_discrepancies()] == values
    with pytest.raises(UnstorableValue, match=r"discrepancy\.difference: .* out of range for a signed amount"):
        store.record_discrepancies([discrepancy("1:m:big", 2**256)])


def test_timestamps_are_aware_and_utc(store: Store) -> None:
    plus2 = timezone(timedelta(hours=2))
    store.record_snapshot([snapshot("1:m:a", 1, taken_at=datetime(2025, 6, 1, 14, 0, 0, 123456, tzinfo=plus2))])
    row = store.latest_snapshot(1)["1:m:a"]
    assert row.taken_at == datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert row.taken_at.tzinfo == UTC
    with pytest.raises(UnstorableValue, match=r"position_snapshot\.taken_at: .* has no time zone"):
        store.record_snapshot([snapshot("1:m:b", 1, taken_at=datetime(2025, 6, 1))])
    assert at(1) > T0
