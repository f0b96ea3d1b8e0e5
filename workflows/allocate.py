"""AllocateWorkflow: put treasury funds held by the executors into markets, by weight.

read positions -> plan (pure) -> per chain: check the executor holds enough, build guarded
calls, pack them into batches (every chain is checked before anything is signed on any
chain) -> send each batch to the signer's transaction queue as one intent and wait for the
outcomes it signals back -> read back. Each deposit's calls (balance guard included) land
whole or not at all. Intent ids derive from this workflow's id, so a re-run with the same id
never sends a batch twice. A chain whose transactions failed while another's were mined
ends the allocation `partial`, naming what moved where and carrying the failed legs as a
request to retry on their own. Between steps the workflow waits while paused.

A total allocation (`AllocateInput.total`, the engine's with `strategy.weights_of = "total"`)
plans instead with the allocation planner over the whole floor: it reads every target's
market on every chain with the idle balances and the tokens' Chainlink prices (one batch
per chain; a stale or missing price fails the read by name and nothing moves), counts as
idle only what the request names (each capped by what the executor holds), plans
(`floor/risk/planner.py`: targets as fractions of the total value, caps, minimum trade) and
sends the plan's moves through the rebalance's path (`build_and_send`: withdrawals before
deposits per (chain, token), one atomic batch per chain as far as the executor's bounds allow).
The result carries the plan's notes (cap cuts, shortfalls, moves below the minimum trade).
"""

from __future__ import annotations

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
    together,
    validated,
)
from workflows.rebalance import (
    all_holdings,
    build_and_send,
    move_outcomes,
    plan_move_legs,
    plan_notes,
    read_holdings,
    total_plan,
    with_prices,
)

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.messages import AllocateInput, AllocateResult, BuildDepositsInput, ReadPositionsInput
    from floor.models import Call, Position
    from floor.operations import StrategyTarget, overall_status, short, units
    from floor.reconcile import move_effect
    from floor.risk.allocation import PlannedDeposit, deposit_outcomes, plan_leg
    from floor.risk.rebalance import Holding
    from floor.txqueue import TxIntent


