"""One planning call per operation that moves funds between markets, whichever way the
strategy's weights are read (`strategy.weights_of`):

- "token": each (chain, token) leg's weights renormalised within it: drift and moves per leg
  (`floor/planning/rebalance.py`), an amount split by weight (`floor/planning/allocation.py`);
  a rebalance moves only the legs above the threshold.
- "total": each weight a fraction of the floor's total value in USD, priced by the Chainlink
  feeds read with the holdings (same batch, same block): the allocation planner
  (`floor/planning/total.py`) over every target market, the idle balances that count, the
  caps and the minimum trade. Drift is the largest |market value - its planned target value|
  in bps of the total T (the target after the caps and after what its (chain, token) holds,
  since nothing is bridged or swapped); a rebalance acts only when it is above the threshold.
  The plan's notes (cap cuts, shortfalls, moves below the minimum trade, illiquid excess) are
  the result's notes.

Either way the operation gets a `MovePlan` (the drift before and as projected, the moves as
`build_moves` legs, the notes), so its workflow has one body: read, plan, build and send,
read back. Also here: what the reads hold for the planners, and what a leg's groups move and
change (what an intent is worth, the journal's planned effects).
"""

from __future__ import annotations

from typing import Literal

from floor.errors import FloorError
from floor.messages import AllocateInput, BuildMovesInput, Holdings, TotalAllocation
from floor.models import FrozenModel, Price, units
from floor.operations import AssetAmount, Catalogue, MoveOutcome, RebalanceInput, StrategyTarget
from floor.planning.allocation import PlannedDeposit, legs_from_strategy, plan_leg
from floor.planning.caps import PlanCaps
from floor.planning.rebalance import BPS, Holding, Move, Weight, plan_rebalance
from floor.planning.total import (
    ACCOUNTING_DECIMALS,
    AllocationInputs,
    AllocationPlan,
    IdleBalance,
    TokenPrice,
    plan_allocation,
)
from floor.reconcile import delivery_effect, move_effect


class PlanRefused(FloorError):
    """The holdings read cannot be planned (e.g. a price that rounds to zero)."""


class MovePlan(FrozenModel):
    """What an operation moves, planned by either reading of the weights."""

    weights_of: Literal["total", "token"]
    legs: list[BuildMovesInput] = []  # one per (chain, token), withdrawals first
    notes: list[str] = []
    drift_bps: int = 0  # a rebalance's largest drift before the moves
    projected_drift_bps: int = 0  # ... and after them, if they land as planned
    total_value: int = 0  # "total": the floor's value T in accounting units
    deposits: list[PlannedDeposit] = []  # an allocation's deposits, as its result names them

    @property
    def moves(self) -> list[Move]:
        return [m for leg in self.legs for m in leg.moves]

    @property
    def acts(self) -> bool:
        return bool(self.legs)

    @property
    def drift_of(self) -> str:
        """What the drift is in bps of, for summaries ("" for a leg's own total)."""
        return " of the total value" if self.weights_of == "total" else ""


# ---------------------------------------------------------------------------- the operations' plans


def plan_rebalance_moves(input: RebalanceInput, read: list[Holdings]) -> MovePlan:
    """The rebalance's drift and moves over `read` (with prices when the weights are of the
    total); a plan within the threshold moves nothing."""
    if input.weights_of == "token":
        plan = plan_rebalance(all_holdings(read), weights(input.targets), input.threshold_bps)
        return MovePlan(
            weights_of="token",
            legs=[
                BuildMovesInput(chain_id=leg.chain_id, asset=leg.asset, moves=leg.moves)
                for leg in plan.legs
                if leg.moves
            ],
            notes=[f"chain {leg.chain_id} {leg.asset}: {leg.note}" for leg in plan.legs if leg.note],
            drift_bps=plan.drift_bps,
            projected_drift_bps=max((leg.projected_drift_bps for leg in plan.legs), default=0),
        )
    # Everything idle of the strategy's tokens counts, and may be deployed.
    idle = {(h.chain_id, asset): amount for h in read for asset, amount in h.idle.items()}
    total = total_plan(read, input.targets, idle, input.caps, input.min_trade_value)
    drift = total_drift_bps(total)
    return MovePlan(
        weights_of="total",
        legs=plan_move_legs(total) if drift > input.threshold_bps else [],
        notes=plan_notes(total),
        drift_bps=drift,
        projected_drift_bps=total_drift_bps(total, after_moves=True),
        total_value=total.total_value,
    )


