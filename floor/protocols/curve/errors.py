"""Curve's refusals, named, and the reverts that mean them: the StableSwap pools' revert
strings (the same in the old pools, curve-contract's StableSwap3Pool.vy, and in
Stableswap-NG's CurveStableSwapNG.vy). A pool asserts without a message where an argument is
out of range (a coin index, an empty deposit), so the adapter refuses those by name before
anything is sent."""

from __future__ import annotations

from floor.errors import BadInput, FloorError
from floor.protocols.base import KnownRevert


class SlippageExceeded(FloorError):
    """The pool would mint fewer LP tokens, or pay fewer coins, than the call's own min-out
    (`min_mint_amount`, `min_amount`, `min_amounts`): the pool moved between the quote and
    the transaction by more than the slippage allowed. The whole batch reverted; a fresh
    quote is needed."""


class CoinNotInPool(BadInput):
    """The market's asset is not the pool's coin at the configured index."""


class PositionChanged(BadInput):
    """The LP tokens held (in the executor and staked in the gauge) are not what the position
    read said: read the position again before withdrawing all of it."""


class NoGauge(BadInput):
    """The market has no gauge configured: there is nothing to stake in or claim from."""


def _string(code: str, error: type, meaning: str) -> KnownRevert:
    return KnownRevert(code, error, meaning, code=code)


REVERTS = (
    _string("Slippage screwed you", SlippageExceeded, "a deposit mints less than min_mint_amount"),
    _string("Not enough coins removed", SlippageExceeded, "a one-coin exit pays less than min_amount"),
    _string(
        "Withdrawal resulted in fewer coins than expected",
        SlippageExceeded,
        "a balanced exit pays less than min_amounts",
    ),
    _string(
        "Exchange resulted in fewer coins than expected",
        SlippageExceeded,
        "an exchange pays less than min_dy",
    ),
)
