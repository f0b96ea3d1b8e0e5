"""The slippage figure every pool adapter reports: the loss against fair value, in bps."""

from __future__ import annotations

from floor.adapters.base import Slippage


def test_a_loss_rounds_up_a_gain_is_negative_and_no_fair_value_is_no_figure():
    assert Slippage(quoted=9_950, fair=10_000).bps == 50
    assert Slippage(quoted=9_949, fair=10_000).bps == 51
    assert Slippage(quoted=99_999, fair=10_000_000).bps == 9_901  # (10_000_000 - 99_999) / 10_000_000
    assert Slippage(quoted=9_999_999, fair=10_000_000).bps == 1  # a unit lost still counts
    assert Slippage(quoted=10_000, fair=10_000).bps == 0
    assert Slippage(quoted=10_010, fair=10_000).bps == -10  # the exit rebalances the pool: a gain
    assert Slippage(quoted=5, fair=0).bps == 0