def plan_allocation_moves(input: AllocateInput, read: list[Holdings]) -> MovePlan:
    """The allocation's moves: each leg's amount split by weight (deposits only, legs in chain
    order), or the planner over the total value read, counting as idle only what the request
    names, each capped by what the executor holds (`read`'s idle balances)."""
    if input.total is None:
        planned = {(leg.chain_id, leg.asset): plan_leg(leg) for leg in input.legs}
        chains = sorted({leg.chain_id for leg in input.legs})
        return MovePlan(
            weights_of="token",
            legs=[
                BuildMovesInput(
                    chain_id=leg.chain_id,
                    asset=leg.asset,
                    moves=[
                        Move(key=d.key, asset=leg.asset, action="deposit", amount=d.amount)
                        for d in planned[(leg.chain_id, leg.asset)]
                    ],
                )
                for chain_id in chains
                for leg in input.legs
                if leg.chain_id == chain_id
            ],
            deposits=[d for deposits in planned.values() for d in deposits],
        )
    total = input.total
    held = {(h.chain_id, asset): amount for h in read for asset, amount in h.idle.items()}
    idle = {(a.chain_id, a.asset): min(a.amount, held.get((a.chain_id, a.asset), 0)) for a in total.amounts}
    plan = total_plan(read, total.targets, idle, total.caps, total.min_trade_value)
    decimals = {(h.key.chain_id, h.asset): h.decimals for h in all_holdings(read)}

    def amount(a: AssetAmount, n: int) -> str:
        return units(n, decimals.get((a.chain_id, a.asset)), a.asset)

    notes = [
        f"request: {a.asset} on chain {a.chain_id}: the request names {amount(a, a.amount)}, the executor holds "
        f"{amount(a, held.get((a.chain_id, a.asset), 0))}: allocating {amount(a, idle[(a.chain_id, a.asset)])}"
        for a in total.amounts
        if idle[(a.chain_id, a.asset)] < a.amount
    ]
    return MovePlan(
        weights_of="total",
        legs=plan_move_legs(plan),
        notes=notes + plan_notes(plan),
        total_value=plan.total_value,
        deposits=[PlannedDeposit(key=m.key, amount=m.amount) for m in plan.moves if m.action == "deposit"],
    )


def allocate_input(catalogue: Catalogue, amounts: list[AssetAmount], targets: list[StrategyTarget]) -> AllocateInput:
    """The engine's allocation for a request: planned over the total value (with the
    catalogue's caps and minimum trade), or per (chain, token) leg."""
    if catalogue.weights_of == "total":
        return AllocateInput(
            total=TotalAllocation(
                amounts=amounts, targets=targets, caps=catalogue.caps, min_trade_value=catalogue.min_trade_value
            )
        )
    by_leg = {(a.chain_id, a.asset): a.amount for a in amounts}
    return AllocateInput(legs=legs_from_strategy([(t.key, t.asset, t.weight_bps) for t in targets], by_leg))


# ---------------------------------------------------------------------------- reads and outcomes


def all_holdings(read: list[Holdings]) -> list[Holding]:
    return [h for chain in read for h in chain.holdings]


def idle_of(read: list[Holdings]) -> dict[str, int]:
    """The executor's idle balances read, as results name them: "<chain>:<token>" -> amount."""
    return {f"{h.chain_id}:{asset}": amount for h in read for asset, amount in h.idle.items()}


def weights(targets: list[StrategyTarget]) -> list[Weight]:
    return [Weight(key=t.key, asset=t.asset, weight_bps=t.weight_bps) for t in targets]


def with_prices(read: list[Holdings], priced: list[Holdings]) -> list[Holdings]:
    """`read` with the prices of `priced` (the same chains, read earlier)."""
    prices = {h.chain_id: h.prices for h in priced}
    return [h.model_copy(update={"prices": prices.get(h.chain_id, {})}) for h in read]


