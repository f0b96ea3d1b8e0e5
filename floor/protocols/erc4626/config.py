"""An ERC-4626 market in the engine's configuration: the vault (its share token too)."""

from __future__ import annotations

from typing import Literal

from floor.configbase import Address
from floor.protocols.base import MarketBase


class Erc4626MarketConfig(MarketBase):
    adapter: Literal["erc4626"]
    vault: Address
