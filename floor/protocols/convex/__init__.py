"""Convex (Booster, BaseRewardPool, CVX) over a Curve StableSwap pool: adapter, market
config, named errors, and the Booster, voter proxy, deposit token, reward pool and CVX
stand-ins (Solidity, ported from convex-eth/platform)."""

from __future__ import annotations

from floor.protocols.base import ProtocolSpec
from floor.protocols.convex.adapter import ConvexAdapter
from floor.protocols.convex.config import ConvexMarketConfig
from floor.protocols.convex.errors import REVERTS

__all__ = ["PROTOCOL", "ConvexAdapter", "ConvexMarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="convex",
    title="Convex",
    market_config=ConvexMarketConfig,
    adapter_class=ConvexAdapter,
    reverts=REVERTS,
    contracts=("ConvexBooster", "ConvexVoterProxy", "ConvexToken", "ConvexBaseRewardPool", "ConvexDepositToken"),
    deploy="floor.protocols.convex.deploy:deploy_markets",
)
