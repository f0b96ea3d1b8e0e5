"""Balancer V2's refusals, named, and the `BAL#` reason strings that mean them
(pkg/interfaces/contracts/solidity-utils/helpers/BalancerErrors.sol: the Vault and pools revert
with Error("BAL#<code>"))."""

from __future__ import annotations

from floor.errors import BadInput, InsufficientBalance, InvalidAmount, MarketRefused
from floor.protocols.base import KnownRevert


class BptOutBelowMinimum(MarketRefused):
    """A join would mint less BPT than the userData's minimumBPT (BAL#208): the pool moved
    between the quote and the join by more than the tolerance."""


class ExitBelowMinimum(MarketRefused):
    """An exit would pay less of a token than its minAmountsOut (BAL#505): the pool moved
    between the quote and the exit by more than the tolerance."""


class JoinAboveMaximum(MarketRefused):
    """A join would take more of a token than its maxAmountsIn (BAL#506)."""


class PoolTokensChanged(MarketRefused):
    """The Vault's registered tokens of the pool are not the configured ones (BAL#520 on chain)."""


class AssetNotInPool(BadInput):
    """The market's asset is not one of the pool's tokens."""


class ExactOutExitUnsupported(BadInput):
    """A withdrawal of an exact amount of one coin: Balancer exits here are exact-BPT-in
    (EXACT_BPT_IN_FOR_ONE_TOKEN_OUT); choose the BPT to burn and quote it with queryExit."""


class SenderNotAllowed(MarketRefused):
    """The Vault's caller is not the join's or exit's `sender` (BAL#401)."""


REVERTS = (
    KnownRevert(
        "SUB_OVERFLOW",
        InvalidAmount,
        "the pool's math went below zero: an amount too small (or large) for its rounding, e.g. a tiny one-token exit",
        code="BAL#001",
    ),
    KnownRevert("BPT_OUT_MIN_AMOUNT", BptOutBelowMinimum, "the join mints less BPT than minimumBPT", code="BAL#208"),
    KnownRevert("EXIT_BELOW_MIN", ExitBelowMinimum, "the exit pays less than minAmountsOut", code="BAL#505"),
    KnownRevert("JOIN_ABOVE_MAX", JoinAboveMaximum, "the join takes more than maxAmountsIn", code="BAL#506"),
    KnownRevert("TOKENS_MISMATCH", PoolTokensChanged, "the assets are not the pool's tokens", code="BAL#520"),
    KnownRevert("INPUT_LENGTH_MISMATCH", InvalidAmount, "arrays of different lengths", code="BAL#103"),
    KnownRevert("OUT_OF_BOUNDS", InvalidAmount, "a token index beyond the pool's tokens", code="BAL#100"),
    KnownRevert("SENDER_NOT_ALLOWED", SenderNotAllowed, "the caller is not the sender", code="BAL#401"),
    KnownRevert(
        "ERC20_BURN_EXCEEDS_BALANCE", InsufficientBalance, "burning more BPT than the sender holds", code="BAL#434"
    ),
    KnownRevert("ERC20_TRANSFER_EXCEEDS_BALANCE", InsufficientBalance, "moving more BPT than held", code="BAL#416"),
)
