"""Aave V3's refusals, named, and the reverts that mean them.

Aave reverts with a numeric string code before v3.4 (`Error("32")`, codes from v3.0.2's
`Errors.sol`) and with an argument-less custom error from v3.4 (`NotEnoughAvailableUserBalance()`).
Both decode to the same engine error. A withdrawal beyond the reserve's liquidity has no
named error on a real pool: from v3.1 the virtual balance underflows (`Panic(0x11)`), so the
engine checks liquidity before it sends (`AaveV3Adapter.decode_liquidity`).
"""

from __future__ import annotations

from floor.errors import BadInput, InsufficientBalance, InvalidAmount, MarketRefused
from floor.protocols.base import KnownRevert


class ReserveInactive(MarketRefused):
    """The reserve is not active (not listed, or deactivated by governance): nothing moves."""


class ReservePaused(MarketRefused):
    """The reserve is paused: no supply, no withdrawal, until its guardian unpauses it."""


class ReserveFrozen(MarketRefused):
    """The reserve is frozen: it takes no new supply (withdrawals still work)."""


class SupplyCapExceeded(MarketRefused):
    """The deposit would take the reserve's supply above its cap."""


REVERTS = (
    KnownRevert("InvalidAmount", InvalidAmount, "amount must be greater than 0", "InvalidAmount()", "26"),
    KnownRevert("ReserveInactive", ReserveInactive, "the reserve is not active", "ReserveInactive()", "27"),
    KnownRevert("ReserveFrozen", ReserveFrozen, "the reserve is frozen", "ReserveFrozen()", "28"),
    KnownRevert("ReservePaused", ReservePaused, "the reserve is paused", "ReservePaused()", "29"),
    KnownRevert(
        "NotEnoughAvailableUserBalance",
        InsufficientBalance,
        "cannot withdraw more than the available balance",
        "NotEnoughAvailableUserBalance()",
        "32",
    ),
    KnownRevert("SupplyCapExceeded", SupplyCapExceeded, "supply cap is exceeded", "SupplyCapExceeded()", "51"),
    KnownRevert("InvalidMintAmount", InvalidAmount, "invalid amount to mint", "InvalidMintAmount()", "24"),
    KnownRevert("InvalidBurnAmount", InvalidAmount, "invalid amount to burn", "InvalidBurnAmount()", "25"),
    KnownRevert("WithdrawToAToken", BadInput, "withdrawing to the aToken is not allowed", "WithdrawToAToken()", "93"),
    KnownRevert("SupplyToAToken", BadInput, "supplying to the aToken is not allowed", "SupplyToAToken()", "94"),
)
