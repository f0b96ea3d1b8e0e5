"""Convex's refusals, named, and the reverts that mean them: the Booster's and the
BaseRewardPool's revert strings (convex-eth/platform Booster.sol, BaseRewardPool.sol)."""

from __future__ import annotations

from floor.errors import BadInput, InvalidAmount, MarketRefused
from floor.protocols.base import KnownRevert


class PoolShutdown(MarketRefused):
    """The Booster (or this pid) is shut down: it takes no deposit; withdrawals still work."""


class PoolMismatch(BadInput):
    """The Booster's `poolInfo(pid)` names another LP token or reward pool than the market's
    config: the pid is wrong, and the executor's rules with it."""


def _string(code: str, error: type, meaning: str) -> KnownRevert:
    return KnownRevert(code, error, meaning, code=code)


REVERTS = (
    _string("pool is closed", PoolShutdown, "the pid is shut down"),
    _string("shutdown", PoolShutdown, "the Booster is shut down"),
    _string("RewardPool : Cannot stake 0", InvalidAmount, "a stake of zero"),
    _string("RewardPool : Cannot withdraw 0", InvalidAmount, "a withdrawal of zero"),
)
