"""A Curve StableSwap market in the engine's configuration: the pool, its LP token (the pool
itself for Stableswap-NG, a separate CurveToken for the old pools), which kind of pool it is
(`old`: fixed-size `uint256[N]` arguments; `ng`: dynamic `uint256[]`), its number of coins
and the index of the market's `asset` among them (the coin the treasury deposits and
withdraws, single-sided), and, optionally, the gauge its LP tokens are staked in with the
Minter that pays the gauge's CRV."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from floor.configbase import Address, problems
from floor.protocols.base import MarketBase


class CurveMarketConfig(MarketBase):
    adapter: Literal["curve"]
    pool: Address
    lp_token: Address
    kind: Literal["old", "ng"]
    n_coins: int = Field(ge=2, le=8)
    coin_index: int = Field(ge=0, le=7)
    gauge: Address | None = None  # LiquidityGauge (V5/V6): deposit, withdraw, claimable_tokens
    minter: Address | None = None  # the Minter that mints the gauge's CRV
    crv: Address | None = None
    reward_tokens: tuple[Address, ...] = ()  # the gauge's reward tokens (add_reward), claimed with claim_rewards

    @model_validator(mode="after")
    def _consistent(self) -> CurveMarketConfig:
        found = []
        if self.coin_index >= self.n_coins:
            found.append(("coin_index", f"{self.coin_index} is not an index of a {self.n_coins}-coin pool"))
        if self.kind == "old" and self.n_coins not in (2, 3, 4):
            found.append(("n_coins", "old pools come with 2, 3 or 4 coins"))
        if self.gauge is not None and (self.minter is None or self.crv is None):
            found.append(("minter", "a gauge's CRV is minted by the Minter: set minter and crv with the gauge"))
        if self.gauge is None and (self.minter is not None or self.crv is not None or self.reward_tokens):
            found.append(("gauge", "minter, crv and reward_tokens are only used with a gauge"))
        if found:
            raise problems(found)
        return self
