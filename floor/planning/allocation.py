"""Allocation planning, pure: split an amount across targets by weight, to the base unit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from floor.models import AdapterKey, Amount, FrozenModel, Position, SignedAmount

if TYPE_CHECKING:
    from floor.planning.rebalance import Holding  # rebalance imports this module


class AllocationTarget(FrozenModel):
    key: AdapterKey
    weight_bps: int = Field(ge=0, le=10_000)


class PlannedDeposit(FrozenModel):
    key: AdapterKey
    amount: Amount


class AllocationLeg(FrozenModel):
    """Put `amount` of one token on one chain into markets in proportion to their weights."""

    chain_id: int
    asset: str  # token symbol on that chain
    amount: Amount
    targets: list[AllocationTarget] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> AllocationLeg:
        if self.amount <= 0:
            raise ValueError(f"amount must be positive, got {self.amount}")
        if sum(t.weight_bps for t in self.targets) <= 0:
            raise ValueError("targets' weights add up to zero")
        for target in self.targets:
            if target.key.chain_id != self.chain_id:
                raise ValueError(f"target {target.key} is not on chain {self.chain_id}")
        if len({t.key for t in self.targets}) != len(self.targets):
            raise ValueError("a market appears twice among the targets")
        return self


def split_by_weight(amount: int, weights: list[int]) -> list[int]:
    """Largest-remainder split: shares proportional to weights that add up exactly to `amount`.

    Weights need not sum to 10,000: they are relative (a leg may cover part of a strategy).
    Ties in the remainder go to the earlier target, so the split is deterministic.
    """
    total = sum(weights)
    if amount < 0 or total <= 0 or any(w < 0 for w in weights):
        raise ValueError("amount must be >= 0 and weights non-negative with a positive sum")
    shares = [amount * w // total for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in remainders[: amount - sum(shares)]:
        shares[i] += 1
    return shares


def plan_leg(leg: AllocationLeg) -> list[PlannedDeposit]:
    amounts = split_by_weight(leg.amount, [t.weight_bps for t in leg.targets])
    return [PlannedDeposit(key=t.key, amount=a) for t, a in zip(leg.targets, amounts, strict=True) if a > 0]


def legs_from_strategy(
    targets: list[tuple[AdapterKey, str, int]], amounts: dict[tuple[int, str], int]
) -> list[AllocationLeg]:
    """One leg per (chain, token) with an amount to place, weighted by the strategy's targets.

    `targets` are (market, the market's token symbol, weight in bps of the whole floor); a
    leg's weights are relative, so 1200/600 bps of the floor split a leg 2:1.
    """
    legs = []
    for (chain_id, asset), amount in sorted(amounts.items()):
        if amount <= 0:
            continue
        mine = [
            AllocationTarget(key=k, weight_bps=w)
            for k, a, w in targets
            if k.chain_id == chain_id and a == asset and w > 0
        ]
        if not mine:
            raise ValueError(f"the strategy has no target for {asset} on chain {chain_id}")
        legs.append(AllocationLeg(chain_id=chain_id, asset=asset, amount=amount, targets=mine))
    return legs


class DepositOutcome(FrozenModel):
    """Planned against realised for one market: what the position grew by, read from chain."""

    key: AdapterKey
    planned: Amount
    realised: SignedAmount  # position after minus position before, base units (interest included)

    @property
    def shortfall(self) -> int:
        """Base units the market kept (rounding in its favour); negative when it paid more."""
        return self.planned - self.realised


def deposit_outcomes(
    planned: list[PlannedDeposit], before: Sequence[Holding | Position], after: Sequence[Holding | Position]
) -> list[DepositOutcome]:
    """Compare each planned deposit with the change in its position between two reads."""
    amount_before = {p.key: p.amount for p in before}
    amount_after = {p.key: p.amount for p in after}
    return [
        DepositOutcome(key=d.key, planned=d.amount, realised=amount_after[d.key] - amount_before.get(d.key, 0))
        for d in planned
    ]
