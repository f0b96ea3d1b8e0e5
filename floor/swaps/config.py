"""The swap venue of one chain in the engine's configuration: the Uniswap V3 SwapRouter02 and
QuoterV2 that sell reward tokens, and per reward token its route to a base asset.

A route sells `token` (a reward token: CRV, CVX, COMP, crvUSD; not necessarily one of the
chain's `tokens`, so its symbol and decimals are given here) for `to` (one of the chain's
tokens, the base asset of the positions that earn it), either through the Uniswap V3 pool of
fee tier `fee` (hundredths of a bip: 100, 500, 3000, 10000) or, stable to stable, through the
Curve pool `curve_pool`, coin `curve_i` to coin `curve_j`. A route with neither is a token the
harvest claims and keeps idle (named in the result). Claimable amounts at or below `dust` (the
token's base units) are not worth a claim. Pure pydantic.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from floor.configbase import Address
from floor.configbase import ConfigModel as _Model
from floor.configbase import problems as _problems

UNISWAP_FEE_TIERS = (100, 500, 3000, 10_000)


class RouteFeed(_Model):
    """The Chainlink USD feed of a reward token, which is not one of the chain's tokens: the
    executor values what a sale gives against what it gets with it, so a route without one
    cannot sell (the reward stays idle)."""

    feed: Address
    heartbeat_s: int = Field(gt=0)
    decimals: int = Field(default=8, ge=0, le=36)


class SwapRouteConfig(_Model):
    token: Address
    symbol: str = Field(min_length=1)
    decimals: int = Field(default=18, ge=0, le=36)
    to: str = Field(min_length=1)  # a token symbol of the chain
    dust: int = Field(default=0, ge=0)
    fee: int | None = None
    curve_pool: Address | None = None
    curve_i: int | None = Field(default=None, ge=0, le=7)
    curve_j: int | None = Field(default=None, ge=0, le=7)
    price_feed: RouteFeed | None = None

    @property
    def venue(self) -> str | None:
        """Where the route sells: uniswap, curve, or None (claimed and kept idle)."""
        if self.fee is not None:
            return "uniswap"
        if self.curve_pool is not None:
            return "curve"
        return None

    @model_validator(mode="after")
    def _one_venue(self) -> Self:
        found: list[tuple[str, str]] = []
        if self.fee is not None and self.curve_pool is not None:
            found.append(("", f"route of {self.symbol}: a Uniswap fee tier or a Curve pool, not both"))
        if self.fee is not None and self.fee not in UNISWAP_FEE_TIERS:
            found.append(("fee", f"{self.fee} is not a Uniswap V3 fee tier {UNISWAP_FEE_TIERS}"))
        if self.curve_pool is not None:
            if self.curve_i is None or self.curve_j is None or self.curve_i == self.curve_j:
                found.append(("curve_i", f"route of {self.symbol}: a Curve pool needs two different coin indexes"))
        elif self.curve_i is not None or self.curve_j is not None:
            found.append(("curve_pool", f"route of {self.symbol}: coin indexes without a Curve pool"))
        if found:
            raise _problems(found)
        return self


class SwapsConfig(_Model):
    router: Address | None = None  # SwapRouter02
    quoter: Address | None = None  # QuoterV2
    routes: list[SwapRouteConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _venue(self) -> Self:
        found: list[tuple[str, str]] = []
        seen: dict[tuple[str, str], int] = {}
        for i, r in enumerate(self.routes):
            k = (r.token, r.to)
            if k in seen:
                found.append((f"routes.{i}", f"a second route of {r.symbol} to {r.to} (also routes.{seen[k]})"))
            seen.setdefault(k, i)
            if r.venue == "uniswap" and (self.router is None or self.quoter is None):
                found.append(
                    (f"routes.{i}.fee", f"route of {r.symbol} through Uniswap needs swaps.router and swaps.quoter")
                )
        if found:
            raise _problems(found)
        return self

    def route(self, token: str, to: str) -> SwapRouteConfig | None:
        """The route of `token` to the base asset `to`, or None."""
        wanted = token.lower()
        return next((r for r in self.routes if r.token.lower() == wanted and r.to == to), None)

    def known(self, token: str) -> SwapRouteConfig | None:
        """Any route of `token` (for its symbol, decimals and dust), or None."""
        wanted = token.lower()
        return next((r for r in self.routes if r.token.lower() == wanted), None)
