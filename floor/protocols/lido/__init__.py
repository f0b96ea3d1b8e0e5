"""Lido liquid staking (stETH, its WithdrawalQueueERC721, wstETH): adapter, market config,
named errors, pending-request reads, the instant exit through a Curve ETH/stETH pool
(`instant_exit.py`), and the stETH, wstETH, queue and ETH/stETH pool stand-ins."""

from __future__ import annotations

from floor.protocols.base import ProtocolSpec
from floor.protocols.lido.adapter import LidoAdapter
from floor.protocols.lido.config import LidoMarketConfig
from floor.protocols.lido.errors import REVERTS

__all__ = ["PROTOCOL", "LidoAdapter", "LidoMarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="lido",
    title="Lido",
    market_config=LidoMarketConfig,
    adapter_class=LidoAdapter,
    adapter_args=lambda market: {
        "instant_exit_pool": market.instant_exit_pool.address if market.instant_exit_pool else None
    },
    reverts=REVERTS,
    contracts=("LidoStETH", "LidoWstETH", "LidoWithdrawalQueueERC721", "CurveStableSwapSTETH"),
    deploy="floor.protocols.lido.deploy:deploy_markets",
)
