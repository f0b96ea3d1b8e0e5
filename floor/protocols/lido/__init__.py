"""Lido liquid staking (stETH, its WithdrawalQueueERC721, wstETH): adapter, market config,
named errors, pending-request reads, and the stETH, wstETH and queue stand-ins."""

from __future__ import annotations

from floor.adapters.base import Asset
from floor.models import AdapterKey
from floor.protocols.base import ProtocolSpec
from floor.protocols.lido.adapter import LidoAdapter
from floor.protocols.lido.config import LidoMarketConfig
from floor.protocols.lido.errors import REVERTS

__all__ = ["PROTOCOL", "LidoAdapter", "LidoMarketConfig"]


def _build(key: AdapterKey, asset: Asset, market: LidoMarketConfig) -> LidoAdapter:
    return LidoAdapter(key=key, asset=asset, steth=market.steth, withdrawal_queue=market.withdrawal_queue)


PROTOCOL = ProtocolSpec(
    adapter="lido",
    title="Lido",
    market_config=LidoMarketConfig,
    build=_build,
    reverts=REVERTS,
    contracts=("LidoStETH", "LidoWstETH", "LidoWithdrawalQueueERC721"),
    deploy="floor.protocols.lido.deploy:deploy_markets",
)
