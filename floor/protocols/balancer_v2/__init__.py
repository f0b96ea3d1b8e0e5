"""Balancer V2 (a composable stable pool through the Vault): adapter, market config, named
errors, and the Vault, ComposableStablePool and BalancerHelpers stand-ins."""

from __future__ import annotations

from floor.protocols.balancer_v2.adapter import BalancerV2Adapter
from floor.protocols.balancer_v2.config import BalancerV2MarketConfig
from floor.protocols.balancer_v2.errors import REVERTS
from floor.protocols.base import ProtocolSpec

__all__ = ["PROTOCOL", "BalancerV2Adapter", "BalancerV2MarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="balancer_v2",
    title="Balancer V2",
    market_config=BalancerV2MarketConfig,
    adapter_class=BalancerV2Adapter,
    adapter_args=lambda market: {"balancer_vault": market.vault, "tokens": tuple(market.tokens)},
    reverts=REVERTS,
    contracts=("BalancerV2Vault", "BalancerComposableStablePool", "BalancerHelpers"),
    deploy="floor.protocols.balancer_v2.deploy:deploy_markets",
)
