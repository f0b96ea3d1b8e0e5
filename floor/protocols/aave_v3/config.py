"""An Aave V3 market in the engine's configuration: the Pool and the reserve's aToken."""

from __future__ import annotations

from typing import Literal

from floor.configbase import Address
from floor.protocols.base import MarketBase


class AaveV3MarketConfig(MarketBase):
    adapter: Literal["aave_v3"]
    pool: Address
    a_token: Address
