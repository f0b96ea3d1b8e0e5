"""The fee policy: tips from recent blocks per priority, max fee from the next base fee,
replacements geth accepts (>= +10% on both fields) and that keep up with the market."""

from __future__ import annotations

import pytest

from floor.chain.basefee import hard_bounds
from floor.chain.fees import FeeHistory, Fees, blocks_until, bumped, cancel_fees, fees_for, over_cap
from floor.config import TxConfig
from floor.models import Priority

PERCENTILES = [30, 50, 85, 99]  # the default config's, sorted


def history(rewards: list[list[int]], base_fees: list[int] | None = None) -> FeeHistory:
    base_fees = base_fees if base_fees is not None else [100] * (len(rewards) + 1)
    return FeeHistory(
        oldest_block=10,
        base_fees=base_fees,
        gas_used_ratios=[0.5] * len(rewards),
        rewards=rewards,
        percentiles=PERCENTILES,
    )


def test_tip_is_the_median_at_the_priority_percentile():
    # One block's tips are outliers: a mean would be pulled far up, the median is not.
    rewards = [[100, 200, 300, 400], [110, 210, 310, 410], [9000, 9100, 9200, 9300]]
    config = TxConfig(tip_floor_wei=0)
    tips = {p: fees_for(history(rewards), p, config).max_priority_fee_per_gas for p in Priority}
    assert tips == {Priority.LOW: 110, Priority.NORMAL: 210, Priority.HIGH: 310, Priority.CRITICAL: 410}


def test_percentiles_come_from_the_config():
    rewards = [[100, 200, 300, 400]]
    config = TxConfig(tip_floor_wei=0, tip_percentiles={"CRITICAL": 85, "HIGH": 85, "NORMAL": 30, "LOW": 30})
    assert fees_for(history(rewards), Priority.CRITICAL, config).max_priority_fee_per_gas == 300
    assert fees_for(history(rewards), Priority.NORMAL, config).max_priority_fee_per_gas == 100
    missing = TxConfig(tip_percentiles={"CRITICAL": 98, "HIGH": 85, "NORMAL": 50, "LOW": 30})
    with pytest.raises(ValueError, match="percentile 98"):
        fees_for(history(rewards), Priority.CRITICAL, missing)


def test_empty_and_all_zero_blocks_are_skipped():
    rewards = [[0, 0, 0, 0], [], [5, 6, 7, 8], [0, 0, 0, 0], [9, 11, 12, 13], [0, 0, 0, 0]]
    config = TxConfig(tip_floor_wei=0)
    # Median of 6 and 11 (the two blocks with tips), rounded up; with the zeros it would be 0.
    assert fees_for(history(rewards), Priority.NORMAL, config).max_priority_fee_per_gas == 9


def test_a_zero_tip_in_a_block_with_tips_counts():
    rewards = [[0, 5, 6, 7], [0, 5, 6, 7], [0, 5, 6, 7]]
    assert fees_for(history(rewards), Priority.LOW, TxConfig(tip_floor_wei=0)).max_priority_fee_per_gas == 0


def test_tip_floor():
    config = TxConfig(tip_floor_wei=10**9)
    assert fees_for(history([[1, 2, 3, 4]] * 3), Priority.CRITICAL, config).max_priority_fee_per_gas == 10**9
    # No block with tips at all: the floor alone.
    assert fees_for(history([[0, 0, 0, 0], []]), Priority.NORMAL, config).max_priority_fee_per_gas == 10**9
    above = [[2 * 10**9] * 4] * 3
    assert fees_for(history(above), Priority.NORMAL, config).max_priority_fee_per_gas == 2 * 10**9


def test_with_little_history_the_max_fee_covers_eip1559s_bound_over_the_horizon():
    # The last base fee is the next block's (known); NORMAL may wait 7 blocks: 6 more steps of
    # at most 12.5% each (the predictor has too little history to narrow that).
    base = 10**9
    fees = fees_for(
        history([[5, 6, 7, 8]] * 3, base_fees=[40, 30, 20, base]), Priority.NORMAL, TxConfig(tip_floor_wei=0)
    )
    assert fees == Fees(max_fee_per_gas=hard_bounds(base, 6)[1] + 6, max_priority_fee_per_gas=6)
    assert 2.02 * base < hard_bounds(base, 6)[1] < 2.03 * base  # about twice, as 1.125**6
    assert isinstance(fees.max_fee_per_gas, int) and isinstance(fees.max_priority_fee_per_gas, int)
    # Mined in the next block: exactly the next base fee.
    next_block = fees_for(history([[5, 6, 7, 8]], base_fees=[20, base]), Priority.NORMAL, TxConfig(tip_floor_wei=0), 1)
    assert next_block.max_fee_per_gas == base + 6


