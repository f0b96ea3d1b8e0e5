"""Compound V3's refusals, named, and the reverts that mean them: Comet's custom errors
(`Paused()`, `NotCollateralized()`, `BadAsset()`, ...) and CometRewards' (`NotSupported(address)`,
`NotPermitted(address)`).

A withdrawal beyond the executor's supply is not refused by Comet: it borrows the rest,
which needs collateral (`NotCollateralized()` without it) and at least `baseBorrowMin`
(`BorrowTooSmall()`). The engine never borrows, so its quote refuses such a withdrawal
before anything is sent (`InsufficientBalance`).
"""

from __future__ import annotations

from floor.errors import BadInput, InsufficientBalance, InsufficientLiquidity, InvalidAmount, MarketRefused
from floor.protocols.base import KnownRevert


class CometPaused(MarketRefused):
    """The Comet's pause guardian has paused the action (supply, withdraw, transfer, ...)."""


class SupplyPaused(CometPaused):
    """The Comet takes no supply while `isSupplyPaused()`."""


class WithdrawPaused(CometPaused):
    """Nothing leaves the Comet while `isWithdrawPaused()`."""


class RewardsNotConfigured(BadInput):
    """CometRewards has no reward token configured for this Comet, or the market has no
    CometRewards in the configuration."""


REVERTS = (
    KnownRevert("Paused", CometPaused, "the action is paused on this Comet", "Paused()"),
    KnownRevert(
        "NotCollateralized",
        InsufficientBalance,
        "the withdrawal would borrow beyond the account's collateral",
        "NotCollateralized()",
    ),
    KnownRevert(
        "BorrowTooSmall", InsufficientBalance, "the withdrawal would borrow less than baseBorrowMin", "BorrowTooSmall()"
    ),
    KnownRevert("BadAsset", BadInput, "the asset is not this Comet's base token or a collateral", "BadAsset()"),
    KnownRevert("BadAmount", InvalidAmount, "an amount Comet does not take", "BadAmount()"),
    KnownRevert("Unauthorized", BadInput, "the caller may not act for that account", "Unauthorized()"),
    KnownRevert("NoSelfTransfer", BadInput, "a transfer to the sender itself", "NoSelfTransfer()"),
    KnownRevert("InsufficientReserves", MarketRefused, "the Comet's reserves are short", "InsufficientReserves()"),
    KnownRevert("TransferInFailed", InsufficientBalance, "the base token was not paid in", "TransferInFailed()"),
    KnownRevert(
        "TransferOutFailed", InsufficientLiquidity, "the base token could not be paid out", "TransferOutFailed()"
    ),
    KnownRevert("ReentrantCallBlocked", BadInput, "a reentrant call into Comet", "ReentrantCallBlocked()"),
    KnownRevert(
        "NotSupported", RewardsNotConfigured, "CometRewards pays no reward on this Comet", "NotSupported(address)"
    ),
    KnownRevert("NotPermitted", BadInput, "the caller may not claim for that account", "NotPermitted(address)"),
)
