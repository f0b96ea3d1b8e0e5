"""A Balancer V2 composable stable pool market in the engine's configuration: the Vault, the pool
(its address is the BPT), its pool id, BalancerHelpers, and the pool's registered tokens in the
Vault's order (the BPT among them, as `getPoolTokens` lists them). The market's `asset` is the coin
the treasury joins with and exits to; it must be one of the pool's tokens."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from floor.configbase import Address
from floor.protocols.base import MarketBase


class BalancerV2MarketConfig(MarketBase):
    adapter: Literal["balancer_v2"]
    vault: Address
    pool: Address  # the ComposableStablePool, which is its own BPT
    pool_id: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    helpers: Address  # BalancerHelpers (queryJoin/queryExit)
    tokens: list[Address] = Field(min_length=3, max_length=6)  # getPoolTokens order, BPT included
