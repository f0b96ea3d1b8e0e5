"""Capital request planning, pure: where an amount comes from, cheapest first.

Idle funds in the executor cost nothing; then instant exits (a lending withdrawal, a vault
redemption), taken first from the markets furthest above their strategy weight so what
stays behind is as close to the strategy as it can be; then queued exits (a staking
withdrawal queue), shortest wait first. A plan that cannot cover the amount says by how
much, and is not started.

Only a queue whose payout the executor itself can claim later counts (`CLAIMABLE_QUEUES`:
Lido's WithdrawalQueueERC721). Native ETH's EIP-7002 exits are queued too, but the beacon
chain's sweep pays them without a claim the engine can follow to a delivery, so a capital
request leaves them out: their stake counts as neither available nor planned.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Literal

from floor.errors import BadInput
from floor.messages import BuildMovesInput, Delivery
from floor.models import AdapterKey, Amount, FrozenModel
from floor.operations import CapitalRequest, ExitPart, PlannedPart
from floor.planning.allocation import split_by_weight
from floor.planning.rebalance import Holding, Move, Weight
from floor.reconcile import delivery_effect, move_effect

# Protocols whose queued exit a capital request can follow to its claim and delivery.
CLAIMABLE_QUEUES = frozenset({"lido"})


class QueuedExitUnsupported(BadInput):
    """A queued exit the capital request cannot claim and deliver (refused before sending)."""


class CapitalPart(FrozenModel):
    kind: Literal["idle", "instant", "queued"]
    key: AdapterKey | None = None  # the market it leaves (None: idle funds)
    amount: Amount
    wait_s: int = 0  # expected time until the part can be delivered


class CapitalPlan(FrozenModel):
    amount: Amount
    parts: list[CapitalPart]
    shortfall: Amount  # what neither idle funds nor any exit can cover

    @property
    def wait_s(self) -> int:
        return max((p.wait_s for p in self.parts), default=0)


def plan_capital(
    amount: int,
    idle: int,
    holdings: list[Holding],
    weights: list[Weight],
    claimable: Collection[str] | None = None,
) -> CapitalPlan:
    """Cover `amount` from `idle`, then `holdings` (one chain's markets of the requested token).
    `claimable`: the protocols whose queued exits may be planned (None: every queued market)."""
    parts: list[CapitalPart] = []
    remaining = amount
    if idle > 0 and remaining > 0:
        take = min(idle, remaining)
        parts.append(CapitalPart(kind="idle", amount=take))
        remaining -= take
    weight_of = {w.key: w.weight_bps for w in weights}
    instant = [h for h in holdings if h.exit == "instant" and h.withdrawable > 0]
    if instant and remaining > 0:
        total = sum(h.amount for h in holdings)
        left = max(total - remaining, 0)
        ws = [weight_of.get(h.key, 0) for h in instant]
        goals = split_by_weight(left, ws) if sum(ws) > 0 else [0] * len(instant)
        # Furthest above its goal first; ties by key, so the plan is deterministic.
        order = sorted(range(len(instant)), key=lambda i: (-(instant[i].amount - goals[i]), str(instant[i].key)))
        for i in order:
            if remaining == 0:
                break
            take = min(instant[i].withdrawable, remaining)
            parts.append(CapitalPart(kind="instant", key=instant[i].key, amount=take))
            remaining -= take
    queued = [h for h in holdings if h.exit == "queued" and (claimable is None or h.key.protocol in claimable)]
    for h in sorted(queued, key=lambda h: (h.exit_wait_s, str(h.key))):
        if remaining == 0:
            break
        take = min(h.amount, remaining)
        if take > 0:
            parts.append(CapitalPart(kind="queued", key=h.key, amount=take, wait_s=h.exit_wait_s))
            remaining -= take
    return CapitalPlan(amount=amount, parts=parts, shortfall=remaining)


def planned_parts(plan: CapitalPlan, now: datetime) -> list[PlannedPart]:
    """The plan's parts as the result names them: each with when it is expected to arrive."""
    return [
        PlannedPart(
            kind=p.kind,
            market=str(p.key) if p.key else "",
            amount=p.amount,
            expected_at=now + timedelta(seconds=p.wait_s),
        )
        for p in plan.parts
    ]


def delivery_leg(request: CapitalRequest, plan: CapitalPlan) -> BuildMovesInput:
    """A plan without queued parts as one build_moves leg: its instant withdrawals, then the
    transfer of the whole amount to the destination."""
    return BuildMovesInput(
        chain_id=request.chain_id,
        asset=request.asset,
        moves=[Move(key=p.key, asset=request.asset, action="withdraw", amount=p.amount) for p in plan.parts if p.key],
        deliver=Delivery(destination=request.destination, amount=request.amount),
    )


def exit_parts(plan: CapitalPlan) -> list[ExitPart]:
    """The exit batch's parts: every part that leaves a market, instant or queued."""
    return [ExitPart(key=p.key, amount=p.amount, queued=p.kind == "queued") for p in plan.parts if p.key]


def exit_effects(request: CapitalRequest, parts: list[ExitPart], deliver: int) -> list[dict[str, int]]:
    """Each group's planned change of the exit batch: a queued part becomes a request in the
    queue, not idle funds; an instant one lands idle; the transfer (when `deliver`) leaves it."""
    chain_id, asset = request.chain_id, request.asset
    effects = [
        {str(p.key): -p.amount} if p.queued else move_effect(chain_id, asset, str(p.key), -p.amount) for p in parts
    ]
    return effects + ([delivery_effect(chain_id, asset, request.destination, deliver)] if deliver else [])


def claim_workflow_id(me: str, parent_id: str | None) -> str:
    """The claim phase's workflow id: `<engine>/capital-claim-<n>` for the engine's operation
    `<engine>/request-capital-<n>`; `<workflow id>/claim` for a capital request started on its own."""
    if parent_id is not None and me.startswith(f"{parent_id}/request-capital-"):
        return f"{parent_id}/capital-claim-{me.rsplit('-', 1)[1]}"
    return f"{me}/claim"
