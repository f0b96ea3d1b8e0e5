"""Protocol packages, discovered: every subpackage of `floor.protocols` that exposes a
`PROTOCOL` spec (`floor.protocols.base.ProtocolSpec`) is a protocol the engine serves.

The registry builds adapters through them, the config's market union is made of their
market configs, revert decoding knows their errors, and the local stack deploys their
stand-ins. A package is named after its `adapter` value (`aave_v3`, `erc4626`).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field

from floor.protocols.base import KnownRevert, MarketBase, ProtocolSpec

__all__ = [
    "KnownRevert",
    "MarketBase",
    "ProtocolSpec",
    "adapter_kinds",
    "known_reverts",
    "market_config_union",
    "protocol",
    "protocols",
]


@cache
def protocols() -> dict[str, ProtocolSpec]:
    """Every protocol package's spec, by adapter name, in the packages' name order."""
    found: dict[str, ProtocolSpec] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "PROTOCOL", None)
        if not isinstance(spec, ProtocolSpec):
            raise ImportError(f"{module.__name__} is a protocol package without a PROTOCOL spec")
        if spec.adapter != info.name:
            raise ImportError(f"{module.__name__}: PROTOCOL.adapter is {spec.adapter!r}, not the package's name")
        found[spec.adapter] = spec
    return found


def protocol(adapter: str) -> ProtocolSpec:
    try:
        return protocols()[adapter]
    except KeyError:
        raise LookupError(f"no protocol package for adapter {adapter!r} (known: {', '.join(protocols())})") from None


def adapter_kinds() -> tuple[str, ...]:
    return tuple(protocols())


def market_config_union() -> Any:
    """The market config type: each protocol's market config, told apart by `adapter`."""
    members = tuple(spec.market_config for spec in protocols().values())
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Field(discriminator="adapter")]


def known_reverts() -> list[tuple[ProtocolSpec, KnownRevert]]:
    """Every protocol's known reverts, with the protocol that gives them."""
    return [(spec, revert) for spec in protocols().values() for revert in spec.reverts]
