"""The swap venue's calls, pure: quotes to read, swaps to send, and the executor's rules.

Uniswap V3 (SwapRouter02 and QuoterV2, Uniswap/swap-router-contracts and v3-periphery):
- quote: QuoterV2 `quoteExactInputSingle((tokenIn, tokenOut, amountIn, fee, sqrtPriceLimitX96))`
  returns (amountOut, sqrtPriceX96After, initializedTicksCrossed, gasEstimate); it is not a
  view (the real one reverts inside a swap to get its answer), so it is read by eth_call, in
  the same Multicall3 batch as everything else.
- swap: SwapRouter02 `exactInputSingle((tokenIn, tokenOut, fee, recipient, amountIn,
  amountOutMinimum, sqrtPriceLimitX96))` (no deadline in SwapRouter02's struct), which pulls
  amountIn from its caller and reverts `Too little received` below amountOutMinimum.
Curve (stable to stable): `get_dy(i, j, dx)` and `exchange(i, j, dx, min_dy)`, which pays its
caller and reverts below min_dy.

Every swap is approve(spender, amountIn), the swap, approve(spender, 0): no allowance outlives
the batch. Its bound is the venue's own min-out argument, min_out = quote x (10000 - tolerance
bps) // 10000 from a fresh on-chain quote; the executor's rules pin SwapRouter02's recipient
(the struct's 4th word) to the executor, and Curve's exchange pays its caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from floor.calls import ReadCall, ReadResult, call, decode_result, read
from floor.errors import InvalidAmount
from floor.models import Call
from floor.permissions import (
    APPROVE,
    Membership,
    PermissionSet,
    approval,
    equal_to,
    hash_in_list,
    list_id,
    to_self,
    token_asset,
)
from floor.swaps.config import SwapRouteConfig, SwapsConfig
from floor.swaps.errors import SwapNotConfigured, SwapPaysNothing, SwapQuoteFailed

EXACT_INPUT_SINGLE = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint160))"
QUOTE_EXACT_INPUT_SINGLE = "quoteExactInputSingle((address,address,uint256,uint24,uint160))"
QUOTE_RESULT = ["uint256", "uint160", "uint32", "uint256"]
CURVE_GET_DY = "get_dy(int128,int128,uint256)"
CURVE_EXCHANGE = "exchange(int128,int128,uint256,uint256)"
RECIPIENT_WORD = 3  # exactInputSingle's struct is static: its fields are the call's head words
BPS = 10_000


def min_out(quoted: int, tolerance_bps: int) -> int:
    """The least a swap quoted at `quoted` may pay: quoted x (10000 - tolerance) // 10000."""
    if not isinstance(tolerance_bps, int) or not 0 <= tolerance_bps < BPS:
        raise InvalidAmount(f"a swap's tolerance must be 0..9999 bps, got {tolerance_bps!r}")
    if not isinstance(quoted, int) or quoted < 0:
        raise InvalidAmount(f"a swap's quote must be a non-negative integer in base units, got {quoted!r}")
    return quoted * (BPS - tolerance_bps) // BPS


def _check(amount: int, route: SwapRouteConfig) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidAmount(f"swap of {route.symbol}: amount must be a positive integer in base units, got {amount!r}")


def _venue(swaps: SwapsConfig | None, route: SwapRouteConfig) -> str:
    if swaps is None or route.venue is None:
        raise SwapNotConfigured(f"{route.symbol} has no swap route to {route.to}")
    if route.venue == "uniswap" and (swaps.router is None or swaps.quoter is None):
        raise SwapNotConfigured(f"route of {route.symbol} through Uniswap: no router or quoter configured")
    return route.venue


def _uniswap(swaps: SwapsConfig | None, route: SwapRouteConfig) -> tuple[str, str, int]:
    """A Uniswap route's router, quoter and fee tier (the config checked each is set)."""
    if swaps is None or swaps.router is None or swaps.quoter is None or route.fee is None:
        raise SwapNotConfigured(f"route of {route.symbol} through Uniswap: no router, quoter or fee configured")
    return swaps.router, swaps.quoter, route.fee


def _curve(route: SwapRouteConfig) -> tuple[str, int, int]:
    """A Curve route's pool and coin indexes (the config checked each is set)."""
    if route.curve_pool is None or route.curve_i is None or route.curve_j is None:
        raise SwapNotConfigured(f"route of {route.symbol} through Curve: no pool or coin indexes configured")
    return route.curve_pool, route.curve_i, route.curve_j


