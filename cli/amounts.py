"""Command-line input checked against the config before anything is sent: chains, tokens,
human amounts converted exactly to base units, addresses and deadlines.

Every problem is an `InputError` with one line an operator can act on (exit code 2).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import NamedTuple

from eth_utils import is_address, is_checksum_address, to_checksum_address

from floor.config import ChainConfig, Settings, TokenConfig

_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


class InputError(ValueError):
    """Bad command-line input: reported in one line, exit code 2, nothing sent."""


class TokenAmount(NamedTuple):
    chain_id: int
    asset: str
    amount: int  # base units
    decimals: int


def base_units(text: str, decimals: int, symbol: str = "the token") -> int:
    """A human amount ("1500.25") as base units, exactly. Trailing zeros after the point do not
    count as decimals ("1.50" of a 1-decimal token is 15); a digit beyond the token's decimals
    is refused, never rounded."""
    raw = text.strip()
    if raw.startswith("-"):
        raise InputError(f"amount {text!r}: must be positive")
    match = _AMOUNT.fullmatch(raw)
    if match is None:
        raise InputError(f"amount {text!r}: not a plain decimal number (e.g. 250000 or 0.5)")
    whole, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    if len(fraction) > decimals:
        raise InputError(
            f"amount {text!r}: {symbol} has {decimals} decimals, the amount has {len(fraction)} after the point"
        )
    amount = int(whole) * 10**decimals + int(fraction.ljust(decimals, "0") or 0)
    if amount == 0:
        raise InputError(f"amount {text!r}: must be more than zero")
    return amount


def find_chain(settings: Settings, text: str) -> ChainConfig:
    """A configured chain by id ("42161") or name ("arbitrum")."""
    for chain in settings.chains:
        if text.strip() == str(chain.id) or text.strip().lower() == chain.name.lower():
            return chain
    known = ", ".join(f"{c.id} ({c.name})" for c in settings.chains)
    raise InputError(f"unknown chain {text!r} (chains: {known})")


def find_token(chain: ChainConfig, symbol: str) -> TokenConfig:
    """A chain's token by symbol, case-insensitively when that is not ambiguous."""
    exact = [t for t in chain.tokens if t.symbol == symbol]
    loose = [t for t in chain.tokens if t.symbol.lower() == symbol.lower()]
    if exact or len(loose) == 1:
        return (exact or loose)[0]
    known = ", ".join(t.symbol for t in chain.tokens) or "none"
    raise InputError(f"chain {chain.id} ({chain.name}) has no token {symbol!r} (tokens: {known})")


def token_amount(settings: Settings, chain: str, asset: str, amount: str) -> TokenAmount:
    config = find_chain(settings, chain)
    token = find_token(config, asset)
    return TokenAmount(config.id, token.symbol, base_units(amount, token.decimals, token.symbol), token.decimals)


def parse_allocation(settings: Settings, specs: list[str]) -> list[TokenAmount]:
    """CHAIN:ASSET:AMOUNT arguments, e.g. `1:USDC:250000 arbitrum:WETH:12.5`."""
    parts: list[TokenAmount] = []
    for spec in specs:
        fields = spec.split(":")
        if len(fields) != 3:
            raise InputError(f"{spec!r}: expected CHAIN:ASSET:AMOUNT, e.g. 1:USDC:250000")
        part = token_amount(settings, *fields)
        if any((p.chain_id, p.asset) == (part.chain_id, part.asset) for p in parts):
            raise InputError(f"{part.asset} on chain {part.chain_id} is given twice: give one amount")
        parts.append(part)
    return parts


def address(text: str) -> str:
    """A 20-byte hex address; mixed case must be its EIP-55 checksum (a typo shows there)."""
    digits = text[2:]
    mixed = digits != digits.lower() and digits != digits.upper()
    if not is_address(text) or (mixed and not is_checksum_address(text)):
        raise InputError(f"{text!r} is not an address (0x and 40 hex digits, checksummed if mixed case)")
    return to_checksum_address(text)


def iso_time(name: str, text: str) -> datetime:
    """An ISO 8601 time with its zone (e.g. 2030-07-01T12:00:00Z); `name` says which input."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{name} {text!r}: not an ISO 8601 time (e.g. 2030-07-01T12:00:00Z)") from None
    if when.tzinfo is None:
        raise InputError(f"{name} {text!r}: give its time zone (e.g. a trailing Z for UTC, or +02:00)")
    return when


def deadline(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time with its zone (e.g. 2030-07-01T12:00:00Z), not in the past."""
    when = iso_time("deadline", text)
    if when <= (now or datetime.now(UTC)):
        raise InputError(f"deadline {text!r}: already past")
    return when
