"""Rebalance planning, pure: drift of each (chain, token) leg against the strategy's weights,
and the moves that bring it back (withdrawals first, then deposits of what they freed).

Drift is measured in bps of the leg's total: a market at 30% of a leg aimed at 25% drifts
500 bps. A leg moves only when its largest drift is above the threshold; a rebalance moves
funds only between markets of one token on one chain (crossing chains or tokens is a bridge or
a swap, not a rebalance). Withdrawals are capped by what each market lets the executor take
now, so an illiquid market is drained as far as it can be and the plan says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from floor.models import AdapterKey, Amount, FrozenModel, units
from floor.planning.allocation import split_by_weight

if TYPE_CHECKING:
    from floor.adapters.base import Adapter, LiquidityReading

BPS = 10_000


class Holding(FrozenModel):
    """One market's position with what can leave it, read at one block."""

    key: AdapterKey
    asset: str
    decimals: int
    amount: Amount
    withdrawable: Amount
    exit: Literal["instant", "queued"] = "instant"
    exit_wait_s: int = 0  # a queued exit's expected time to claim
    yield_source: str = "exchange_rate"  # or "rebase": how the position grows

    @classmethod
    def read(cls, adapter: Adapter, liquidity: LiquidityReading) -> Holding:
        """A market's holding from its adapter and its liquidity as just read."""
        return cls(
            key=adapter.key,
            asset=adapter.asset.symbol,
            decimals=adapter.asset.decimals,
            amount=liquidity.position,
            withdrawable=liquidity.withdrawable,
            exit=adapter.exit,
            exit_wait_s=adapter.exit_wait_s,
            yield_source=adapter.yield_source,
        )


class Weight(FrozenModel):
    key: AdapterKey
    asset: str
    weight_bps: int


class Move(FrozenModel):
    key: AdapterKey
    asset: str
    action: Literal["deposit", "withdraw", "withdraw_all"]
    amount: Amount  # withdraw_all: the position as read; the chain pays what it holds then


class LegPlan(FrozenModel):
    chain_id: int
    asset: str
    total: Amount
    drift_bps: int  # largest drift among the leg's markets before the moves
    projected_drift_bps: int  # after the moves, if they land as planned
    moves: list[Move] = []  # withdrawals first
    note: str = ""  # e.g. a market that could not give back all of its excess


class RebalancePlan(FrozenModel):
    threshold_bps: int
    legs: list[LegPlan]

    @property
    def drift_bps(self) -> int:
        return max((leg.drift_bps for leg in self.legs), default=0)

    @property
    def moves(self) -> list[Move]:
        return [m for leg in self.legs for m in leg.moves]

    @property
    def acts(self) -> bool:
        return bool(self.moves)


def drift_bps(amounts: list[int], weights: list[int]) -> int:
    """Largest distance of any market from its weight, in bps of the total (0 for an empty leg)."""
    total = sum(amounts)
    if total == 0 or sum(weights) == 0:
        return 0
    goals = split_by_weight(total, weights)
    return max(abs(a - g) * BPS // total for a, g in zip(amounts, goals, strict=True))


def _legs(weights: list[Weight]) -> dict[tuple[int, str], list[Weight]]:
    legs: dict[tuple[int, str], list[Weight]] = {}
    for w in weights:
        legs.setdefault((w.key.chain_id, w.asset), []).append(w)
    return legs


def plan_rebalance(holdings: list[Holding], weights: list[Weight], threshold_bps: int) -> RebalancePlan:
    by_key = {h.key: h for h in holdings}
    legs = []
    for (chain_id, asset), leg_weights in sorted(_legs(weights).items()):
        held = [by_key.get(w.key) for w in leg_weights]
        amounts = [h.amount if h else 0 for h in held]
        ws = [w.weight_bps for w in leg_weights]
        total = sum(amounts)
        before = drift_bps(amounts, ws)
        if total == 0 or sum(ws) == 0 or before <= threshold_bps:
            legs.append(
                LegPlan(chain_id=chain_id, asset=asset, total=total, drift_bps=before, projected_drift_bps=before)
            )
            continue
        goals = split_by_weight(total, ws)
        withdrawals, after, notes = [], list(amounts), []
        for i, (w, h) in enumerate(zip(leg_weights, held, strict=True)):
            excess = amounts[i] - goals[i]
            if excess <= 0 or h is None:
                continue
            if goals[i] == 0 and h.withdrawable >= h.amount:
                withdrawals.append(Move(key=w.key, asset=asset, action="withdraw_all", amount=h.amount))
                after[i] = 0
                continue
            take = min(excess, h.withdrawable)
            if take < excess:
                notes.append(
                    f"{w.key} can give back {units(take, h.decimals, asset)} of its "
                    f"{units(excess, h.decimals, asset)} excess now"
                )
            if take > 0:
                withdrawals.append(Move(key=w.key, asset=asset, action="withdraw", amount=take))
                after[i] -= take
        freed = sum(amounts[i] - after[i] for i in range(len(amounts)))
        deficits = [max(goals[i] - amounts[i], 0) for i in range(len(amounts))]
        deposits = []
        if freed > 0 and sum(deficits) > 0:
            for i, share in enumerate(split_by_weight(freed, deficits)):
                if share > 0:
                    deposits.append(Move(key=leg_weights[i].key, asset=asset, action="deposit", amount=share))
                    after[i] += share
        legs.append(
            LegPlan(
                chain_id=chain_id,
                asset=asset,
                total=total,
                drift_bps=before,
                projected_drift_bps=drift_bps(after, ws),
                moves=withdrawals + deposits,
                note="; ".join(notes),
            )
        )
    return RebalancePlan(threshold_bps=threshold_bps, legs=legs)