def quote_read(swaps: SwapsConfig | None, route: SwapRouteConfig, token_out: str, amount: int) -> ReadCall:
    """The read of what selling `amount` of the route's token for `token_out` pays now."""
    _check(amount, route)
    if _venue(swaps, route) == "uniswap":
        _, quoter, fee = _uniswap(swaps, route)
        return read(quoter, QUOTE_EXACT_INPUT_SINGLE, (route.token, token_out, amount, fee, 0))
    pool, i, j = _curve(route)
    return read(pool, CURVE_GET_DY, i, j, amount)


def decode_quote(route: SwapRouteConfig, result: ReadResult) -> int:
    """The quoted amount out, in `route.to`'s base units; a reverted quote is named."""
    if not result.success:
        where = f"Uniswap pool of fee {route.fee}" if route.venue == "uniswap" else f"Curve pool {route.curve_pool}"
        raise SwapQuoteFailed(f"quote of {route.symbol} to {route.to} reverted ({where}): check the route")
    types = QUOTE_RESULT if route.venue == "uniswap" else ["uint256"]
    out: int = decode_result(types, result, f"quote of {route.symbol} to {route.to}")[0]
    return out


def swap_calls(
    swaps: SwapsConfig | None,
    route: SwapRouteConfig,
    token_out: str,
    amount: int,
    least: int,
    executor: str,
) -> list[Call]:
    """approve, the swap of `amount` with min-out `least` paying `executor`, approve 0."""
    _check(amount, route)
    if not isinstance(least, int) or least <= 0:
        raise SwapPaysNothing(f"swap of {amount} {route.symbol} to {route.to}: min-out {least!r} is no bound")
    if _venue(swaps, route) == "uniswap":
        spender, _, fee = _uniswap(swaps, route)
        swap = call(spender, EXACT_INPUT_SINGLE, (route.token, token_out, fee, executor, amount, least, 0))
    else:
        spender, i, j = _curve(route)
        swap = call(spender, CURVE_EXCHANGE, i, j, amount, least)
    return [call(route.token, APPROVE, spender, amount), swap, call(route.token, APPROVE, spender, 0)]


def route_id(token_in: str, token_out: str, fee: int) -> bytes:
    """A Uniswap route as the executor checks it: keccak of exactInputSingle's first three words."""
    return keccak(encode(["address", "address", "uint24"], [token_in, token_out, fee]))


def permissions(swaps: SwapsConfig | None, tokens: Mapping[str, str]) -> PermissionSet:
    """The executor's rules the routes need: approve of each routed token to its venue; the
    router's exactInputSingle with the recipient the executor and (tokenIn, tokenOut, fee) one
    of the routes (not an attacker's pool or token); Curve's exchange with the route's coin
    indices (it pays the caller). Both tokens are valued, so a sale's min-out of 0 or a
    sandwich loses no more than the executor's loss bound. `tokens`: the chain's, by symbol."""
    if swaps is None:
        return PermissionSet()
    sets: list[PermissionSet] = []
    routes = list_id("swaps.routes", swaps.router) if swaps.router else b""
    for r in swaps.routes:
        if r.venue is None or r.price_feed is None:
            continue  # no venue, or no feed to value the sale by: the reward is kept
        out = tokens[r.to]
        assets = [token_asset(r.token, r.symbol, r.decimals), token_asset(out, r.to, None)]
        if r.venue == "uniswap":
            router, _, fee = _uniswap(swaps, r)
            pinned = hash_in_list(0, 3, routes)
            sets += [
                approval(r.token, router),
                to_self(
                    router,
                    EXACT_INPUT_SINGLE,
                    RECIPIENT_WORD,
                    assets=assets,
                    conditions=[pinned],
                    members=[Membership(routes, route_id(r.token, out, fee))],
                ),
            ]
        elif r.venue == "curve":
            pool, i, j = _curve(r)
            pair = [equal_to(0, i), equal_to(1, j)]
            sets += [
                approval(r.token, pool),
                to_self(pool, CURVE_EXCHANGE, assets=assets, conditions=pair),
            ]
    return PermissionSet.union(sets)


def decode_quotes(routes: Sequence[SwapRouteConfig], results: Iterable[ReadResult]) -> list[int]:
    return [decode_quote(r, res) for r, res in zip(routes, results, strict=True)]