def move_outcomes(moves: list[Move], before: list[Holding], after: list[Holding]) -> list[MoveOutcome]:
    """Each planned move against the change of its position between the reads."""
    amount_before = {h.key: h.amount for h in before}
    amount_after = {h.key: h.amount for h in after}
    return [
        MoveOutcome(
            key=m.key,
            action=m.action,
            planned=m.amount if m.action == "deposit" else -m.amount,
            realised=amount_after.get(m.key, 0) - amount_before.get(m.key, 0),
        )
        for m in moves
    ]


# ---------------------------------------------------------------------------- the total-value planner's inputs


def accounting_price(price: Price) -> int:
    """A feed's price as accounting units (USD, 8 decimals) per whole token: exact for a feed
    of 8 decimals or fewer (every USD feed), rounded down beyond."""
    if price.decimals <= ACCOUNTING_DECIMALS:
        return price.price * int(10 ** (ACCOUNTING_DECIMALS - price.decimals))
    return price.price // int(10 ** (price.decimals - ACCOUNTING_DECIMALS))


def total_plan(
    read: list[Holdings],
    targets: list[StrategyTarget],
    idle: dict[tuple[int, str], int],
    caps: PlanCaps,
    min_trade_value: int,
) -> AllocationPlan:
    """The allocation planner over what was read: every market, the given idle balances (per
    (chain, token); only tokens with a market read), the prices read with them, the targets,
    caps and minimum trade. Inputs it refuses raise PlanRefused, naming why."""
    holdings = all_holdings(read)
    decimals = {(h.key.chain_id, h.asset): h.decimals for h in holdings}
    try:
        inputs = AllocationInputs(
            holdings=holdings,
            idle=[
                IdleBalance(chain_id=c, asset=a, decimals=decimals[(c, a)], amount=n)
                for (c, a), n in sorted(idle.items())
                if (c, a) in decimals
            ],
            prices=[
                TokenPrice(chain_id=h.chain_id, asset=symbol, price=accounting_price(p))
                for h in read
                for symbol, p in sorted(h.prices.items())
            ],
            targets=targets,
            caps=caps,
            min_trade_value=min_trade_value,
        )
        return plan_allocation(inputs)
    except ValueError as exc:
        raise PlanRefused(f"the floor's holdings cannot be planned: {exc}") from None


def total_drift_bps(plan: AllocationPlan, after_moves: bool = False) -> int:
    """The largest |a market's value - its target value| in bps of the total T (0 for an
    empty floor); the target is the planner's, after the caps and what its leg holds. With
    `after_moves`: the values the plan's moves would leave."""
    if plan.total_value <= 0:
        return 0
    return max(
        (
            abs((m.planned_value if after_moves else m.current_value) - m.target_value) * BPS // plan.total_value
            for m in plan.markets
        ),
        default=0,
    )


def plan_move_legs(plan: AllocationPlan) -> list[BuildMovesInput]:
    """The plan's moves as build_moves legs, one per (chain, token), withdrawals first."""
    legs: dict[tuple[int, str], list[Move]] = {}
    for m in plan.moves:
        legs.setdefault((m.key.chain_id, m.asset), []).append(m.as_move())
    return [BuildMovesInput(chain_id=c, asset=a, moves=moves) for (c, a), moves in sorted(legs.items())]


def plan_notes(plan: AllocationPlan) -> list[str]:
    return [f"{n.kind}: {n.text}" for n in plan.notes]


# ---------------------------------------------------------------------------- what a leg's groups do


def leg_moves(leg: BuildMovesInput) -> list[tuple[str, int]]:
    """What each group moves, in build_moves' order: the moves, then the delivery."""
    out = [(leg.asset, m.amount) for m in leg.moves]
    return out + ([(leg.asset, leg.deliver.amount)] if leg.deliver else [])


def move_effects(leg: BuildMovesInput) -> list[dict[str, int]]:
    """Each group's planned change per market and of the executor's idle balance, in
    build_moves' order: the moves (withdrawals first, as planned), then the delivery, which
    changes no market: idle funds leave for the destination."""
    out = [
        move_effect(leg.chain_id, leg.asset, str(m.key), m.amount if m.action == "deposit" else -m.amount)
        for m in leg.moves
    ]
    deliver = leg.deliver
    return out + ([delivery_effect(leg.chain_id, leg.asset, deliver.destination, deliver.amount)] if deliver else [])
