"""Rocket Pool liquid staking (rETH through the deposit pool): adapter, market config, named
errors, and the RocketStorage, vault, network balances, deposit pool and rETH stand-ins."""

from __future__ import annotations

from floor.adapters.base import Asset
from floor.models import AdapterKey
from floor.protocols.base import ProtocolSpec
from floor.protocols.rocket_pool.adapter import RocketPoolAdapter
from floor.protocols.rocket_pool.config import RocketPoolMarketConfig
from floor.protocols.rocket_pool.errors import REVERTS

__all__ = ["PROTOCOL", "RocketPoolAdapter", "RocketPoolMarketConfig"]


def _build(key: AdapterKey, asset: Asset, market: RocketPoolMarketConfig) -> RocketPoolAdapter:
    return RocketPoolAdapter(
        key=key, asset=asset, rocket_storage=market.rocket_storage, deposit_pool=market.deposit_pool, reth=market.reth
    )


PROTOCOL = ProtocolSpec(
    adapter="rocket_pool",
    title="Rocket Pool",
    market_config=RocketPoolMarketConfig,
    build=_build,
    reverts=REVERTS,
    contracts=("RocketStorage", "RocketVault", "RocketNetworkBalances", "RocketDepositPool", "RocketTokenRETH"),
    deploy="floor.protocols.rocket_pool.deploy:deploy_markets",
)
