"""CapitalRequestWorkflow: deliver an amount of a token to a listed destination by a deadline.

read liquidity (one chain, one batch) -> plan (pure: idle funds, then instant exits from the
markets furthest above their weight, then queued exits) -> refuse, before anything moves, a
plan that cannot cover the amount or cannot arrive by the deadline -> one atomic batch:
withdrawals, then the transfer to the destination -> read back. The plan, each part's
expected arrival, and what was delivered are the result.

A plan with a queued part (Lido's withdrawal queue: days) runs in two phases, so the engine,
which runs one operation at a time, is not held for days:

1. The request phase (the engine's operation): one atomic batch of the instant withdrawals
   and the queue's requests (`requestWithdrawals` between an exact approval and its reset),
   plus, only when the request allows `partial` delivery, the transfer of what idle funds and
   instant exits cover. By default nothing is delivered yet: the treasury gets the whole
   amount in one transfer. The ids of the requests it made are read from the batch's own logs,
   and the claim phase is started as an abandoned child at `<engine>/capital-claim-<n>`; the
   operation then ends and the engine is free for others.
2. The claim phase (the same workflow type, its input's `claim` set): a durable timer loop
   reads the requests' status every `exit_poll_s`, and once every one is finalised claims
   exactly those ids (never a request someone else made for the executor), wraps what they
   pay to WETH and transfers the amount in one atomic batch. Its sends go through the
   signer's queue, which an engine pause holds: requests finalised while paused are claimed
   after the resume.

Both phases report the requests (ids, amounts, status, claimable ETH) in their result and in
the `exit_requests` query; the `status` query and the Web UI's details say what is awaited
("waiting for Lido requests 12, 13, 14 to be finalised (2 of 3 finalised)").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.operation import (
    READ_TIMEOUT,
    RETRY,
    OperationBase,
    build_and_send,
    chain_intents,
    chain_part,
    effects_by_intent,
    read_holdings,
    refuse_unless_started_by_engine,
    reports_failure,
    validated,
)

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.messages import Holdings, ReadHoldingsInput
    from floor.models import Call
    from floor.operations import (
        BuildClaimInput,
        BuildExitsInput,
        CapitalClaim,
        CapitalInput,
        CapitalResult,
        ClaimBuild,
        ExitRequest,
        ExitsMadeInput,
        PlannedPart,
        ReadExitsInput,
        StrategyTarget,
        overall_status,
        units,
    )
    from floor.planning.capital import (
        CLAIMABLE_QUEUES,
        CapitalPlan,
        claim_workflow_id,
        delivery_leg,
        exit_effects,
        exit_parts,
        plan_capital,
        planned_parts,
    )
    from floor.planning.plan import all_holdings, weights
    from floor.reconcile import delivery_effect, idle_key

QUEUE_NAMES = {"lido": "Lido"}


@workflow.defn(failure_exception_types=[FloorError])
class CapitalRequestWorkflow(OperationBase):
    def __init__(self) -> None:
        super().__init__()
        self.claiming = False  # the claim phase: no engine to report steps to
        self.exits: list[ExitRequest] = []

    @workflow.query
    def exit_requests(self, _: Any = None) -> list[ExitRequest]:
        """The queued exits this request made: ids, amounts, status, what a claim pays now."""
        return self.exits

    async def step(self, stage: str) -> None:
        if not self.claiming:
            return await super().step(stage)
        # The claim phase's parent (the request phase) has ended; the engine does not follow
        # it, so the step is only this workflow's own (status query, Web UI details).
        self.stage = stage
        workflow.set_current_details(f"**step:** {stage}")
        if self.paused:
            workflow.set_current_details(f"**step:** {stage} (paused: waiting for resume_engine)")
            await workflow.wait_condition(lambda: not self.paused)
            workflow.set_current_details(f"**step:** {stage}")

    @workflow.run
    @reports_failure
    async def run(self, raw: Any = None) -> CapitalResult:
        refuse_unless_started_by_engine()
        input = validated(CapitalInput, raw, "capital request")
        if input.claim is not None:
            return await self._claim(input, input.claim)
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
        if input.decimals is None and holdings:  # started without the catalogue's decimals
            input = input.model_copy(update={"decimals": holdings[0].decimals})
        plan = plan_capital(request.amount, idle, holdings, weights(targets), claimable=CLAIMABLE_QUEUES)
        now = workflow.now()
        parts = planned_parts(plan, now)
        if plan.shortfall:
            behind = f"; markets behind circuit breakers are left out ({'; '.join(input.blocked)})"
            raise ApplicationError(
                f"cannot deliver {_units(input, request.amount)} on chain {request.chain_id}: "
                f"{_units(input, request.amount - plan.shortfall)} available now (idle and instant exits) "
                f"or through exit queues, {_units(input, plan.shortfall)} short"
                f"{behind if input.blocked else ''}; nothing was moved",
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
            return await self._request_exits(input, targets, plan, parts)
        intents, outcomes = await build_and_send(self, [delivery_leg(request, plan)], "deliver")
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
                    f"delivered {_units(input, request.amount)} "
                    f"to {request.destination} on chain {request.chain_id} "
                    f"({_describe(parts, input)})"
                ),
                chains=[chain],
                positions={str(h.key): h.amount for h in after},
                delivered=request.amount,
                destination=request.destination,
                plan=parts,
            )
        )

    async def _request_exits(
        self, input: CapitalInput, targets: list[StrategyTarget], plan: CapitalPlan, parts: list[PlannedPart]
    ) -> CapitalResult:
        """The request phase: instant withdrawals and queued exit requests in one atomic batch
        (and, if `partial`, the transfer of what they and idle funds cover), then the claim
        phase handed to a workflow of its own."""
        request = input.request
        chain_id, asset = request.chain_id, request.asset
        queued = [p for p in plan.parts if p.kind == "queued"]
        if len({p.key for p in queued}) > 1:
            raise ApplicationError(
                f"the plan needs exits from {len(queued)} queues ({', '.join(str(p.key) for p in queued)}); "
                "a capital request follows one queue; nothing was moved",
                type="QueuedExitUnsupported",
                non_retryable=True,
            )
        market = queued[0].key
        covered = sum(p.amount for p in plan.parts if p.kind != "queued")
        now_amount = covered if request.partial else 0
        exits = exit_parts(plan)
        await self.step(f"building the exit batch: {_describe(parts, input)}")
        groups = await workflow.execute_activity(
            "build_capital_exits",
            BuildExitsInput(
                chain_id=chain_id,
                asset=asset,
                parts=exits,
                destination=request.destination if now_amount else "",
                deliver=now_amount,
            ),
            result_type=list[list[Call]],
            start_to_close_timeout=READ_TIMEOUT,
            retry_policy=RETRY,
            summary=f"quote and build {len(exits)} {asset} exits on chain {chain_id}",
        )
        moves = [(asset, p.amount) for p in exits] + ([(asset, now_amount)] if now_amount else [])
        intents = chain_intents(chain_id, groups, "exit", moves)
        if len(intents) != 1:
            raise ApplicationError(
                f"the exit batch needs {len(intents)} transactions; a capital request's exits go in one "
                "atomic batch; nothing was moved",
                type="BatchTooLarge",
                non_retryable=True,
            )
        await self.step("sending the exit batch")
        outcomes = await self.send(intents, effects_by_intent(intents, exit_effects(request, exits, now_amount)))
        chain = chain_part(chain_id, intents, outcomes)
        if chain.status == "failed":  # one atomic batch: nothing moved
            raise ApplicationError(chain.error, type="TransactionFailed", non_retryable=True)
        await self.step("reading the exit requests the batch made")
        made = await workflow.execute_activity(
            "exit_requests_made",
            ExitsMadeInput(chain_id=chain_id, key=market, tx_hashes=chain.transactions),
            result_type=list[ExitRequest],
            start_to_close_timeout=READ_TIMEOUT,
            retry_policy=RETRY,
            summary=f"read the {market} requests made by {', '.join(chain.transactions)}",
        )
        self.exits = made
        if sum(r.amount for r in made) != queued[0].amount:
            raise ApplicationError(
                f"the exit batch {', '.join(chain.transactions)} was mined, but its logs show requests of "
                f"{sum(r.amount for r in made)} in {market}'s queue, not the {queued[0].amount} planned; "
                "the executor owns them: claim them by hand",
                type="ExitRequestsNotFound",
                non_retryable=True,
            )
        me = workflow.info().workflow_id
        parent = workflow.info().parent
        claim_id = claim_workflow_id(me, parent.workflow_id if parent else None)
        pending = request.amount - now_amount
        await self.step(f"handing the claim of {_ids(made)} to {claim_id}")
        await workflow.start_child_workflow(
            CapitalRequestWorkflow.run,
            CapitalInput(
                request=request,
                targets=input.targets,
                claim=CapitalClaim(
                    market=market, requests=made, deliver=pending, delivered=now_amount, requested_by=me, plan=parts
                ),
                decimals=input.decimals,
            ).model_dump(mode="json"),
            id=claim_id,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=(
                f"claim {_queue(market)} requests {_ids(made)} and deliver {_units(input, pending)} "
                f"to {request.destination}"
            ),
        )
        await self.step("reading positions back")
        after = all_holdings(await read_holdings(targets)) if targets else []
        self.stage = "done"
        return await self.finish(
            CapitalResult(
                status="done",
                summary=(
                    f"requested the exit of {_units(input, queued[0].amount)} from {market} (requests {_ids(made)}); "
                    + (f"delivered {_units(input, now_amount)} now; " if now_amount else "")
                    + f"{claim_id} delivers {_units(input, pending)} to {request.destination} "
                    f"on chain {chain_id} once they are claimed ({_describe(parts, input)})"
                ),
                chains=[chain],
                positions={str(h.key): h.amount for h in after},
                delivered=now_amount,
                destination=request.destination,
                plan=parts,
                exits=made,
                pending=pending,
                claim_workflow_id=claim_id,
            )
        )

    async def _claim(self, input: CapitalInput, claim: CapitalClaim) -> CapitalResult:
        """The claim phase: wait (a durable timer loop) until every request is finalised, then
        claim them, wrap what they pay and deliver, in one atomic batch."""
        self.claiming = True
        request = input.request
        chain_id, asset, market = request.chain_id, request.asset, claim.market
        ids = [r.id for r in claim.requests]
        self.exits = list(claim.requests)
        what = f"{_queue(market)} requests {_ids(claim.requests)}"
        while True:
            self.exits = await self._read_exits(chain_id, market, ids)
            claimed = [r.id for r in self.exits if r.status == "claimed"]
            if claimed:
                raise ApplicationError(
                    f"{market} requests {claimed} are no longer the executor's to claim; "
                    f"{_units(input, claim.deliver)} were not delivered",
                    type="ExitAlreadyClaimed",
                    non_retryable=True,
                )
            finalized = sum(r.status == "finalized" for r in self.exits)
            if finalized == len(ids):
                break
            late = request.deadline is not None and workflow.now() > request.deadline
            await self.step(
                f"waiting for {what} to be finalised ({finalized} of {len(ids)} finalised)"
                + (f"; past the deadline {request.deadline.isoformat()}" if late else "")
            )
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(input.model_dump(mode="json"))
            await workflow.sleep(timedelta(seconds=request.exit_poll_s))
        await self.step(f"claiming {what} and delivering {_units(input, claim.deliver)}")
        build = await workflow.execute_activity(
            "build_exit_claim",
            BuildClaimInput(
                chain_id=chain_id,
                key=market,
                ids=ids,
                asset=asset,
                destination=request.destination,
                deliver=claim.deliver,
            ),
            result_type=ClaimBuild,
            start_to_close_timeout=READ_TIMEOUT,
            retry_policy=RETRY,
            summary=f"build the claim of {what} and the transfer to {request.destination}",
        )
        moves = [(asset, build.claimable)] + ([(asset, build.deliver)] if build.deliver else [])
        intents = chain_intents(chain_id, build.groups, "claim", moves)
        # What the claims pay lands idle (wrapped), what is delivered leaves it: on the first group.
        paid = delivery_effect(chain_id, asset, request.destination, build.deliver) if build.deliver else {}
        paid[idle_key(chain_id, asset)] = paid.get(idle_key(chain_id, asset), 0) + build.claimable
        group_effects = [paid] + [{} for _ in build.groups[1:]]
        outcomes = await self.send(intents, effects_by_intent(intents, group_effects))
        chain = chain_part(chain_id, intents, outcomes)
        if chain.status != "done":
            raise ApplicationError(
                f"{chain.error}; {what} stay the executor's, unclaimed", type="TransactionFailed", non_retryable=True
            )
        await self.step("reading the requests and positions back")
        self.exits = await self._read_exits(chain_id, market, ids)
        targets = [t for t in input.targets if t.key.chain_id == chain_id and t.asset == asset]
        after = all_holdings(await read_holdings(targets)) if targets else []
        self.stage = "done"
        delivered = claim.delivered + build.deliver
        short = request.amount - delivered
        summary = (
            f"claimed {what} ({units(build.claimable, 18, 'ETH')}, wrapped to {asset}) and delivered "
            f"{_units(input, build.deliver)} to {request.destination} on chain {chain_id}"
            + (
                f", {_units(input, claim.delivered)} delivered before by {claim.requested_by}"
                if claim.delivered
                else ""
            )
        )
        if short:
            summary += (
                f"; {_units(input, short)} short: the executor held {_units(input, build.idle)} and the claims paid "
                f"{units(build.claimable, 18, 'ETH')} "
                f"(the queue pays less than requested after a loss, and idle funds kept for this "
                f"request may have been spent by another operation)"
            )
        return await self.finish(
            CapitalResult(
                status="partial" if short else "done",
                summary=summary,
                chains=[chain],
                positions={str(h.key): h.amount for h in after},
                delivered=delivered,
                destination=request.destination,
                plan=claim.plan,
                exits=self.exits,
                pending=0,
            )
        )

    async def _read_exits(self, chain_id: int, market, ids: list[int]) -> list[ExitRequest]:
        return await workflow.execute_activity(
            "read_exit_requests",
            ReadExitsInput(chain_id=chain_id, key=market, ids=ids),
            result_type=list[ExitRequest],
            start_to_close_timeout=READ_TIMEOUT,
            retry_policy=RETRY,
            summary=f"read the status of {market} requests {', '.join(map(str, ids))}",
        )


def _queue(market) -> str:
    return QUEUE_NAMES.get(market.protocol, market.protocol)


def _ids(requests: list[ExitRequest]) -> str:
    return ", ".join(str(r.id) for r in requests)


def _units(input: CapitalInput, amount: int) -> str:
    """An amount of the request's asset in token units ("50,000 USDC")."""
    return units(amount, input.decimals, input.request.asset)


def _describe(parts: list[PlannedPart], input: CapitalInput) -> str:
    return ", ".join(f"{_units(input, p.amount)} from {p.market or 'idle funds'} ({p.kind})" for p in parts)
