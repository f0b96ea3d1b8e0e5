"""Compound V3 (Comet): adapter, market config, named errors, and the Comet and CometRewards
stand-ins."""

from __future__ import annotations

from floor.protocols.base import ProtocolSpec
from floor.protocols.compound_v3.adapter import CompoundV3Adapter
from floor.protocols.compound_v3.config import CompoundV3MarketConfig
from floor.protocols.compound_v3.errors import REVERTS

__all__ = ["PROTOCOL", "CompoundV3Adapter", "CompoundV3MarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="compound_v3",
    title="Compound V3",
    market_config=CompoundV3MarketConfig,
    adapter_class=CompoundV3Adapter,
    reverts=REVERTS,
    contracts=("Comet", "CometRewards"),
    deploy="floor.protocols.compound_v3.deploy:deploy_markets",
)
