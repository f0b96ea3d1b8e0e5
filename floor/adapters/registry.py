"""The adapter registry: every configured market, keyed by (chain, protocol, market)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from floor.adapters.aave_v3 import AaveV3Adapter
from floor.adapters.base import Adapter, Asset
from floor.adapters.erc4626 import Erc4626Adapter
from floor.errors import UnknownMarket
from floor.models import AdapterKey
from floor.permissions import PermissionSet, transfers

if TYPE_CHECKING:
    from floor.config import ChainConfig, MarketConfig, Settings


def _aave_v3(key: AdapterKey, asset: Asset, market: MarketConfig) -> Adapter:
    return AaveV3Adapter(key=key, asset=asset, pool=market.pool, a_token=market.a_token)


def _erc4626(key: AdapterKey, asset: Asset, market: MarketConfig) -> Adapter:
    return Erc4626Adapter(key=key, asset=asset, vault=market.vault)


# One entry per adapter kind; Spark is an aave_v3 market with its own addresses,
# MetaMorpho, sDAI and Yearn V3 are erc4626 markets.
ADAPTER_KINDS: dict[str, Callable[[AdapterKey, Asset, MarketConfig], Adapter]] = {
    "aave_v3": _aave_v3,
    "erc4626": _erc4626,
}


class AdapterRegistry:
    def __init__(self, adapters: list[Adapter]):
        self._adapters: dict[AdapterKey, Adapter] = {}
        for adapter in adapters:
            if adapter.key in self._adapters:
                raise ValueError(f"adapter {adapter.key} is configured twice")
            self._adapters[adapter.key] = adapter

    @classmethod
    def from_settings(cls, settings: Settings) -> AdapterRegistry:
        return cls([adapter for chain in settings.chains for adapter in adapters_of_chain(chain)])

    def get(self, key: AdapterKey) -> Adapter:
        try:
            return self._adapters[key]
        except KeyError:
            known = ", ".join(sorted(str(k) for k in self._adapters)) or "none"
            raise UnknownMarket(f"no adapter for {key}; configured: {known}") from None

    def on_chain(self, chain_id: int) -> list[Adapter]:
        return [a for k, a in self._adapters.items() if k.chain_id == chain_id]

    def __iter__(self) -> Iterator[Adapter]:
        return iter(self._adapters.values())

    def __len__(self) -> int:
        return len(self._adapters)


def adapters_of_chain(chain: ChainConfig) -> list[Adapter]:
    adapters = []
    for market in chain.markets:
        token = chain.token(market.asset)
        asset = Asset(symbol=token.symbol, address=token.address, decimals=token.decimals)
        key = AdapterKey(chain_id=chain.id, protocol=market.protocol, market=market.market)
        adapters.append(ADAPTER_KINDS[market.adapter](key, asset, market))
    return adapters


def executor_permissions(chain: ChainConfig) -> PermissionSet:
    """Every rule the chain's executor needs: each adapter's, plus plain transfers of the
    chain's tokens to the configured destinations (the treasury's own addresses)."""
    return PermissionSet.union(
        [adapter.permissions() for adapter in adapters_of_chain(chain)]
        + [transfers([t.address for t in chain.tokens], chain.destinations)]
    )
