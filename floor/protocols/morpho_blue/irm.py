"""A Morpho Blue market's borrow rate from its IRM's own state, in the same Multicall3 batch as
the market.

The IRM's `borrowRateView(params, market)` takes the market as its argument, and one batch
cannot pass a read's result to another read. But the batch's reads run after
`accrueInterest(params)` in the same eth_call, so the market is accrued to the block (its
lastUpdate is now) and the IRM's state is as that accrual left it; the rate `borrowRateView`
would give for that market is then a pure function of the IRM's state and the market's
utilisation, computed here exactly as the IRM does, in integers:

- Morpho's AdaptiveCurveIrm (the one governance-approved IRM on mainnet): `rateAtTarget(id)`,
  which the accrual just updated, on the curve at the utilisation's error with no time
  elapsed (so no adaptation): r = ((1 - 1/C) err + 1) rateAtTarget below the target
  utilisation, ((C - 1) err + 1) rateAtTarget above it, C = 4, target 90%, every step rounded
  towards zero (its MathLib's wMulToZero and wDivToZero);
- the local stack's MorphoLinearIrm (`baseRatePerSecond() + slopePerSecond() x utilisation`,
  utilisation wDivDown, the product wMulDown), Morpho's IrmMock shape.

Any other IRM (not answering either's views) gives no borrow rate here: the market's APY is
then measured from its index (`borrow_rate_reads` still reads `borrowRateView` in a second
batch for a caller that has the market).
"""

from __future__ import annotations

from floor.adapters.base import SECONDS_PER_YEAR
from floor.calls import ReadResult

WAD = 10**18
RATE_AT_TARGET = "rateAtTarget(bytes32)"  # AdaptiveCurveIrm: int256, per second, WAD
LINEAR_BASE = "baseRatePerSecond()"  # MorphoLinearIrm
LINEAR_SLOPE = "slopePerSecond()"

# AdaptiveCurveIrm's ConstantsLib.
CURVE_STEEPNESS = 4 * WAD
TARGET_UTILIZATION = 9 * 10**17
INITIAL_RATE_AT_TARGET = 4 * 10**16 // SECONDS_PER_YEAR


def _to_zero(numerator: int, denominator: int) -> int:
    """Integer division rounded towards zero, as Solidity's on int256."""
    q = abs(numerator) // abs(denominator)
    return q if (numerator >= 0) == (denominator > 0) else -q


def w_mul_to_zero(x: int, y: int) -> int:
    return _to_zero(x * y, WAD)


def w_div_to_zero(x: int, y: int) -> int:
    return _to_zero(x * WAD, y)


def adaptive_curve_rate(rate_at_target: int, total_borrow: int, total_supply: int) -> int:
    """AdaptiveCurveIrm's borrow rate (per second, WAD) for a market accrued to now, whose
    `rateAtTarget` is `rate_at_target` (0: never set, the initial rate at target)."""
    utilization = total_borrow * WAD // total_supply if total_supply > 0 else 0  # wDivDown
    norm = WAD - TARGET_UTILIZATION if utilization > TARGET_UTILIZATION else TARGET_UTILIZATION
    err = w_div_to_zero(utilization - TARGET_UTILIZATION, norm)
    at_target = rate_at_target if rate_at_target != 0 else INITIAL_RATE_AT_TARGET
    coeff = WAD - w_div_to_zero(WAD, CURVE_STEEPNESS) if err < 0 else CURVE_STEEPNESS - WAD
    return w_mul_to_zero(w_mul_to_zero(coeff, err) + WAD, at_target)


def linear_rate(base: int, slope: int, total_borrow: int, total_supply: int) -> int:
    """MorphoLinearIrm's borrow rate (per second, WAD)."""
    if total_supply == 0:
        return base
    return base + slope * (total_borrow * WAD // total_supply) // WAD


def word(result: ReadResult, signed: bool = False) -> int | None:
    """One returned word, or None where the read reverted or returned something else (an IRM
    without that view)."""
    if not result.success or len(result.data) != 32:
        return None
    return int.from_bytes(result.data, "big", signed=signed)