def test_with_history_the_predictor_narrows_the_max_fee_and_a_deadline_shortens_it():
    # 300 blocks of a fee drifting within a few percent: the predicted interval is far inside
    # the 12.5%-a-block bound, so the max fee is lower than the bound's, and lower still for a
    # transaction due within 2 blocks.
    base_fees = [10**9 + (i % 7) * 10**7 for i in range(300)]
    calm = history([[5, 6, 7, 8]] * 299, base_fees=base_fees)
    config = TxConfig(tip_floor_wei=0)
    normal = fees_for(calm, Priority.NORMAL, config)
    assert base_fees[-1] <= normal.max_fee_per_gas - 6 < hard_bounds(base_fees[-1], 6)[1] * 0.7
    soon = fees_for(calm, Priority.NORMAL, config, blocks=2)
    assert soon.max_fee_per_gas <= normal.max_fee_per_gas
    assert blocks_until(30, config) == 3 and blocks_until(None, config) is None and blocks_until(10**9, config) == 10


def test_no_base_fees_is_an_error():
    with pytest.raises(ValueError, match="no base fees"):
        fees_for(history([], base_fees=[]), Priority.NORMAL, TxConfig())


def test_fees_are_not_capped_and_over_cap_says_so():
    config = TxConfig(tip_floor_wei=0, max_fee_cap_wei=1_000)
    fees = fees_for(history([[1, 2, 3, 4]], base_fees=[600, 600]), Priority.NORMAL, config)
    assert fees.max_fee_per_gas == hard_bounds(600, 6)[1] + 2
    assert over_cap(fees, config)
    assert not over_cap(Fees(max_fee_per_gas=1_000, max_priority_fee_per_gas=1), config)
    assert over_cap(Fees(max_fee_per_gas=1_001, max_priority_fee_per_gas=1), config)


def test_fees_must_be_wei_ints():
    with pytest.raises(ValueError, match="int of wei"):
        Fees(max_fee_per_gas=1.5e9, max_priority_fee_per_gas=1)
    with pytest.raises(ValueError, match="above the max fee"):
        Fees(max_fee_per_gas=1, max_priority_fee_per_gas=2)


def test_bump_at_ten_percent_exactly():
    config = TxConfig(fee_bump_bps=1_000)
    assert bumped(Fees(100, 10), config) == Fees(110, 11)  # exactly 110%
    assert bumped(Fees(101, 11), config) == Fees(112, 13)  # 111.1 and 12.1, rounded up
    # Tiny values: 10% of 1 or 0 rounds to nothing, so +1 wei.
    assert bumped(Fees(1, 0), config) == Fees(2, 1)
    assert bumped(Fees(0, 0), config) == Fees(1, 1)


@pytest.mark.parametrize("bps", [1_000, 1_250, 3_333])
def test_bump_always_passes_geths_replacement_rule(bps):
    config = TxConfig(fee_bump_bps=bps)
    for max_fee in [*range(0, 60), 10**9 + 7, 3 * 10**11 + 1]:
        for tip in {0, min(1, max_fee), max_fee // 3, max_fee}:
            old = Fees(max_fee, tip)
            new = bumped(old, config)
            for before, after in [(old.max_fee_per_gas, new.max_fee_per_gas), (tip, new.max_priority_fee_per_gas)]:
                assert after >= before + 1
                assert after * 10_000 >= before * (10_000 + bps)  # >= bps more, no rounding down
                assert after * 100 >= before * 110  # geth's txpool.pricebump=10


def test_default_bump_is_twelve_and_a_half_percent():
    assert bumped(Fees(1_000, 100), TxConfig()) == Fees(1_125, 113)


def test_bump_keeps_up_with_the_market():
    config = TxConfig(fee_bump_bps=1_000)
    old = Fees(100, 10)
    assert bumped(old, config, market=Fees(500, 2)) == Fees(500, 11)  # base fee rose: market max fee
    assert bumped(old, config, market=Fees(60, 50)) == Fees(110, 50)  # tips rose: market tip
    assert bumped(old, config, market=Fees(1_000, 900)) == Fees(1_000, 900)
    assert bumped(old, config, market=Fees(1, 1)) == Fees(110, 11)  # a cheaper market never lowers a bump


def test_cancel_fees_are_a_valid_replacement():
    config = TxConfig(fee_bump_bps=1_000)
    assert cancel_fees(Fees(100, 10), config) == Fees(110, 11)
    assert cancel_fees(Fees(1, 0), config) == Fees(2, 1)
    assert cancel_fees(Fees(100, 10), config, market=Fees(500, 20)) == Fees(500, 20)
