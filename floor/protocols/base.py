"""What every protocol package provides, in one `PROTOCOL` spec object.

A protocol package (`floor/protocols/<adapter>/`) is the one home of a protocol: its adapter
(encode calls, decode reads; `floor.adapters.base` is the interface), its typed market
config (a member of the config's union on `adapter`), its named errors with the reverts that
mean them, the names of its local stand-in contracts and the hook that deploys them on a
local chain. `floor.protocols` discovers the packages, so adding a protocol touches nothing
outside its own package.

Pure: no web3 here nor in a package's adapter, config and errors modules (workflows import
floor.* inside Temporal's sandbox). A deploy hook is named by its module path and imported
only when the local stack deploys.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

from pydantic import Field

from floor.adapters.base import Adapter, Asset
from floor.calls import selector
from floor.configbase import ConfigModel
from floor.errors import FloorError
from floor.models import AdapterKey


class MarketBase(ConfigModel):
    """The fields every market has; a protocol's market config adds its addresses and sets
    `adapter` to its own name (a Literal: the union's tag)."""

    protocol: str = Field(min_length=1)  # e.g. "aave-v3", "spark", "metamorpho", "sdai"
    adapter: str
    market: str = Field(min_length=1)  # e.g. "USDC" or a vault name
    asset: str = Field(min_length=1)  # token symbol on the same chain

    @property
    def key(self) -> tuple[str, str]:
        return (self.protocol, self.market)

    @property
    def lot(self) -> int:
        """Deposits are made in whole multiples of this many base units (1: any amount)."""
        return 1


@dataclass(frozen=True)
class KnownRevert:
    """A revert a protocol's contracts give, and the engine error it means.

    `signature` is a custom error (`ReservePaused()`), `code` a string code carried by
    `Error(string)` (Aave before 3.4 reverts with `Error("29")`); either or both."""

    name: str  # the protocol's own name for it
    error: type[FloorError]  # the engine's named error
    meaning: str
    signature: str | None = None
    code: str | None = None

    @property
    def selector(self) -> bytes | None:
        return selector(self.signature) if self.signature else None

    @property
    def types(self) -> list[str]:
        """The custom error's argument types (none for Aave's, three for OpenZeppelin's)."""
        if not self.signature:
            return []
        inner = self.signature[self.signature.index("(") + 1 : -1]
        return inner.split(",") if inner else []


def _no_args(market: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ProtocolSpec:
    adapter: str  # the market config's `adapter` value, and the package's name
    title: str  # for people: "Aave V3", "ERC-4626"
    market_config: type[MarketBase]
    adapter_class: type[Adapter]  # a dataclass built from the market config (`adapter_for`)
    # The adapter's arguments that are not a config field of the same name: a renamed field,
    # a nested config's address, a setting the environment may override.
    adapter_args: Callable[[Any], dict[str, Any]] = _no_args
    reverts: tuple[KnownRevert, ...] = ()
    contracts: tuple[str, ...] = ()  # its stand-ins' contract names (contracts/src, compiled by name)
    deploy: str | None = None  # "module:function" deploying the stand-ins on a local chain

    def adapter_for(self, key: AdapterKey, asset: Asset, market: MarketBase) -> Adapter:
        """The market's adapter: each of its fields that the market config has by the same
        name is taken from the config (`key` and `asset` are given: the config's `asset` is a
        symbol), then `adapter_args` adds or replaces the others."""
        adapter_class = self.adapter_class
        if not is_dataclass(adapter_class):
            raise TypeError(f"{adapter_class.__name__} is not a dataclass")
        shared = {f.name for f in fields(adapter_class) if f.init} & set(type(market).model_fields)
        args = {name: getattr(market, name) for name in shared - {"key", "asset"}}
        # Its constructor takes the dataclass's fields, which the Adapter interface does not name.
        build: Callable[..., Adapter] = adapter_class
        return build(key=key, asset=asset, **{**args, **self.adapter_args(market)})

    def deploy_hook(self) -> Callable[..., list[dict[str, Any]]]:
        """The local stack's deploy hook (imported now: it needs web3). It takes the chain's
        `floor.devnet.deploy.DeployContext` and returns the config-shaped markets it made."""
        if self.deploy is None:
            raise LookupError(f"protocol {self.adapter!r} has no local stand-ins to deploy")
        module, _, function = self.deploy.partition(":")
        hook: Callable[..., list[dict[str, Any]]] = getattr(importlib.import_module(module), function)
        return hook
