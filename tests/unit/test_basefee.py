"""The EIP-1559 base fee: the exact update rule on real blocks, and the predictor replayed on
real mainnet history (must beat "fee in h blocks = fee now", intervals at their stated rate,
never outside what the rule allows, no look-ahead), and its live tracker.

The recorded series live outside the repository, in `shared/data` next to the clone (or
wherever FLOOR_SHARED_DATA points); the tests that need them skip when they are absent."""

from __future__ import annotations

import csv
import itertools
import os
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floor.chain.basefee import (
    CONFIDENCE,
    BaseFeeModel,
    PredictionTracker,
    hard_bounds,
    next_base_fee,
    next_base_fee_from_ratio,
    predict,
    replay,
)

DATA = Path(os.environ.get("FLOOR_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
MAY_2023 = DATA / "mainnet-basefee.csv"  # 14,651 blocks, base fee only
SEPT_2022 = DATA / "mainnet-basefee-with-gas.csv"  # 1,640 blocks with gas used and limit

# What the replay must show on the May 2023 series (measured: ratio 0.968 at 3 blocks, 0.971 at
# 10; coverage 0.901 and 0.899). The issue's target is a ratio below 0.9: not met, see
# test_issue_target_mae_ratio_below_0_9.
MAX_RATIO = 0.985
COVERAGE_MARGIN = 0.02  # coverage >= CONFIDENCE - COVERAGE_MARGIN


def rows(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        pytest.skip(f"{path.name} absent: the recorded mainnet series live in {DATA} (or set FLOOR_SHARED_DATA)")
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def may_2023() -> list[int]:
    series = [int(r["base_fee_wei"]) for r in rows(MAY_2023)]
    assert len(series) == 14_651
    return series


@pytest.fixture(scope="module")
def may_replays(may_2023) -> dict:
    return {h: replay(may_2023, h) for h in (1, 3, 10)}


# --- the rule ---------------------------------------------------------------------------


def test_rule_matches_every_recorded_block():
    blocks = rows(SEPT_2022)
    assert len(blocks) == 1_640
    numbers = [int(b["block_number"]) for b in blocks]
    assert numbers == list(range(numbers[0], numbers[0] + len(blocks)))
    mismatches = [
        child["block_number"]
        for parent, child in itertools.pairwise(blocks)
        if next_base_fee(int(parent["base_fee_wei"]), int(parent["gas_used"]), int(parent["gas_limit"]))
        != int(child["base_fee_wei"])
    ]
    assert mismatches == []


def test_rule_edge_cases():
    assert next_base_fee(1000, 15_000_000, 30_000_000) == 1000  # at target: unchanged
    assert next_base_fee(1000, 30_000_000, 30_000_000) == 1125  # full: +1/8
    assert next_base_fee(1000, 0, 30_000_000) == 875  # empty: -1/8
    assert next_base_fee(7, 30_000_000, 30_000_000) == 8  # above target moves at least 1 wei
    assert next_base_fee(7, 0, 30_000_000) == 7  # 7 // 8 == 0: the floor nothing goes under
    # An odd limit: target = floor(limit / 2), so a full block's delta exceeds the target by 1.
    assert next_base_fee(10**11, 30_000_001, 30_000_001) == 10**11 + 10**11 * 15_000_001 // 15_000_000 // 8
    assert next_base_fee_from_ratio(10**11, 1.0) == 10**11 * 9 // 8
    assert next_base_fee_from_ratio(10**11, 0.5) == 10**11


@given(
    fee=st.integers(1, 10**15),
    half_limit=st.integers(1, 30_000_000),
    used_share=st.fractions(0, 1),
)
def test_rule_stays_within_one_block_bounds(fee, half_limit, used_share):
    limit = 2 * half_limit
    low, high = hard_bounds(fee, 1)
    assert low <= next_base_fee(fee, int(limit * used_share), limit) <= high
    assert next_base_fee(fee, 0, limit) == low and next_base_fee(fee, limit, limit) == high


@given(fee=st.integers(8, 10**15), half_limit=st.integers(1, 30_000_000))
def test_an_odd_gas_limit_lets_a_full_block_exceed_one_eighth_by_a_hair(fee, half_limit):
    limit = 2 * half_limit + 1
    full = next_base_fee(fee, limit, limit)
    assert full - hard_bounds(fee, 1)[1] <= fee // (8 * half_limit) + 1


@given(fee=st.integers(8, 10**15), h=st.integers(1, 12))
def test_hard_bounds_within_seven_and_nine_eighths_per_block(fee, h):
    low, high = hard_bounds(fee, h)
    assert fee * Fraction(7, 8) ** h <= low <= fee <= high <= fee * Fraction(9, 8) ** h


# --- the predictor: hard bounds, no look-ahead ------------------------------------------

gas_ratios = st.lists(st.floats(0, 1), min_size=2, max_size=120)


@settings(max_examples=60, deadline=None)
@given(start=st.integers(1, 10**12), ratios=gas_ratios, jumps=st.lists(st.integers(1, 10**13), max_size=5))
def test_prediction_never_leaves_the_hard_bounds(start, ratios, jumps):
    # A series the rule allows, with a few arbitrary jumps (a model must not rely on the rule).
    series = [start]
    for r in ratios:
        series.append(next_base_fee_from_ratio(series[-1], r))
    series[1 : 1 + len(jumps)] = jumps
    model = BaseFeeModel(window=20, min_fit=5)  # short windows so the fit and its interval are used
    for fee in series:
        model.update(fee)
        for h, p in model.predict().items():
            low, high = hard_bounds(fee, h)
            assert low <= p.low <= p.point <= p.high <= high
    for h, p in predict(series).items():
        low, high = hard_bounds(series[-1], h)
        assert low <= p.low <= p.point <= p.high <= high


def test_predictions_use_nothing_after_the_block_predicted_from(may_2023):
    series = may_2023[:3000]
    cut = 1500
    altered = series[:cut] + [f * 3 for f in series[cut:]]  # the future, different
    a, b = BaseFeeModel(), BaseFeeModel()
    for t, (x, y) in enumerate(zip(series, altered, strict=True)):
        a.update(x)
        b.update(y)
        if t < cut:
            assert a.predict() == b.predict(), t
    assert a.predict() != b.predict()  # and the altered part does change later predictions
    # The pure function from a prefix is the streaming model's prediction at that block.
    model = BaseFeeModel()
    for t, fee in enumerate(series[:1200]):
        model.update(fee)
        if t in (0, 50, 400, 1199):
            assert predict(series[: t + 1]) == model.predict()


def test_gas_used_ratio_of_the_last_block_gives_the_next_fee():
    fees = [10**11] * 300
    p = predict(fees, gas_used_ratios=[0.5] * 299 + [1.0])
    assert (p[1].point, p[1].low, p[1].high) == (10**11 * 9 // 8,) * 3
    assert hard_bounds(10**11, 3)[0] <= p[3].low <= p[3].point <= p[3].high <= hard_bounds(10**11, 3)[1]
    # eth_feeHistory's shape (one ratio fewer: the last fee is already the next block's): ratios add nothing.
    assert predict(fees, gas_used_ratios=[0.5] * 299) == predict(fees)


# --- measured on May 2023 ---------------------------------------------------------------


@pytest.mark.parametrize("horizon", [3, 10])
def test_beats_current_fee_on_mainnet_history(may_replays, horizon):
    stats = may_replays[horizon]
    assert stats.n == 14_651 - horizon
    assert stats.ratio < MAX_RATIO, f"MAE {stats.mae / 1e9:.3f} gwei vs naive {stats.naive_mae / 1e9:.3f}"


@pytest.mark.parametrize("horizon", [1, 3, 10])
def test_interval_holds_the_outcome_at_the_stated_rate(may_replays, horizon):
    stats = may_replays[horizon]
    assert stats.confidence == CONFIDENCE == 0.90
    assert stats.coverage >= CONFIDENCE - COVERAGE_MARGIN


@pytest.mark.xfail(
    strict=True,
    reason="the issue's target (MAE ratio < 0.9 at 3 and 10 blocks) is not met from base fees alone: "
    "measured 0.968 and 0.971; see docs/architecture.md, Base fee prediction",
)
def test_issue_target_mae_ratio_below_0_9(may_replays):
    assert may_replays[3].ratio < 0.9 and may_replays[10].ratio < 0.9


# --- the live tracker -------------------------------------------------------------------


def test_tracker_scores_like_the_replay(may_2023, may_replays):
    series = may_2023[:4000]
    tracker = PredictionTracker()
    for i, fee in enumerate(series):
        tracker.record(17_180_000 + i, fee)
    for h, s in tracker.stats().items():
        expected = replay(series, h)
        assert (s.n, s.coverage) == (expected.n, expected.coverage)
        assert s.mae == pytest.approx(expected.mae) and s.naive_mae == pytest.approx(expected.naive_mae)


def test_tracker_settles_each_prediction_when_its_block_arrives():
    tracker = PredictionTracker(horizons=(1, 3))
    first = tracker.record(100, 1000)
    assert first[1].point == 1000 and (first[1].low, first[1].high) == hard_bounds(1000, 1)
    tracker.record(101, 1125)
    s = tracker.stats()
    assert (s[1].n, s[1].mae, s[1].naive_mae, s[1].coverage) == (1, 125, 125, 1.0)
    assert s[3].n == 0
    tracker.record(102, 1000)
    tracker.record(103, 1000)
    assert tracker.stats()[3].n == 1 and tracker.stats()[1].n == 3


def test_tracker_drops_what_a_gap_or_a_reorg_made_unsettleable():
    tracker = PredictionTracker(horizons=(1, 3))
    for n in range(100, 104):
        tracker.record(n, 1000)
    assert tracker.stats()[1].n == 3 and tracker.stats()[3].n == 1
    tracker.record(110, 1000)  # 104..109 missing: what targeted them is dropped, 110's nothing targeted
    assert tracker.stats()[1].n == 3 and tracker.stats()[3].n == 1
    tracker.record(111, 1000)  # predicted from 110: settles
    assert tracker.stats()[1].n == 4
    tracker.record(111, 1100)  # 111 replaced: its own predictions are dropped, 110's already settled
    tracker.record(112, 1100)
    assert tracker.stats()[1].n == 5  # 112 from the new 111
    with pytest.raises(ValueError, match="positive"):
        tracker.record(113, 0)
