"""Lido's refusals, named, and the reverts that mean them: stETH's revert strings (Lido v2's
`Lido.sol`/`StETH.sol`) and WithdrawalQueueERC721's custom errors."""

from __future__ import annotations

from floor.errors import BadInput, InsufficientBalance, InvalidAmount, MarketRefused
from floor.protocols.base import KnownRevert


class StakingPaused(MarketRefused):
    """Lido's staking is paused: `submit` takes no ETH until the DAO resumes it."""


class StakeLimitExceeded(MarketRefused):
    """The deposit is above Lido's current stake limit (it regrows block by block)."""


class RequestAmountTooSmall(InvalidAmount):
    """A withdrawal request below the queue's minimum (100 wei of stETH)."""


class RequestAmountTooLarge(InvalidAmount):
    """A withdrawal request above the queue's maximum (1,000 stETH): the adapter splits larger exits."""


class WithdrawalsPaused(MarketRefused):
    """The withdrawal queue is paused: it takes no request now."""


class RequestNotFinalized(MarketRefused):
    """A claim of a request the oracle has not finalised yet (or that does not exist)."""


class RequestAlreadyClaimed(MarketRefused):
    """A claim of a request already paid out."""


class NotRequestOwner(BadInput):
    """A claim of a request someone else owns."""


class InvalidHint(BadInput):
    """A claim with a checkpoint hint that does not cover the request."""


def _queue(name: str, error: type, meaning: str, args: str = "uint256") -> KnownRevert:
    return KnownRevert(name, error, meaning, f"{name}({args})")


REVERTS = (
    KnownRevert("STAKING_PAUSED", StakingPaused, "staking is paused", code="STAKING_PAUSED"),
    KnownRevert("STAKE_LIMIT", StakeLimitExceeded, "the deposit is above the current stake limit", code="STAKE_LIMIT"),
    KnownRevert("ZERO_DEPOSIT", InvalidAmount, "a submit must carry ETH", code="ZERO_DEPOSIT"),
    KnownRevert("BALANCE_EXCEEDED", InsufficientBalance, "more stETH than the holder has", code="BALANCE_EXCEEDED"),
    KnownRevert("ALLOWANCE_EXCEEDED", InsufficientBalance, "more stETH than the allowance", code="ALLOWANCE_EXCEEDED"),
    _queue("RequestAmountTooSmall", RequestAmountTooSmall, "a request is below 100 wei of stETH"),
    _queue("RequestAmountTooLarge", RequestAmountTooLarge, "a request is above 1,000 stETH"),
    _queue("RequestNotFoundOrNotFinalized", RequestNotFinalized, "the request is not finalised"),
    _queue("RequestAlreadyClaimed", RequestAlreadyClaimed, "the request was claimed already"),
    _queue("NotOwner", NotRequestOwner, "the request belongs to another owner", "address,address"),
    _queue("InvalidHint", InvalidHint, "the checkpoint hint does not cover the request"),
    _queue("ResumedExpected", WithdrawalsPaused, "the withdrawal queue is paused", ""),
)
