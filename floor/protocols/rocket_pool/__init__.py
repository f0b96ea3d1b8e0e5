"""Rocket Pool liquid staking (rETH through the deposit pool): adapter, market config, named
errors, the instant exit through a Curve ETH/rETH pool (`instant_exit.py`), and the
RocketStorage, vault, network balances, deposit pool, rETH and ETH/rETH pool stand-ins."""

from __future__ import annotations

from floor.protocols.base import ProtocolSpec
from floor.protocols.rocket_pool.adapter import RocketPoolAdapter
from floor.protocols.rocket_pool.config import RocketPoolMarketConfig
from floor.protocols.rocket_pool.errors import REVERTS

__all__ = ["PROTOCOL", "RocketPoolAdapter", "RocketPoolMarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="rocket_pool",
    title="Rocket Pool",
    market_config=RocketPoolMarketConfig,
    adapter_class=RocketPoolAdapter,
    adapter_args=lambda market: {
        "instant_exit_pool": market.instant_exit_pool.address if market.instant_exit_pool else None
    },
    reverts=REVERTS,
    contracts=(
        "RocketStorage",
        "RocketVault",
        "RocketNetworkBalances",
        "RocketDepositPool",
        "RocketTokenRETH",
        "CurveStableSwapRETH",
    ),
    deploy="floor.protocols.rocket_pool.deploy:deploy_markets",
)
