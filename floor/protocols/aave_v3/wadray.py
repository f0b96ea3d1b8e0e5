"""Aave's ray arithmetic with the rounding of Aave V3.5 and later (`WadRayMath`'s `Floor` and
`Ceil` variants, applied by `TokenMath`): aTokens minted on supply round down, burnt on
withdrawal round up, balances round down, always in the protocol's favour. Earlier versions
rounded half up both ways; the engine's quotes are bounded for both.
"""

from __future__ import annotations

RAY = 10**27


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
