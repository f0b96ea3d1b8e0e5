"""Liquidity risk per position, pure: can the floor get its money out, and how fast.

From the adapters' liquidity reads (`LiquidityReading`: our position, what the market can pay
out now, what the executor can take now) and the market's exit kind:

- **liquidity ratio** = position / market's available liquidity, in bps. 10,000 means the
  floor's position equals everything the market can pay out; above it, the floor could not
  leave in full now even if nobody else wanted out.
- **maximum safe withdrawal now** = min(withdrawable, available x `safe_share_bps`): taking
  more than a share of a lending market's available liquidity drives its utilisation to the
  kink, where the rate jumps and other lenders rush out (default a quarter). A queued exit
  (Lido, native ETH) has none now: it reports its expected wait instead.
- **alert** when the ratio is above `alert_ratio_bps` (default 5,000: the floor holds more
  than half of what the market can pay out), or when nothing can leave now from an instant
  market that holds a position (paused, or drained).

Everything in integers (bps round down, amounts in the asset's base units).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from floor.models import AdapterKey, Amount, FrozenModel

BPS = 10_000


class LiquidityPolicy(FrozenModel):
    alert_ratio_bps: int = Field(default=5_000, gt=0)
    safe_share_bps: int = Field(default=2_500, gt=0, le=BPS)


DEFAULT_POLICY = LiquidityPolicy()


class PositionLiquidity(FrozenModel):
    key: AdapterKey
    position: Amount  # base units (JSON: a string of digits, as every amount)
    market_available: Amount  # what the market can pay out now, to anyone
    withdrawable: Amount  # what the executor can take now
    ratio_bps: int | None  # position / available; None when the market has nothing available
    max_safe_withdrawal: Amount  # base units, now
    exit: Literal["instant", "queued"]
    expected_wait_s: int  # 0 for an instant exit
    alert: bool
    reason: str  # why the alert, or "" when none


def position_liquidity(
    key: AdapterKey,
    position: int,
    market_available: int,
    withdrawable: int,
    exit: Literal["instant", "queued"],
    exit_wait_s: int,
    policy: LiquidityPolicy = DEFAULT_POLICY,
) -> PositionLiquidity:
    ratio = position * BPS // market_available if market_available > 0 else None
    if exit == "queued":
        safe, wait = 0, exit_wait_s
    else:
        safe, wait = min(withdrawable, market_available * policy.safe_share_bps // BPS), 0
    reason = ""
    if position > 0 and exit == "instant" and withdrawable == 0:
        reason = f"nothing can leave {key} now (available {market_available})"
    elif ratio is not None and ratio > policy.alert_ratio_bps:
        reason = (
            f"{key}: the position is {ratio} bps of the market's available liquidity "
            f"(alert above {policy.alert_ratio_bps} bps)"
        )
    return PositionLiquidity(
        key=key,
        position=position,
        market_available=market_available,
        withdrawable=withdrawable,
        ratio_bps=ratio,
        max_safe_withdrawal=safe,
        exit=exit,
        expected_wait_s=wait,
        alert=bool(reason),
        reason=reason,
    )
