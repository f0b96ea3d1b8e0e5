"""RebalanceWorkflow: bring the floor back to the strategy's weights.

read holdings (every chain at once, one Multicall3 batch each) -> plan (pure) -> per leg:
fresh quotes, liquidity and balance checks, guarded calls -> send through the signer's
queue, every chain at once -> read back and compare each move's realised change with its
plan. The engine enforces the cooldown; the threshold is enforced here, on fresh reads.

Two readings of the weights (`RebalanceInput.weights_of`, from `strategy.weights_of`):

- "total": each weight is a fraction of the floor's total value in USD. The holdings read
  carries every strategy token's Chainlink price (same batch, same block), and the allocation
  planner (`floor/risk/planner.py`) plans over everything: every target market, every idle
  balance of the strategy's tokens, the caps and the minimum trade. Drift is the largest
  |market value - its planned target value| in bps of the total T (the target after caps and
  after what its (chain, token) holds, since nothing is bridged or swapped); the rebalance
  acts only when that is above the threshold. The plan's notes (cap cuts, shortfalls, moves
  below the minimum trade, illiquid excess) are the result's notes.
- "token": drift per (chain, token) leg against weights renormalised within it
  (`floor/risk/rebalance.py`); only legs above the threshold move.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.operation import (
    READ_TIMEOUT,
    RETRY,
    OperationBase,
    chain_intents,
    chain_part,
    effects_by_intent,
    reports_failure,
    validated,
)

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.messages import BuildMovesInput, Holdings, ReadHoldingsInput
    from floor.models import Call, Price
    from floor.operations import (
        MoveOutcome,
        PlanCaps,
        RebalanceInput,
        RebalanceResult,
        StrategyTarget,
        overall_status,
    )
    from floor.reconcile import delivery_effect, move_effect
    from floor.risk.planner import (
        ACCOUNTING_DECIMALS,
        AllocationInputs,
        AllocationPlan,
        Caps,
        ChainCap,
        ClusterCap,
        IdleBalance,
        MarketCap,
        ProtocolCap,
        TokenPrice,
        plan_allocation,
    )
    from floor.risk.rebalance import BPS, Holding, Weight, plan_rebalance
    from floor.txqueue import TxIntent


async def read_holdings(targets: list[StrategyTarget], assets: bool = True, prices: bool = False) -> list[Holdings]:
    """Every chain of `targets`, read at once (with the tokens' prices when `prices`)."""
    chains = sorted({t.key.chain_id for t in targets})
    return list(
        await asyncio.gather(
            *(
                workflow.execute_activity(
                    "read_holdings",
                    ReadHoldingsInput(
                        chain_id=c,
                        keys=[t.key for t in targets if t.key.chain_id == c],
                        assets=sorted({t.asset for t in targets if t.key.chain_id == c}) if assets else [],
                        prices=prices,
                    ),
                    result_type=Holdings,
                    start_to_close_timeout=READ_TIMEOUT,
                    retry_policy=RETRY,
                    summary=f"read positions, liquidity and balances on chain {c}",
                )
                for c in chains
            )
        )
    )


def all_holdings(read: list[Holdings]) -> list[Holding]:
    return [h for chain in read for h in chain.holdings]


def weights(targets: list[StrategyTarget]) -> list[Weight]:
    return [Weight(key=t.key, asset=t.asset, weight_bps=t.weight_bps) for t in targets]


# ---------------------------------------------------------------- the total-value planner's inputs


def planner_caps(caps: PlanCaps) -> Caps:
    """The catalogue's caps as the planner takes them."""
    return Caps(
        markets=[MarketCap(key=c.key, max_bps=c.max_bps) for c in caps.markets],
        protocols=[ProtocolCap(protocol=c.protocol, max_bps=c.max_bps) for c in caps.protocols],
        chains=[ChainCap(chain_id=c.chain_id, max_bps=c.max_bps) for c in caps.chains],
        clusters=[ClusterCap(name=c.name, keys=c.keys, max_bps=c.max_bps) for c in caps.clusters],
    )


def accounting_price(price: Price) -> int:
    """A feed's price as accounting units (USD, 8 decimals) per whole token: exact for a feed
    of 8 decimals or fewer (every USD feed), rounded down beyond."""
    if price.decimals <= ACCOUNTING_DECIMALS:
        return price.price * 10 ** (ACCOUNTING_DECIMALS - price.decimals)
    return price.price // 10 ** (price.decimals - ACCOUNTING_DECIMALS)


class PlanRefused(FloorError):
    """The holdings read cannot be planned (e.g. a price that rounds to zero)."""


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
            caps=planner_caps(caps),
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
    legs: dict[tuple[int, str], list] = {}
    for m in plan.moves:
        legs.setdefault((m.key.chain_id, m.asset), []).append(m.as_move())
    return [BuildMovesInput(chain_id=c, asset=a, moves=moves) for (c, a), moves in sorted(legs.items())]


def with_prices(read: list[Holdings], priced: list[Holdings]) -> list[Holdings]:
    """`read` with the prices of `priced` (the same chains, read earlier)."""
    prices = {h.chain_id: h.prices for h in priced}
    return [h.model_copy(update={"prices": prices.get(h.chain_id, {})}) for h in read]


def plan_notes(plan: AllocationPlan) -> list[str]:
    return [f"{n.kind}: {n.text}" for n in plan.notes]


def move_outcomes(plan: AllocationPlan, before: list[Holding], after: list[Holding]) -> list[MoveOutcome]:
    amount_before = {h.key: h.amount for h in before}
    amount_after = {h.key: h.amount for h in after}
    return [
        MoveOutcome(
            key=m.key,
            action=m.action,
            planned=m.amount if m.action == "deposit" else -m.amount,
            realised=amount_after.get(m.key, 0) - amount_before.get(m.key, 0),
        )
        for m in plan.moves
    ]


async def build_and_send(op: OperationBase, legs: list[BuildMovesInput], label: str) -> tuple[list[TxIntent], dict]:
    """Quote, check and build every leg (all at once), pack each chain's groups into batches,
    and send them through the queue. Nothing is sent unless every leg built."""
    chains = sorted({leg.chain_id for leg in legs})
    await op.step(f"quoting, checking liquidity and building calls on chains {chains}")
    built = await asyncio.gather(
        *(
            workflow.execute_activity(
                "build_moves",
                leg,
                result_type=list[list[Call]],
                start_to_close_timeout=READ_TIMEOUT,
                retry_policy=RETRY,
                summary=f"quote and build {len(leg.moves)} {leg.asset} moves on chain {leg.chain_id}",
            )
            for leg in legs
        )
    )
    intents, effects = [], {}
    for chain_id in chains:
        mine = [(leg, gs) for leg, gs in zip(legs, built, strict=True) if leg.chain_id == chain_id]
        groups = [g for _, gs in mine for g in gs]
        moves = [m for leg, _ in mine for m in leg_moves(leg)]
        chain = chain_intents(chain_id, groups, label, moves)
        effects |= effects_by_intent(chain, [e for leg, _ in mine for e in move_effects(leg)])
        intents += chain
    await op.step(f"sending {len(intents)} transactions")
    return intents, await op.send(intents, effects)


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


@workflow.defn(failure_exception_types=[FloorError])
class RebalanceWorkflow(OperationBase):
    @workflow.run
    @reports_failure
    async def run(self, raw: Any = None) -> RebalanceResult:
        input = validated(RebalanceInput, raw, "rebalance")
        if input.weights_of == "total":
            return await self._total(input)
        await self.step("reading positions")
        before = all_holdings(await read_holdings(input.targets))
        plan = plan_rebalance(before, weights(input.targets), input.threshold_bps)
        notes = [f"chain {leg.chain_id} {leg.asset}: {leg.note}" for leg in plan.legs if leg.note]
        if not plan.acts:
            self.stage = "done"
            return await self.finish(
                RebalanceResult(
                    status="skipped",
                    summary=f"largest drift {plan.drift_bps} bps is within the threshold of {input.threshold_bps} bps",
                    threshold_bps=input.threshold_bps,
                    drift_before_bps=plan.drift_bps,
                    projected_drift_bps=plan.drift_bps,
                    drift_after_bps=plan.drift_bps,
                    positions={str(h.key): h.amount for h in before},
                    notes=notes,
                )
            )
        legs = [
            BuildMovesInput(chain_id=leg.chain_id, asset=leg.asset, moves=leg.moves) for leg in plan.legs if leg.moves
        ]
        intents, outcomes = await build_and_send(self, legs, "rebalance")

        await self.step("reading positions back")
        after = all_holdings(await read_holdings(input.targets))
        self.stage = "done"
        parts = [chain_part(c, intents, outcomes) for c in sorted({leg.chain_id for leg in legs})]
        status = overall_status(parts)
        if status == "failed":
            raise ApplicationError(
                "; ".join(p.error for p in parts if p.error), type="TransactionFailed", non_retryable=True
            )
        amount_before = {h.key: h.amount for h in before}
        amount_after = {h.key: h.amount for h in after}
        drift_after = plan_rebalance(after, weights(input.targets), input.threshold_bps).drift_bps
        moves = [
            MoveOutcome(
                key=m.key,
                action=m.action,
                planned=m.amount if m.action == "deposit" else -m.amount,
                realised=amount_after[m.key] - amount_before[m.key],
            )
            for m in plan.moves
        ]
        summary = (
            f"moved {len(plan.moves)} positions in {sum(len(p.transactions) for p in parts)} transactions: "
            f"largest drift {plan.drift_bps} -> {drift_after} bps (threshold {input.threshold_bps})"
        )
        if status == "partial":
            summary += "; failed: " + "; ".join(p.error for p in parts if p.error)
        return await self.finish(
            RebalanceResult(
                status=status,
                summary=summary,
                chains=parts,
                positions={str(h.key): h.amount for h in after},
                threshold_bps=input.threshold_bps,
                drift_before_bps=plan.drift_bps,
                projected_drift_bps=max((leg.projected_drift_bps for leg in plan.legs), default=0),
                drift_after_bps=drift_after,
                moves=moves,
                notes=notes,
            )
        )

    async def _total(self, input: RebalanceInput) -> RebalanceResult:
        """Weights as fractions of the floor's total value: see the module."""
        await self.step("reading positions, balances and prices")
        read = await read_holdings(input.targets, prices=True)
        plan = self._plan(read, input)
        before = all_holdings(read)
        drift = total_drift_bps(plan)
        notes = plan_notes(plan)
        if drift <= input.threshold_bps or not plan.acts:
            why = (
                f"within the threshold of {input.threshold_bps} bps"
                if drift <= input.threshold_bps
                else f"above the threshold of {input.threshold_bps} bps, but the plan moves nothing (see the notes)"
            )
            self.stage = "done"
            return await self.finish(
                RebalanceResult(
                    status="skipped",
                    summary=f"largest drift {drift} bps of the total value is {why}",
                    threshold_bps=input.threshold_bps,
                    drift_before_bps=drift,
                    projected_drift_bps=drift,
                    drift_after_bps=drift,
                    positions={str(h.key): h.amount for h in before},
                    notes=notes,
                )
            )
        legs = plan_move_legs(plan)
        intents, outcomes = await build_and_send(self, legs, "rebalance")

        await self.step("reading positions back")
        # Read back without prices (a feed going stale now must not fail a rebalance that moved);
        # the drift after is measured at the prices the plan used.
        read_after = with_prices(await read_holdings(input.targets), read)
        after = all_holdings(read_after)
        self.stage = "done"
        parts = [chain_part(c, intents, outcomes) for c in sorted({leg.chain_id for leg in legs})]
        status = overall_status(parts)
        if status == "failed":
            raise ApplicationError(
                "; ".join(p.error for p in parts if p.error), type="TransactionFailed", non_retryable=True
            )
        drift_after = total_drift_bps(self._plan(read_after, input))
        summary = (
            f"moved {len(plan.moves)} positions in {sum(len(p.transactions) for p in parts)} transactions: "
            f"largest drift {drift} -> {drift_after} bps of the total value (threshold {input.threshold_bps})"
        )
        if status == "partial":
            summary += "; failed: " + "; ".join(p.error for p in parts if p.error)
        return await self.finish(
            RebalanceResult(
                status=status,
                summary=summary,
                chains=parts,
                positions={str(h.key): h.amount for h in after},
                threshold_bps=input.threshold_bps,
                drift_before_bps=drift,
                projected_drift_bps=total_drift_bps(plan, after_moves=True),
                drift_after_bps=drift_after,
                moves=move_outcomes(plan, before, after),
                notes=notes,
            )
        )

    @staticmethod
    def _plan(read: list[Holdings], input: RebalanceInput) -> AllocationPlan:
        """Everything idle of the strategy's tokens counts, and may be deployed."""
        idle = {(h.chain_id, asset): amount for h in read for asset, amount in h.idle.items()}
        return total_plan(read, input.targets, idle, input.caps, input.min_trade_value)
