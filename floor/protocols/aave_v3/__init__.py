"""Aave V3, and forks with its ABI (Spark is configured as an `aave_v3` market with its own
addresses): adapter, market config, named errors, and the Pool and aToken stand-ins (the
Pool deploys each reserve's variable debt token stand-in itself)."""

from __future__ import annotations

from floor.protocols.aave_v3.adapter import AaveV3Adapter
from floor.protocols.aave_v3.config import AaveV3MarketConfig
from floor.protocols.aave_v3.errors import REVERTS
from floor.protocols.base import ProtocolSpec

__all__ = ["PROTOCOL", "AaveV3Adapter", "AaveV3MarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="aave_v3",
    title="Aave V3",
    market_config=AaveV3MarketConfig,
    adapter_class=AaveV3Adapter,
    reverts=REVERTS,
    contracts=("AaveV3Pool", "AaveAToken"),
    deploy="floor.protocols.aave_v3.deploy:deploy_markets",
)
