"""Morpho Blue: adapter, market config, named errors, and the Morpho singleton, IRM and
oracle stand-ins."""

from __future__ import annotations

from floor.adapters.base import Asset
from floor.models import AdapterKey
from floor.protocols.base import ProtocolSpec
from floor.protocols.morpho_blue.adapter import MorphoBlueAdapter
from floor.protocols.morpho_blue.config import MorphoBlueMarketConfig
from floor.protocols.morpho_blue.errors import REVERTS

__all__ = ["PROTOCOL", "MorphoBlueAdapter", "MorphoBlueMarketConfig"]


def _build(key: AdapterKey, asset: Asset, market: MorphoBlueMarketConfig) -> MorphoBlueAdapter:
    return MorphoBlueAdapter(
        key=key,
        asset=asset,
        morpho=market.morpho,
        collateral_token=market.collateral_token,
        oracle=market.oracle,
        irm=market.irm,
        lltv=market.lltv,
        supply_valuer=market.supply_valuer,
    )


PROTOCOL = ProtocolSpec(
    adapter="morpho_blue",
    title="Morpho Blue",
    market_config=MorphoBlueMarketConfig,
    build=_build,
    reverts=REVERTS,
    contracts=("Morpho", "MorphoLinearIrm", "MorphoFixedPriceOracle"),
    deploy="floor.protocols.morpho_blue.deploy:deploy_markets",
)
