"""AllocateWorkflow: put treasury funds held by the executors into markets, by weight.

read positions -> plan (pure) -> per chain: check the executor holds enough, build guarded
calls, pack them into batches (every chain is checked before anything is signed on any
chain) -> send each batch to the signer's transaction queue as one intent and wait for the
outcomes it signals back -> read back. Each deposit's calls (balance guard included) land
whole or not at all. Intent ids derive from this workflow's id, so a re-run with the same id
never sends a batch twice. A chain whose transactions failed while another's were mined
ends the allocation `partial`, naming what moved where and carrying the failed legs as a
request to retry on their own. Between steps the workflow waits while paused.

The plan is one call that knows how the weights are read (`floor/planning/plan.py`). A total
allocation (`AllocateInput.total`, the engine's with `strategy.weights_of = "total"`) plans
with the allocation planner over the whole floor: it reads every target's market on every
chain with the idle balances and the tokens' Chainlink prices (one batch per chain; a stale
or missing price fails the read by name and nothing moves), counts as idle only what the
request names (each capped by what the executor holds), plans (`floor/planning/total.py`:
targets as fractions of the total value, caps, minimum trade) and builds the plan's moves
with `build_moves` (withdrawals before deposits per (chain, token), one atomic batch per
chain as far as the executor's bounds allow). The result carries the plan's notes (cap cuts,
shortfalls, moves below the minimum trade). A per-token allocation (`AllocateInput.legs`)
splits each leg's amount by weight and builds its deposits with `build_deposit_calls`.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.operation import (
    READ_TIMEOUT,
    RETRY,
    OperationBase,
    build_and_send,
    chain_part,
    read_holdings,
    refuse_unless_started_by_engine,
    reports_failure,
    together,
    validated,
)

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.messages import AllocateInput, AllocateResult, Holdings, ReadPositionsInput
    from floor.models import Position
    from floor.operations import StrategyTarget, overall_status, short
    from floor.planning.allocation import deposit_outcomes
    from floor.planning.plan import all_holdings, idle_of, move_outcomes, plan_allocation_moves, with_prices
    from floor.planning.rebalance import Holding


# A FloorError raised by the workflow's own code (a group too large for one batch) fails
# the workflow with its name, instead of retrying the workflow task forever.
@workflow.defn(failure_exception_types=[FloorError])
class AllocateWorkflow(OperationBase):
    async def _read(
        self, input: AllocateInput, prices: bool = False
    ) -> tuple[list[Holdings], list[Holding | Position]]:
        """Every chain's markets of the allocation (the holdings read, and the positions in it).
        Since engine-v2: with what can leave each market and the executor's idle balance of
        each token, one batch per chain (`read_holdings`), so the result can say what stayed
        idle. Before it, positions only (`read_positions`), one chain after another."""
        if input.total is not None:
            read = await read_holdings(input.total.targets, prices=prices)
            return read, all_holdings(read)
        if self.v2:
            read = await read_holdings(
                [StrategyTarget(key=t.key, asset=leg.asset, weight_bps=1) for leg in input.legs for t in leg.targets]
            )
            return read, all_holdings(read)
        reads = [
            workflow.execute_activity(
                "read_positions",
                ReadPositionsInput(
                    chain_id=chain_id,
                    keys=[t.key for leg in input.legs if leg.chain_id == chain_id for t in leg.targets],
                ),
                result_type=list[Position],
                start_to_close_timeout=READ_TIMEOUT,
                retry_policy=RETRY,
                summary=f"read positions on chain {chain_id}",
            )
            for chain_id in sorted({leg.chain_id for leg in input.legs})
        ]
        return [], [p for chain in await together(reads, False) for p in chain]

    @workflow.run
    @reports_failure
    async def run(self, raw: Any = None) -> AllocateResult:
        # Histories recorded before "engine-v2" read positions only, one chain after another;
        # replaying them takes the old path (tests/histories/allocate.json).
        self.v2 = self._engine_v2()
        refuse_unless_started_by_engine()
        input = validated(AllocateInput, raw, "allocation")
        total = input.total is not None  # weights as fractions of the total value: priced
        await self.step("reading positions, balances and prices" if total else "reading positions")
        read, before = await self._read(input, prices=total)
        plan = plan_allocation_moves(input, read)
        if not plan.acts:
            self.stage = "done"
            return await self.finish(
                AllocateResult(
                    status="skipped",
                    summary=f"nothing to move: the plan over {_usd(plan.total_value)} has no move (see the notes)",
                    positions={str(h.key): h.amount for h in before},
                    planned=[],
                    transactions=[],
                    idle=idle_of(read),
                    notes=plan.notes,
                )
            )
        intents, outcomes = await build_and_send(self, plan.legs, "batch", deposits=not total)

        await self.step("reading positions back")
        read_after, after = await self._read(input)
        read_after = with_prices(read_after, read)
        self.stage = "done"
        parts = [chain_part(chain_id, intents, outcomes) for chain_id in sorted({leg.chain_id for leg in plan.legs})]
        status = overall_status(parts)
        if status == "failed":
            raise ApplicationError(
                "; ".join(p.error for p in parts if p.error), type="TransactionFailed", non_retryable=True
            )
        failed = {p.chain_id for p in parts if p.status == "failed"}
        moved = [p.chain_id for p in parts if p.status == "done"]
        transactions = sum(len(p.transactions) for p in parts)
        if total:
            summary = (
                f"allocated by the total value ({_usd(plan.total_value)}) on chains {moved}: {len(plan.moves)} moves "
                f"in {transactions} transactions"
            )
            if plan.notes:
                summary += f"; {len(plan.notes)} notes (in the result's notes)"
        else:
            summary = f"allocated on chains {moved} in {transactions} transactions"
        if failed:
            summary += f"; chains {sorted(failed)} failed: " + "; ".join(p.error for p in parts if p.error)
        # A per-token allocation's failed legs are a request to retry on their own.
        retry = [leg for leg in input.legs if leg.chain_id in failed]
        return await self.finish(
            AllocateResult(
                status=status,
                summary=summary,
                chains=parts,
                positions={str(h.key): h.amount for h in after},
                planned=plan.deposits,
                transactions=[o.transaction for o in outcomes.values() if o.ok and o.transaction],
                outcomes=deposit_outcomes(plan.deposits, before, after),
                retry=AllocateInput(legs=retry) if retry else None,
                idle=idle_of(read_after),
                moves=move_outcomes(plan.moves, before, after) if total else [],
                notes=plan.notes,
            )
        )

    def _engine_v2(self) -> bool:
        return workflow.patched("engine-v2")


def _usd(value: int) -> str:
    return f"${short(value, 8)}"
