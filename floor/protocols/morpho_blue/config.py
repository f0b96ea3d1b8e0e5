"""A Morpho Blue market in the engine's configuration: the Morpho singleton and the market's
parameters (the loan token is the market's `asset`), from which its id is computed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from floor.configbase import Address
from floor.protocols.base import MarketBase


class MorphoBlueMarketConfig(MarketBase):
    adapter: Literal["morpho_blue"]
    morpho: Address
    collateral_token: Address
    oracle: Address
    irm: Address
    lltv: int = Field(gt=0, lt=10**18)  # WAD, e.g. 860000000000000000 for 86%
    # The engine's MorphoSupplyValuer (contracts/src/valuers): the executor values the
    # treasury's supply through it; without one, no batch can touch the market.
    supply_valuer: Address | None = None
