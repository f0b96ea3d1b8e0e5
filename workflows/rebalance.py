"""RebalanceWorkflow: bring every (chain, token) leg back to the strategy's weights.

read holdings (every chain at once, one Multicall3 batch each) -> plan (pure: drift against
the weights; only legs above the threshold move, withdrawals before deposits) -> per leg:
fresh quotes, liquidity and balance checks, guarded calls -> send through the signer's
queue, every chain at once -> read back and compare each move's realised change with its
plan. The engine enforces the cooldown; the threshold is enforced here, on fresh reads.
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
    validated,
)

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.messages import BuildMovesInput, Holdings, ReadHoldingsInput
    from floor.models import Call
    from floor.operations import MoveOutcome, RebalanceInput, RebalanceResult, StrategyTarget, overall_status
    from floor.risk.rebalance import Holding, Weight, plan_rebalance
    from floor.txqueue import TxIntent


async def read_holdings(targets: list[StrategyTarget], assets: bool = True) -> list[Holdings]:
    """Every chain of `targets`, read at once."""
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
    """Each group's planned change per market, in build_moves' order: the moves (withdrawals
    first, as planned), then the delivery, which changes no market."""
    out = [{str(m.key): m.amount if m.action == "deposit" else -m.amount} for m in leg.moves]
    return out + ([{}] if leg.deliver else [])


@workflow.defn(failure_exception_types=[FloorError])
class RebalanceWorkflow(OperationBase):
    @workflow.run
    async def run(self, raw: Any) -> RebalanceResult:
        input = validated(RebalanceInput, raw, "rebalance")
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
