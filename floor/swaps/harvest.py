"""The harvest's reward plan, pure (the workflow imports it): what the activities read and
build, which markets are worth a claim, and how much of each reward token is sold for which
base asset.

A market is claimed when any of its reward tokens is claimable above that token's dust
(`swaps.routes[].dust`, 0 for a token no route names): its claim calls take every token it
pays. Each reward token is then sold for the base asset of the markets that paid it, all of
it at once per (token, base asset): what the claims were read to pay plus what the executor
already held of the token (a previous harvest's remainder: a claim pays what accrued up to
its own block, a little more than the read). A token with no route to that base asset, or
that is the base asset itself, is claimed and kept idle, and named.
"""

from __future__ import annotations

from pydantic import Field

from floor.models import AdapterKey, Amount, Call, FrozenModel
from floor.swaps.config import SwapsConfig


class RewardLine(FrozenModel):
    token: str  # the reward token's address
    symbol: str = ""  # where known (the adapter's or the route's), else empty
    amount: Amount  # the token's base units


class MarketRewards(FrozenModel):
    """What one market lets the executor claim now, and the base asset its rewards are sold for."""

    key: AdapterKey
    asset: str  # the market's base asset (a chain token symbol)
    rewards: list[RewardLine] = []


class ReadRewardsInput(FrozenModel):
    chain_id: int
    keys: list[AdapterKey]


class RewardsRead(FrozenModel):
    """Every market's claimable rewards and the executor's balance of each routed reward
    token: one Multicall3 batch, one block."""

    chain_id: int
    block_number: int
    markets: list[MarketRewards]
    held: dict[str, Amount] = {}  # routed reward token address -> the executor's balance


class BuildHarvestInput(FrozenModel):
    chain_id: int
    claim: list[MarketRewards] = Field(min_length=1)  # the markets to claim, as read
    held: dict[str, Amount] = {}
    tolerance_bps: int | None = Field(default=None, ge=0, lt=10_000)  # None: the strategy's max_slippage_bps


class SwapLine(FrozenModel):
    """One sale of a reward token for a base asset, as built: its input, the fresh quote and
    the bound the venue enforces."""

    token: str
    symbol: str
    to: str  # base asset symbol
    venue: str  # "uniswap" or "curve"
    amount_in: Amount
    quoted: Amount  # base units of `to`
    min_out: Amount


class KeptLine(FrozenModel):
    """A reward token claimed and left idle in the executor, and why."""

    token: str
    symbol: str = ""
    to: str
    amount: Amount
    reason: str


class HarvestBuild(FrozenModel):
    """One chain's harvest batch: the claims then the swaps, atomic (one group, never split)."""

    chain_id: int
    calls: list[Call]  # empty: no market's rewards are above the dust thresholds
    claimed: list[AdapterKey] = []  # the markets whose claims the batch makes
    swaps: list[SwapLine] = []
    kept: list[KeptLine] = []
    base_before: dict[str, Amount] = {}  # base asset symbol -> executor balance at the quote's block


def dust(swaps: SwapsConfig | None, token: str) -> int:
    route = swaps.known(token) if swaps else None
    return route.dust if route else 0


def worth_claiming(markets: list[MarketRewards], swaps: SwapsConfig | None) -> list[MarketRewards]:
    """The markets with a reward token claimable above its dust threshold."""
    return [m for m in markets if any(r.amount > dust(swaps, r.token) for r in m.rewards)]


def sale_amounts(claim: list[MarketRewards], held: dict[str, int]) -> list[tuple[str, str, str, int]]:
    """(token, symbol, base asset, amount) to sell, in a fixed order (by token, then base): the
    claimed amounts summed per (token, base), the executor's balance of the token added to the
    first of its pairs."""
    totals: dict[tuple[str, str], int] = {}
    symbols: dict[str, str] = {}
    for m in claim:
        for r in m.rewards:
            k = (r.token.lower(), m.asset)
            totals[k] = totals.get(k, 0) + r.amount
            symbols.setdefault(r.token.lower(), r.symbol)
            if r.symbol:
                symbols[r.token.lower()] = r.symbol
    tokens = {r.token.lower(): r.token for m in claim for r in m.rewards}
    seen: set[str] = set()
    out = []
    for token, base in sorted(totals):
        extra = 0
        if token not in seen:
            seen.add(token)
            extra = next((v for k, v in held.items() if k.lower() == token), 0)
        out.append((tokens[token], symbols[token], base, totals[token, base] + extra))
    return out
