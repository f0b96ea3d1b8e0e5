"""Building blocks of the configuration models, shared by ``floor.config`` and each protocol
package's market config (``floor.protocols.<name>.config``): the checksummed address type,
the frozen model base that forbids unknown keys, and the error that carries several
problems at once, each on its own line with its field path.

Pure: no I/O, importable inside the workflow sandbox.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from eth_utils.address import is_checksum_address, to_checksum_address
from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic_core import PydanticCustomError

_HEX_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_MAX_SHOWN = 48  # longer values are cut, so a pasted 32-byte key is never echoed whole


def show(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        return f"{text[:12]}... ({len(text)} chars)"
    return text


def problems(found: list[tuple[str, str]]) -> PydanticCustomError:
    """One error carrying several (relative path, message) problems.

    Cross-field validators report many problems at once; ``load_settings``
    expands them so each gets its own line with a full dotted path.
    """
    summary = "; ".join(f"{p}: {m}" if p else m for p, m in found)
    return PydanticCustomError("floor_problems", "{summary}", {"summary": summary, "problems": found})


def checksum_address(value: Any) -> str:
    if not isinstance(value, str) or not _HEX_ADDRESS.match(value):
        raise PydanticCustomError("address", "not a valid address: {shown}", {"shown": show(value)})
    digits = value[2:]
    # All-lower/all-upper carries no checksum; mixed case must be the right one.
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise PydanticCustomError("address", "not a valid address: {shown} (bad checksum)", {"shown": show(value)})
    return to_checksum_address(value)


Address = Annotated[str, BeforeValidator(checksum_address)]
"""A 20-byte hex address, normalised to its EIP-55 checksummed form."""


class ConfigModel(BaseModel):
    """Operators edit the TOML by hand: unknown keys are refused, and settings never change
    once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
