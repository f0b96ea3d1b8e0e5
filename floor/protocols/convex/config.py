"""A Convex market in the engine's configuration: the Curve pool it provides liquidity to
(the same fields as a Curve market's: pool, LP token, kind, coins, the asset's index), and
Convex's Booster, the pool's pid, the pid's BaseRewardPool (`poolInfo(pid).crvRewards`,
where the deposit token is staked) and the CRV and CVX tokens it pays. The adapter checks
`poolInfo(pid)` against the LP token and reward pool before every deposit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from floor.configbase import Address, problems
from floor.protocols.base import MarketBase


class ConvexMarketConfig(MarketBase):
    adapter: Literal["convex"]
    pool: Address  # the Curve pool
    lp_token: Address
    kind: Literal["old", "ng"]
    n_coins: int = Field(ge=2, le=8)
    coin_index: int = Field(ge=0, le=7)
    booster: Address
    pid: int = Field(ge=0)
    reward_pool: Address  # BaseRewardPool: poolInfo(pid).crvRewards
    crv: Address
    cvx: Address

    @model_validator(mode="after")
    def _consistent(self) -> ConvexMarketConfig:
        if self.coin_index >= self.n_coins:
            raise problems([("coin_index", f"{self.coin_index} is not an index of a {self.n_coins}-coin pool")])
        return self
