"""ERC-4626 vaults (MetaMorpho, sDAI/sUSDS, Yearn V3 and any standard vault, each configured
as an `erc4626` market): adapter, market config, named errors, and the vault stand-in."""

from __future__ import annotations

from floor.protocols.base import ProtocolSpec
from floor.protocols.erc4626.adapter import Erc4626Adapter
from floor.protocols.erc4626.config import Erc4626MarketConfig
from floor.protocols.erc4626.errors import REVERTS

__all__ = ["PROTOCOL", "Erc4626Adapter", "Erc4626MarketConfig"]


PROTOCOL = ProtocolSpec(
    adapter="erc4626",
    title="ERC-4626",
    market_config=Erc4626MarketConfig,
    adapter_class=Erc4626Adapter,
    reverts=REVERTS,
    contracts=("ERC4626Vault",),
    deploy="floor.protocols.erc4626.deploy:deploy_markets",
)
