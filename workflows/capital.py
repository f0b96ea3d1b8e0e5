"""CapitalRequestWorkflow: deliver an amount of a token to a listed destination by a deadline.

read liquidity (one chain, one batch) -> plan (pure: idle funds, then instant exits from the
markets furthest above their weight, then queued exits) -> refuse, before anything moves, a
plan that cannot cover the amount or cannot arrive by the deadline -> one atomic batch:
withdrawals, then the transfer to the destination -> read back. The plan, each part's
expected arrival, and what was delivered are the result.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.operation import READ_TIMEOUT, RETRY, OperationBase, chain_part, validated
from workflows.rebalance import all_holdings, build_and_send, read_holdings, weights

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.messages import BuildMovesInput, Delivery, Holdings, ReadHoldingsInput
    from floor.operations import CapitalInput, CapitalResult, PlannedPart, overall_status
    from floor.risk.capital import plan_capital
    from floor.risk.rebalance import Move


@workflow.defn(failure_exception_types=[FloorError])
class CapitalRequestWorkflow(OperationBase):
    @workflow.run
    async def run(self, raw: Any) -> CapitalResult:
        input = validated(CapitalInput, raw, "capital request")
        request = input.request
        targets = [t for t in input.targets if t.key.chain_id == request.chain_id and t.asset == request.asset]
        await self.step(f"reading {request.asset} liquidity on chain {request.chain_id}")
        read = await workflow.execute_activity(
            "read_holdings",
            ReadHoldingsInput(chain_id=request.chain_id, keys=[t.key for t in targets], assets=[request.asset]),
            result_type=Holdings,
            start_to_close_timeout=READ_TIMEOUT,
            retry_policy=RETRY,
            summary=f"read {request.asset} positions, liquidity and idle balance on chain {request.chain_id}",
        )
        idle = read.idle[request.asset]
        holdings = read.holdings
        plan = plan_capital(request.amount, idle, holdings, weights(targets))
        now = workflow.now()
        parts = [
            PlannedPart(
                kind=p.kind,
                market=str(p.key) if p.key else "",
                amount=p.amount,
                expected_at=now + timedelta(seconds=p.wait_s),
            )
            for p in plan.parts
        ]
        if plan.shortfall:
            raise ApplicationError(
                f"cannot deliver {request.amount} base units of {request.asset} on chain {request.chain_id}: "
                f"{request.amount - plan.shortfall} are available now or through exit queues, "
                f"{plan.shortfall} short; nothing was moved",
                type="InsufficientLiquidity",
                non_retryable=True,
            )
        if request.deadline and now + timedelta(seconds=plan.wait_s) > request.deadline:
            raise ApplicationError(
                f"the plan's last part arrives at {(now + timedelta(seconds=plan.wait_s)).isoformat()}, "
                f"after the deadline {request.deadline.isoformat()}; nothing was moved",
                type="DeadlineUnreachable",
                non_retryable=True,
            )
        if any(p.kind == "queued" for p in plan.parts):
            raise ApplicationError(
                "the plan needs a queued exit, which no configured market offers yet; nothing was moved",
                type="QueuedExitUnsupported",
                non_retryable=True,
            )
        moves = [Move(key=p.key, asset=request.asset, action="withdraw", amount=p.amount) for p in plan.parts if p.key]
        leg = BuildMovesInput(
            chain_id=request.chain_id,
            asset=request.asset,
            moves=moves,
            deliver=Delivery(destination=request.destination, amount=request.amount),
        )
        intents, outcomes = await build_and_send(self, [leg], "deliver")
        await self.step("reading positions back")
        after = all_holdings(await read_holdings(targets)) if targets else []
        self.stage = "done"
        chain = chain_part(request.chain_id, intents, outcomes)
        if overall_status([chain]) == "failed":
            raise ApplicationError(chain.error, type="TransactionFailed", non_retryable=True)
        return await self.finish(
            CapitalResult(
                status="done",
                summary=(
                    f"delivered {request.amount} base units of {request.asset} "
                    f"to {request.destination} on chain {request.chain_id} "
                    f"({_describe(parts)})"
                ),
                chains=[chain],
                positions={str(h.key): h.amount for h in after},
                delivered=request.amount,
                destination=request.destination,
                plan=parts,
            )
        )


def _describe(parts: list[PlannedPart]) -> str:
    return ", ".join(f"{p.amount} from {p.market or 'idle funds'} ({p.kind})" for p in parts)
