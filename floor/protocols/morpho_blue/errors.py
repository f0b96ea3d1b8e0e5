"""Morpho Blue's refusals, named, and the reverts that mean them: Morpho reverts with
`Error(string)` carrying ErrorsLib's strings ("insufficient liquidity", "market not created",
...). A withdrawal of more shares than the account holds underflows (`Panic(0x11)`) and has
no string, so the engine's quote refuses it before sending (`InsufficientBalance`)."""

from __future__ import annotations

from floor.errors import BadInput, InsufficientBalance, InsufficientLiquidity, InvalidAmount
from floor.protocols.base import KnownRevert


class MarketNotCreated(BadInput):
    """No Morpho market has these parameters: the configured (loan, collateral, oracle, irm,
    lltv) hash to an id Morpho does not know."""


def _string(code: str, error: type, meaning: str) -> KnownRevert:
    return KnownRevert(code, error, meaning, code=code)


REVERTS = (
    _string("inconsistent input", InvalidAmount, "exactly one of assets and shares must be non-zero"),
    _string("insufficient liquidity", InsufficientLiquidity, "the market's borrowers hold what would be withdrawn"),
    _string("unauthorized", BadInput, "the caller may not act for that account"),
    _string("market not created", MarketNotCreated, "no market has these parameters"),
    _string("zero address", BadInput, "a receiver or beneficiary of address zero"),
    _string("zero assets", InvalidAmount, "an amount of zero"),
    _string("insufficient collateral", BadInput, "the account's collateral does not cover its borrow"),
    _string("max uint128 exceeded", InvalidAmount, "an amount beyond Morpho's uint128 totals"),
    _string("transferFrom reverted", InsufficientBalance, "the loan token was not paid in"),
    _string("transferFrom returned false", InsufficientBalance, "the loan token was not paid in"),
    _string("transfer reverted", InsufficientLiquidity, "the loan token could not be paid out"),
    _string("transfer returned false", InsufficientLiquidity, "the loan token could not be paid out"),
    _string("no code", BadInput, "the token has no code"),
)
