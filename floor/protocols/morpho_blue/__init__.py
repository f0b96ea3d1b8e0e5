"""Morpho Blue: adapter, market config, named errors, and the Morpho singleton, IRM and
oracle stand-ins."""

from __future__ import annotations

from floor.protocols.base import ProtocolSpec
from floor.protocols.morpho_blue.adapter import MorphoBlueAdapter
from floor.protocols.morpho_blue.config import MorphoBlueMarketConfig
from floor.protocols.morpho_blue.errors import REVERTS

__all__ = ["PROTOCOL", "MorphoBlueAdapter", "MorphoBlueMarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="morpho_blue",
    title="Morpho Blue",
    market_config=MorphoBlueMarketConfig,
    adapter_class=MorphoBlueAdapter,
    reverts=REVERTS,
    contracts=("Morpho", "MorphoLinearIrm", "MorphoFixedPriceOracle"),
    deploy="floor.protocols.morpho_blue.deploy:deploy_markets",
)
