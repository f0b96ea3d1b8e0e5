"""Aave's ray arithmetic with the rounding of Aave V3.5 and later (`WadRayMath`'s `Floor` and
`Ceil` variants, applied by `TokenMath`): aTokens minted on supply round down, burnt on
withdrawal round up, balances round down, always in the protocol's favour. Earlier versions
rounded half up both ways; the engine's quotes are bounded for both.
"""

from __future__ import annotations

RAY = 10**27
PERCENTAGE_FACTOR = 10**4  # PercentageMath: 1e4 = 100.00%


def ray_mul_floor(a: int, b: int) -> int:
    return a * b // RAY


def ray_div_floor(a: int, b: int) -> int:
    return a * RAY // b


def ray_div_ceil(a: int, b: int) -> int:
    return -(-a * RAY // b)


def a_token_mint_scaled(amount: int, index: int) -> int:
    """Scaled aTokens a supply of `amount` mints (`getATokenMintScaledAmount`)."""
    return ray_div_floor(amount, index)


def a_token_burn_scaled(amount: int, index: int) -> int:
    """Scaled aTokens a withdrawal of `amount` burns (`getATokenBurnScaledAmount`)."""
    return ray_div_ceil(amount, index)


def a_token_balance(scaled: int, index: int) -> int:
    """The aToken balance of a scaled balance (`getATokenBalance`)."""
    return ray_mul_floor(scaled, index)


def percent_mul(value: int, percentage: int) -> int:
    """PercentageMath.percentMul: rounds half up."""
    return (value * percentage + PERCENTAGE_FACTOR // 2) // PERCENTAGE_FACTOR


def treasury_accrual(
    scaled_debt: int, borrow_index: int, next_borrow_index: int, reserve_factor: int, next_liquidity_index: int
) -> int:
    """Scaled aTokens the pool adds to `accruedToTreasury` when it brings a reserve up to date
    (V3.5's `ReserveLogic._accrueToTreasury`): the reserve factor's share of the variable
    debt's growth since the last update, rounded down, minted at the new liquidity index."""
    if reserve_factor == 0:
        return 0
    accrued_debt = ray_mul_floor(scaled_debt, next_borrow_index - borrow_index)
    return a_token_mint_scaled(percent_mul(accrued_debt, reserve_factor), next_liquidity_index)
