"""The position report's APY: quoted where the protocol publishes a rate, measured from its
growth index only over a window long enough to annualise."""

from __future__ import annotations

from floor.adapters.base import RateSnapshot
from floor.chain.report import MIN_APY_WINDOW_S, _apy

RAY = 10**27


def test_a_measured_apy_needs_a_window_long_enough_to_annualise():
    start = RateSnapshot(timestamp=1_000, growth_index=RAY)
    # A pool's fees from one swap, minutes after it opened: +0.01% in 10 minutes is not 5%+ a year.
    minutes = RateSnapshot(timestamp=1_600, growth_index=RAY + RAY // 10_000)
    assert _apy(minutes, start) == (None, None, None)
    later = RateSnapshot(timestamp=1_000 + MIN_APY_WINDOW_S, growth_index=RAY + RAY // 2_000)
    apy, source, window = _apy(later, start)
    assert source == "realised" and window == MIN_APY_WINDOW_S and 0.9 < apy < 1.1  # 0.05% in 6 h
    quoted = RateSnapshot(timestamp=1_600, growth_index=RAY, quoted_apr=0.04)
    assert _apy(quoted, None)[1] == "quoted"