# A FloorError raised by the workflow's own code (a group too large for one batch) fails
# the workflow with its name, instead of retrying the workflow task forever.
@workflow.defn(failure_exception_types=[FloorError])
class AllocateWorkflow(OperationBase):
    async def _read_positions(self, input: AllocateInput) -> list[Position] | list[Holding]:
        """Every chain's positions of the allocation's markets. Since engine-v2: with what can
        leave each market and the executor's idle balance of each token, one batch per chain
        (`read_holdings`), so the result can say what stayed idle."""
        if self.v2:
            read = await read_holdings(
                [StrategyTarget(key=t.key, asset=leg.asset, weight_bps=1) for leg in input.legs for t in leg.targets]
            )
            self.idle = {f"{h.chain_id}:{asset}": amount for h in read for asset, amount in h.idle.items()}
            return all_holdings(read)
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
            for chain_id in _chains(input)
        ]
        return [p for chain in await together(reads, False) for p in chain]

    @workflow.run
    @reports_failure
    async def run(self, raw: Any = None) -> AllocateResult:
        # Histories recorded before "engine-v2" read positions only, one chain after another;
        # replaying them takes the old path (tests/histories/allocate.json).
        self.v2 = self._engine_v2()
        self.idle: dict[str, int] = {}
        input = validated(AllocateInput, raw, "allocation")
        if input.total is not None:
            return await self._total(input)
        await self.step("reading positions")
        before = await self._read_positions(input)

        planned = {(leg.chain_id, leg.asset): plan_leg(leg) for leg in input.legs}
        await self.step(f"checking balances and building calls on chains {_chains(input)}")
        builds = [
            workflow.execute_activity(
                "build_deposit_calls",
                BuildDepositsInput(chain_id=leg.chain_id, asset=leg.asset, deposits=planned[(leg.chain_id, leg.asset)]),
                result_type=list[list[Call]],
                start_to_close_timeout=READ_TIMEOUT,
                retry_policy=RETRY,
                summary=f"quote and build {leg.asset} deposits on chain {leg.chain_id}",
            )
            for chain_id in _chains(input)
            for leg in input.legs
            if leg.chain_id == chain_id
        ]
        built = await together(builds, self.v2)
        legs_in_order = [leg for chain_id in _chains(input) for leg in input.legs if leg.chain_id == chain_id]
        intents: list[TxIntent] = []
        effects: dict[str, dict[str, int]] = {}
        for chain_id in _chains(input):
            legs = [(leg, gs) for leg, gs in zip(legs_in_order, built, strict=True) if leg.chain_id == chain_id]
            groups = [g for _, gs in legs for g in gs]
            deposits = [
                move_effect(chain_id, leg.asset, str(d.key), d.amount)
                for leg, _ in legs
                for d in planned[(leg.chain_id, leg.asset)]
            ]
            moves = [(leg.asset, d.amount) for leg, _ in legs for d in planned[(leg.chain_id, leg.asset)]]
            chain = chain_intents(chain_id, groups, "batch", moves)
            effects |= effects_by_intent(chain, deposits)
            intents += chain
        await self.step(f"sending {len(intents)} transactions")
        outcomes = await self.send(intents, effects)

        await self.step("reading positions back")
        after = await self._read_positions(input)
        self.stage = "done"
        parts = [chain_part(chain_id, intents, outcomes) for chain_id in _chains(input)]
        status = overall_status(parts)
        if status == "failed":
            raise ApplicationError(
                "; ".join(p.error for p in parts if p.error), type="TransactionFailed", non_retryable=True
            )
        failed = {p.chain_id for p in parts if p.status == "failed"}
        deposits = [d for leg_deposits in planned.values() for d in leg_deposits]
        moved = [p.chain_id for p in parts if p.status == "done"]
        summary = f"allocated on chains {moved} in {sum(len(p.transactions) for p in parts)} transactions"
        if failed:
            summary += f"; chains {sorted(failed)} failed: " + "; ".join(p.error for p in parts if p.error)
        return await self.finish(
            AllocateResult(
                status=status,
                summary=summary,
                chains=parts,
                positions={str(p.key): p.amount for p in after},
                planned=deposits,
                transactions=[o.transaction for o in outcomes.values() if o.ok and o.transaction],
                outcomes=deposit_outcomes(deposits, before, after),
                retry=AllocateInput(legs=[leg for leg in input.legs if leg.chain_id in failed]) if failed else None,
                idle=self.idle,
            )
        )

    def _engine_v2(self) -> bool:
        return workflow.patched("engine-v2")

    async def _total(self, input: AllocateInput) -> AllocateResult:
        total = input.total
        await self.step("reading positions, balances and prices")
        read = await read_holdings(total.targets, prices=True)
        held = {(h.chain_id, asset): amount for h in read for asset, amount in h.idle.items()}
        idle = {(a.chain_id, a.asset): min(a.amount, held.get((a.chain_id, a.asset), 0)) for a in total.amounts}
        plan = total_plan(read, total.targets, idle, total.caps, total.min_trade_value)
        decimals = {(h.key.chain_id, h.asset): h.decimals for h in all_holdings(read)}

        def amount(a, n: int) -> str:
            return units(n, decimals.get((a.chain_id, a.asset)), a.asset)

        notes = [
            f"request: {a.asset} on chain {a.chain_id}: the request names {amount(a, a.amount)}, the executor holds "
            f"{amount(a, held.get((a.chain_id, a.asset), 0))}: allocating {amount(a, idle[(a.chain_id, a.asset)])}"
            for a in total.amounts
            if idle[(a.chain_id, a.asset)] < a.amount
        ] + plan_notes(plan)
        before = all_holdings(read)
        deposits = [PlannedDeposit(key=m.key, amount=m.amount) for m in plan.moves if m.action == "deposit"]
        if not plan.acts:
            self.stage = "done"
            return await self.finish(
                AllocateResult(
                    status="skipped",
                    summary=f"nothing to move: the plan over {_usd(plan.total_value)} has no move (see the notes)",
                    positions={str(h.key): h.amount for h in before},
                    planned=[],
                    transactions=[],
                    idle={f"{c}:{a}": n for (c, a), n in sorted(held.items())},
                    notes=notes,
                )
            )
        legs = plan_move_legs(plan)
        intents, outcomes = await build_and_send(self, legs, "batch")

        await self.step("reading positions back")
        read_after = with_prices(await read_holdings(total.targets), read)
        after = all_holdings(read_after)
        self.stage = "done"
        chains = sorted({leg.chain_id for leg in legs})
        parts = [chain_part(chain_id, intents, outcomes) for chain_id in chains]
        status = overall_status(parts)
        if status == "failed":
            raise ApplicationError(
                "; ".join(p.error for p in parts if p.error), type="TransactionFailed", non_retryable=True
            )
        failed = {p.chain_id for p in parts if p.status == "failed"}
        moved = [p.chain_id for p in parts if p.status == "done"]
        summary = (
            f"allocated by the total value ({_usd(plan.total_value)}) on chains {moved}: {len(plan.moves)} moves in "
            f"{sum(len(p.transactions) for p in parts)} transactions"
        )
        if notes:
            summary += f"; {len(notes)} notes (in the result's notes)"
        if failed:
            summary += f"; chains {sorted(failed)} failed: " + "; ".join(p.error for p in parts if p.error)
        return await self.finish(
            AllocateResult(
                status=status,
                summary=summary,
                chains=parts,
                positions={str(h.key): h.amount for h in after},
                planned=deposits,
                transactions=[o.transaction for o in outcomes.values() if o.ok and o.transaction],
                outcomes=deposit_outcomes(deposits, before, after),
                idle={f"{h.chain_id}:{asset}": amount for h in read_after for asset, amount in h.idle.items()},
                moves=move_outcomes(plan, before, after),
                notes=notes,
            )
        )


def _usd(value: int) -> str:
    return f"${short(value, 8)}"


def _chains(input: AllocateInput) -> list[int]:
    return sorted({leg.chain_id for leg in input.legs})
