"""Balance guards: assertions, inside the executor's atomic batch, that the executor's
balance of a token moved by at least a bound.

For protocols with no min-out argument of their own (ERC-4626 deposit/withdraw/redeem,
Aave supply/withdraw) the adapter quotes what the operation should do to the executor's
balances; the engine wraps the operation in `guardStart(token)` ... `guardCheck(token,
minDelta)` entries addressed to the executor, which snapshots the balance and reverts the
whole batch with `BalanceGuard(...)` if the change falls short. A share price pushed up by a
donation between quote and execution then costs nothing but the failed transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from floor.calls import call
from floor.models import Call

ETH = "0x0000000000000000000000000000000000000000"  # the executor's own ETH balance
BPS = 10_000


@dataclass(frozen=True)
class Expected:
    """The quoted change of one executor balance: positive received, negative paid."""

    token: str
    delta: int


def min_delta(delta: int, slippage_bps: int) -> int:
    """The worst change accepted: a receipt may fall short of its quote, and a payment exceed
    it, by `slippage_bps` of the quote's size, rounded up to a whole base unit."""
    if not 0 <= slippage_bps <= BPS:
        raise ValueError(f"slippage must be within 0..{BPS} bps, got {slippage_bps}")
    allowance = -(-abs(delta) * slippage_bps // BPS)  # ceil
    return delta - allowance


def guarded(executor: str, calls: Sequence[Call], expected: Sequence[Expected], slippage_bps: int) -> list[Call]:
    """`calls` between a snapshot and a check of every expected balance change."""
    if not expected:
        return list(calls)
    starts = [call(executor, "guardStart(address)", e.token) for e in expected]
    checks = [call(executor, "guardCheck(address,int256)", e.token, min_delta(e.delta, slippage_bps)) for e in expected]
    return [*starts, *calls, *checks]
