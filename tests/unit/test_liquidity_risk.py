"""Liquidity risk per position: the worked example of docs/risk.md, figure by figure."""

from __future__ import annotations

from floor.models import AdapterKey
from floor.risk.liquidity import LiquidityPolicy, position_liquidity

USDC = 10**6
ETH = 10**18


def key(protocol: str, market: str) -> AdapterKey:
    return AdapterKey(chain_id=1, protocol=protocol, market=market)


def test_the_worked_example():
    aave = position_liquidity(
        key("aave-v3", "USDC"), 2_000_000 * USDC, 10_000_000 * USDC, 2_000_000 * USDC, "instant", 0
    )
    assert (aave.ratio_bps, aave.max_safe_withdrawal, aave.alert) == (2_000, 2_000_000 * USDC, False)

    morpho = position_liquidity(
        key("morpho-blue", "USDC"), 600_000 * USDC, 800_000 * USDC, 600_000 * USDC, "instant", 0
    )
    assert (morpho.ratio_bps, morpho.max_safe_withdrawal, morpho.alert) == (7_500, 200_000 * USDC, True)
    assert morpho.reason == (
        "1:morpho-blue:USDC: the position is 7500 bps of the market's available liquidity (alert above 5000 bps)"
    )

    lido = position_liquidity(key("lido", "stETH"), 1_000 * ETH, 0, 0, "queued", 5 * 86_400)
    assert (lido.ratio_bps, lido.max_safe_withdrawal, lido.expected_wait_s, lido.alert) == (None, 0, 432_000, False)

    paused = position_liquidity(key("compound-v3", "USDC"), 100_000 * USDC, 5_000_000 * USDC, 0, "instant", 0)
    assert (paused.ratio_bps, paused.max_safe_withdrawal, paused.alert) == (200, 0, True)
    assert paused.reason.startswith("nothing can leave 1:compound-v3:USDC now")


def test_the_limits_are_policy_and_round_down():
    k = key("aave-v3", "USDC")
    at_limit = position_liquidity(k, 5_000, 10_000, 5_000, "instant", 0)
    assert at_limit.ratio_bps == 5_000 and not at_limit.alert  # above the limit alerts, not at it
    strict = position_liquidity(k, 5_000, 10_000, 5_000, "instant", 0, LiquidityPolicy(alert_ratio_bps=4_999))
    assert strict.alert
    odd = position_liquidity(k, 1, 3, 1, "instant", 0)
    assert odd.ratio_bps == 3_333 and odd.max_safe_withdrawal == 0  # 3 x 25% rounds down to 0
    empty = position_liquidity(k, 0, 0, 0, "instant", 0)
    assert empty.ratio_bps is None and not empty.alert  # no position: nothing to get out
