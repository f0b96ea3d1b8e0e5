"""RebalanceWorkflow: bring the floor back to the strategy's weights.

read holdings (every chain at once, one Multicall3 batch each; with the tokens' Chainlink
prices when the weights are fractions of the total value) -> plan (pure, one call that knows
how the weights are read: `floor/planning/plan.py`) -> per leg: fresh quotes, liquidity and
balance checks, guarded calls -> send through the signer's queue, every chain at once -> read
back and compare each move's realised change with its plan. The engine enforces the cooldown;
the threshold is enforced by the plan, on fresh reads.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.operation import (
    OperationBase,
    build_and_send,
    chain_part,
    read_chain,
    read_holdings,
    refuse_unless_started_by_engine,
    reports_failure,
    validated,
)

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.operations import RebalanceInput, RebalanceResult, overall_status
    from floor.planning.plan import all_holdings, move_outcomes, plan_rebalance_moves, with_prices


@workflow.defn(failure_exception_types=[FloorError])
class RebalanceWorkflow(OperationBase):
    @workflow.run
    @reports_failure
    async def run(self, raw: Any = None) -> RebalanceResult:
        refuse_unless_started_by_engine()
        input = validated(RebalanceInput, raw, "rebalance")
        prices = input.weights_of == "total"  # the total's planner values every token
        await self.step("reading positions, balances and prices" if prices else "reading positions")
        read = await read_holdings(input.targets, prices=prices)
        plan = plan_rebalance_moves(input, read)
        before = all_holdings(read)
        if not plan.acts:
            why = (
                f"within the threshold of {input.threshold_bps} bps"
                if plan.drift_bps <= input.threshold_bps
                else f"above the threshold of {input.threshold_bps} bps, but the plan moves nothing (see the notes)"
            )
            self.stage = "done"
            return await self.finish(
                RebalanceResult(
                    status="skipped",
                    summary=f"largest drift {plan.drift_bps} bps{plan.drift_of} is {why}",
                    threshold_bps=input.threshold_bps,
                    drift_before_bps=plan.drift_bps,
                    projected_drift_bps=plan.drift_bps,
                    drift_after_bps=plan.drift_bps,
                    positions={str(h.key): h.amount for h in before},
                    notes=plan.notes,
                )
            )
        intents, outcomes = await build_and_send(
            self,
            plan.legs,
            "rebalance",
            read_back_next=True,
            read_chain=lambda chain_id: read_chain(input.targets, chain_id),
        )

        await self.step("reading positions back")
        # Read back without prices (a feed going stale now must not fail a rebalance that moved);
        # the drift after is measured at the prices the plan used. A chain is read back once
        # its own transactions have outcomes, while another chain's are still being mined.
        read_after = with_prices(await self.read_back(self.read_chains_back(input.targets)), read)
        after = all_holdings(read_after)
        self.stage = "done"
        parts = [chain_part(c, intents, outcomes) for c in sorted({leg.chain_id for leg in plan.legs})]
        status = overall_status(parts)
        if status == "failed":
            raise ApplicationError(
                "; ".join(p.error for p in parts if p.error), type="TransactionFailed", non_retryable=True
            )
        drift_after = plan_rebalance_moves(input, read_after).drift_bps
        summary = (
            f"moved {len(plan.moves)} positions in {sum(len(p.transactions) for p in parts)} transactions: "
            f"largest drift {plan.drift_bps} -> {drift_after} bps{plan.drift_of} (threshold {input.threshold_bps})"
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
                projected_drift_bps=plan.projected_drift_bps,
                drift_after_bps=drift_after,
                moves=move_outcomes(plan.moves, before, after),
                notes=plan.notes,
            )
        )
