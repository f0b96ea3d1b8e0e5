"""Convex (Booster, BaseRewardPool, CVX) over a Curve StableSwap pool: adapter, market
config, named errors, and the Booster, voter proxy, deposit token, reward pool and CVX
stand-ins (Solidity, ported from convex-eth/platform)."""

from __future__ import annotations

from floor.adapters.base import Asset
from floor.models import AdapterKey
from floor.protocols.base import ProtocolSpec
from floor.protocols.convex.adapter import ConvexAdapter
from floor.protocols.convex.config import ConvexMarketConfig
from floor.protocols.convex.errors import REVERTS

__all__ = ["PROTOCOL", "ConvexAdapter", "ConvexMarketConfig"]


def _build(key: AdapterKey, asset: Asset, market: ConvexMarketConfig) -> ConvexAdapter:
    return ConvexAdapter(
        key=key,
        asset=asset,
        pool=market.pool,
        lp_token=market.lp_token,
        kind=market.kind,
        n_coins=market.n_coins,
        coin_index=market.coin_index,
        crv=market.crv,
        booster=market.booster,
        pid=market.pid,
        reward_pool=market.reward_pool,
        cvx=market.cvx,
    )


PROTOCOL = ProtocolSpec(
    adapter="convex",
    title="Convex",
    market_config=ConvexMarketConfig,
    build=_build,
    reverts=REVERTS,
    contracts=("ConvexBooster", "ConvexVoterProxy", "ConvexToken", "ConvexBaseRewardPool", "ConvexDepositToken"),
    deploy="floor.protocols.convex.deploy:deploy_markets",
)
