"""Balancer V2 (a composable stable pool through the Vault): adapter, market config, named
errors, and the Vault, ComposableStablePool and BalancerHelpers stand-ins."""

from __future__ import annotations

from floor.adapters.base import Asset
from floor.models import AdapterKey
from floor.protocols.balancer_v2.adapter import BalancerV2Adapter
from floor.protocols.balancer_v2.config import BalancerV2MarketConfig
from floor.protocols.balancer_v2.errors import REVERTS
from floor.protocols.base import ProtocolSpec

__all__ = ["PROTOCOL", "BalancerV2Adapter", "BalancerV2MarketConfig"]


def _build(key: AdapterKey, asset: Asset, market: BalancerV2MarketConfig) -> BalancerV2Adapter:
    return BalancerV2Adapter(
        key=key,
        asset=asset,
        balancer_vault=market.vault,
        pool=market.pool,
        pool_id=market.pool_id,
        helpers=market.helpers,
        tokens=tuple(market.tokens),
    )


PROTOCOL = ProtocolSpec(
    adapter="balancer_v2",
    title="Balancer V2",
    market_config=BalancerV2MarketConfig,
    build=_build,
    reverts=REVERTS,
    contracts=("BalancerV2Vault", "BalancerComposableStablePool", "BalancerHelpers"),
    deploy="floor.protocols.balancer_v2.deploy:deploy_markets",
)
