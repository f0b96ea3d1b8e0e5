"""Reconciliation's classification: interest is accrual, rounding is dust, anything else is a
discrepancy with its size."""

from floor.reconcile import carried_forward, classify, default_dust

RAY = 10**27


def test_the_cache_is_carried_forward_by_the_growth_index():
    assert carried_forward(1_000_000, RAY, RAY * 101 // 100) == 1_010_000
    assert carried_forward(1_000_000, None, RAY) == 1_000_000  # no index then: as is


def test_interest_since_the_snapshot_is_accrual_not_a_discrepancy():
    cached = 1_000_000_000
    expected = carried_forward(cached, RAY, RAY * 1_002 // 1_000)  # 0.2% interest
    assert classify(cached, expected, expected, tolerance_bps=5, dust=1) == "accrual"
    assert classify(cached, expected, expected + expected * 4 // 10_000, tolerance_bps=5, dust=1) == "accrual"
    assert classify(cached, expected, expected - expected * 6 // 10_000, tolerance_bps=5, dust=1) == "discrepancy"


def test_exact_match_rounding_dust_and_a_transfer_out():
    assert classify(500, 500, 500, tolerance_bps=5, dust=1) == "match"
    assert classify(500, 500, 499, tolerance_bps=0, dust=1) == "dust"
    assert classify(10**12, 10**12, 9 * 10**11, tolerance_bps=5, dust=10) == "discrepancy"


def test_default_dust_is_a_millionth_of_a_token():
    assert default_dust(6) == 1 and default_dust(18) == 10**12 and default_dust(0) == 1
