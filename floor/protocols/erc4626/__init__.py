"""ERC-4626 vaults (MetaMorpho, sDAI/sUSDS, Yearn V3 and any standard vault, each configured
as an `erc4626` market): adapter, market config, named errors, and the vault stand-in."""

from __future__ import annotations

from floor.adapters.base import Asset
from floor.models import AdapterKey
from floor.protocols.base import ProtocolSpec
from floor.protocols.erc4626.adapter import Erc4626Adapter
from floor.protocols.erc4626.config import Erc4626MarketConfig
from floor.protocols.erc4626.errors import REVERTS

__all__ = ["PROTOCOL", "Erc4626Adapter", "Erc4626MarketConfig"]


def _build(key: AdapterKey, asset: Asset, market: Erc4626MarketConfig) -> Erc4626Adapter:
    return Erc4626Adapter(key=key, asset=asset, vault=market.vault)


PROTOCOL = ProtocolSpec(
    adapter="erc4626",
    title="ERC-4626",
    market_config=Erc4626MarketConfig,
    build=_build,
    reverts=REVERTS,
    contracts=("ERC4626Vault",),
    deploy="floor.protocols.erc4626.deploy:deploy_markets",
)
