"""The adapter registry: every configured market, keyed by (chain, protocol, market).

Adapters are built by their protocol's package (`floor.protocols`), chosen by the market
config's `adapter`: Spark is an `aave_v3` market with its own addresses; MetaMorpho, sDAI
and Yearn V3 are `erc4626` markets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from floor.adapters.base import Adapter, Asset
from floor.errors import UnknownMarket
from floor.models import AdapterKey
from floor.permissions import ExecutorSetup, Feed, LossBound, PermissionSet, transfers
from floor.protocols import protocol
from floor.swaps.venue import permissions as swap_permissions

if TYPE_CHECKING:
    from floor.config import ChainConfig, Settings


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
        adapters.append(protocol(market.adapter).adapter_for(key, asset, market))
    return adapters


def executor_permissions(chain: ChainConfig) -> PermissionSet:
    """Every rule the chain's executor needs: each adapter's, plus plain transfers of the
    chain's tokens to the configured destinations (the treasury's own addresses)."""
    return PermissionSet.union(
        [adapter.permissions() for adapter in adapters_of_chain(chain)]
        + [transfers([t.address for t in chain.tokens], chain.destinations)]
        + [swap_permissions(chain.swaps, {t.symbol: t.address for t in chain.tokens})]  # reward sales
    )


def executor_setup(chain: ChainConfig) -> ExecutorSetup:
    """What the owner configures on the chain's executor: the rules, the feeds that value their
    assets (the chain's, and the reward routes'), the chain's tokens and its loss bound."""
    feeds = {s: Feed(f.feed, f.heartbeat_s, f.decimals or 8) for s, f in chain.price_feeds.items()}
    for r in chain.swaps.routes if chain.swaps else []:
        if r.price_feed is not None:
            feeds.setdefault(r.symbol, Feed(r.price_feed.feed, r.price_feed.heartbeat_s, r.price_feed.decimals))
    b = chain.loss_bound
    return ExecutorSetup(
        executor_permissions(chain),
        feeds,
        LossBound(b.max_loss_bps, b.floor_usd, b.window_budget_usd, b.window_s),
        {t.address: (t.symbol, t.decimals) for t in chain.tokens},
    )
