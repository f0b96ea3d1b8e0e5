"""PanicExitWorkflow: every position on every chain back to its base asset, while the engine
is paused, and the pause kept.

quote the full exit of every chain at once (`build_full_exit`: `floor.planning.exit`, each
step bound by its quote less the slippage limit; a staking token sold through its Curve pool
as far as the pool pays within the limit, the rest queued; every validator that can exit asked
to by EIP-7002; a step the market refuses now or quoted past the limit is left, and says why)
-> pack each chain's steps into as few transactions as the executor allows -> send them through the signer's queues, which let a panic exit's intents
through their hold (`through_hold`), CRITICAL (sent even above the fee cap), private where the
chain's relay takes moves of their size; not atomic: a step that would revert is dropped and
named, the others go -> read the exit requests the mined transactions made and every position
back. The result says, per chain, what is out (the idle balance's rise per asset), what is
queued (the requests' ids and expected wait) and what stays, with why.

Lido's requests are handed to a claim phase (the same workflow type, its input's `claim` set,
`<engine>/panic-claim-<n>-<chain>-<protocol>`, abandoned): it reads them every `poll_s` (signal
`check_exits`: now) and, once every one is finalised, claims them into the executor through the
paused queue.

Not pausable: a pause that comes while it runs (the engine is paused already) does not stop
it. The engine stays PAUSED afterwards: a resume is the operators' decision.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
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
    read_holdings,
    refuse_unless_started_by_engine,
    reports_failure,
    validated,
)

with workflow.unsafe.imports_passed_through():
    from floor.errors import FloorError
    from floor.models import AdapterKey, Priority, units
    from floor.operations import (
        BuildClaimInput,
        ChainPart,
        ClaimBuild,
        ExitRequest,
        ExitsMadeInput,
        ReadExitsInput,
        overall_status,
    )
    from floor.panic import (
        ExitedPosition,
        LeftPosition,
        PanicChain,
        PanicClaim,
        PanicExitInput,
        PanicExitResult,
        QueuedExit,
    )
    from floor.planning.exit import ExitLine, ExitPlan, FullExitInput, line_effect
    from floor.reconcile import idle_key
    from floor.txqueue import TxIntent, TxOutcome


@workflow.defn(failure_exception_types=[FloorError])
class PanicExitWorkflow(OperationBase):
    pausable = False

    def __init__(self) -> None:
        super().__init__()
        self.check_now = False

    @workflow.signal(description="A claim phase: read the queued exits' status now, not at the next poll.")
    def check_exits(self, _: Any = None) -> None:
        self.check_now = True

    @workflow.run
    @reports_failure
    async def run(self, raw: Any = None) -> PanicExitResult:
        refuse_unless_started_by_engine()
        input = validated(PanicExitInput, raw, "panic exit")
        if input.claim is not None:
            return await self._claim(input, input.claim)
        chains = sorted({t.key.chain_id for t in input.targets})
        await self.step(f"quoting the full exit on chains {chains}")
        plans: list[ExitPlan] = list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        "build_full_exit",
                        FullExitInput(chain_id=c, keys=[t.key for t in input.targets if t.key.chain_id == c]),
                        result_type=ExitPlan,
                        start_to_close_timeout=READ_TIMEOUT,
                        retry_policy=RETRY,
                        summary=f"quote and build the full exit on chain {c}",
                    )
                    for c in chains
                )
            )
        )
        intents: dict[int, list[TxIntent]] = {}
        effects: dict[str, dict[str, int]] = {}
        for plan in plans:
            built = _built(plan)
            if not built:
                continue
            moves = [(line.step.asset, line.step.amount) for line in built]
            chain = [
                i.model_copy(update={"atomic": False, "through_hold": True, "priority": Priority.CRITICAL})
                for i in chain_intents(plan.chain_id, plan.groups, "panic", moves)
            ]
            effects |= effects_by_intent(chain, [line_effect(plan.chain_id, line) for line in built])
            intents[plan.chain_id] = chain
        every = [i for chain in intents.values() for i in chain]
        outcomes: dict[str, TxOutcome] = {}
        if every:
            await self.step(f"sending {len(every)} transactions through the paused queues")
            outcomes = await self.send(every, effects)
        await self.step("reading the exit requests and positions back")
        parts = [chain_part(p.chain_id, intents.get(p.chain_id, []), outcomes) for p in plans]
        requests = await asyncio.gather(*(self._requests(p, part) for p, part in zip(plans, parts, strict=True)))
        after = {h.chain_id: h for h in await read_holdings(input.targets)}
        panic = [
            _chain(plan, intents.get(plan.chain_id, []), outcomes, made, after[plan.chain_id].idle)
            for plan, made in zip(plans, requests, strict=True)
        ]
        claimable = [(c, q) for c in panic for q in c.queued if q.paid_by == "claim" and q.ids]
        if claimable and workflow.patched("panic-claims-its-requests"):
            keys = {str(line.step.key): line.step.key for plan in plans for line in plan.lines}
            panic = await self._hand_claims(panic, claimable, keys)
        positions = {str(h.key): h.amount for read in after.values() for h in read.holdings}
        self.stage = "done"
        status = overall_status(parts)
        if status == "done" and any(c.left for c in panic):
            status = "partial"
        return await self.finish(
            PanicExitResult(
                status=status if every else ("partial" if any(c.left for c in panic) else "skipped"),
                summary=_summary(panic, plans, parts),
                chains=parts,
                positions=positions,
                panic=panic,
            )
        )

    async def _hand_claims(
        self, panic: list[PanicChain], claimable: list[tuple[PanicChain, QueuedExit]], keys: dict[str, AdapterKey]
    ) -> list[PanicChain]:
        """Each market's requests to a claim phase of their own (`<engine>/panic-claim-<n>-...`,
        abandoned: it outlives the panic exit and claims them into the executor once finalised,
        through the paused queues)."""
        me = workflow.info().workflow_id
        engine, _, name = me.rpartition("/")
        n = name.rsplit("-", 1)[-1]
        handed: dict[tuple[int, str], str] = {}
        for chain, queued in claimable:
            key = keys[queued.market]
            claim_id = f"{engine}/panic-claim-{n}-{key.chain_id}-{key.protocol}"
            claim = PanicClaim(
                chain_id=chain.chain_id,
                market=key,
                asset=queued.asset,
                decimals=chain.decimals.get(queued.asset, 18),
                ids=queued.ids,
                requested_by=me,
            )
            await workflow.start_child_workflow(
                PanicExitWorkflow.run,
                PanicExitInput(claim=claim).model_dump(mode="json"),
                id=claim_id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                static_summary=f"claim {queued.market} requests {', '.join(map(str, queued.ids))} into the executor",
            )
            handed[chain.chain_id, queued.market] = claim_id
        return [
            c.model_copy(
                update={
                    "queued": [
                        q.model_copy(update={"claim_workflow_id": handed.get((c.chain_id, q.market), "")})
                        for q in c.queued
                    ]
                }
            )
            for c in panic
        ]

    async def _claim(self, input: PanicExitInput, claim: PanicClaim) -> PanicExitResult:
        """The claim phase: read the requests every `poll_s` (or at `check_exits`) until each
        is finalised, then claim them into the executor, wrapped, through the paused queue."""
        self.followed = False  # the panic exit that started it has ended; no engine follows it
        what = f"{claim.market} requests {', '.join(map(str, claim.ids))}"
        while True:
            exits = await workflow.execute_activity(
                "read_exit_requests",
                ReadExitsInput(chain_id=claim.chain_id, key=claim.market, ids=claim.ids),
                result_type=list[ExitRequest],
                start_to_close_timeout=READ_TIMEOUT,
                retry_policy=RETRY,
                summary=f"read the status of {what}",
            )
            claimed = [r.id for r in exits if r.status == "claimed"]
            if claimed:
                raise ApplicationError(
                    f"{claim.market} requests {claimed} are no longer the executor's to claim",
                    type="ExitAlreadyClaimed",
                    non_retryable=True,
                )
            finalized = sum(r.status == "finalized" for r in exits)
            if finalized == len(claim.ids):
                break
            await self.step(f"waiting for {what} to be finalised ({finalized} of {len(claim.ids)} finalised)")
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(input.model_dump(mode="json"))
            self.check_now = False
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self.check_now, timeout=timedelta(seconds=claim.poll_s))
        await self.step(f"claiming {what} into the executor")
        build = await workflow.execute_activity(
            "build_exit_claim",
            BuildClaimInput(chain_id=claim.chain_id, key=claim.market, ids=claim.ids, asset=claim.asset),
            result_type=ClaimBuild,
            start_to_close_timeout=READ_TIMEOUT,
            retry_policy=RETRY,
            summary=f"build the claim of {what}",
        )
        intents = [
            i.model_copy(update={"through_hold": True})
            for i in chain_intents(claim.chain_id, build.groups, "claim", [(claim.asset, build.claimable)])
        ]
        paid = {idle_key(claim.chain_id, claim.asset): build.claimable}
        outcomes = await self.send(intents, effects_by_intent(intents, [paid]))
        part = chain_part(claim.chain_id, intents, outcomes)
        if part.status != "done":
            raise ApplicationError(f"{part.error}; {what} stay the executor's, unclaimed", type="TransactionFailed")
        self.stage = "done"
        paid_out = units(build.claimable, claim.decimals, claim.asset)
        return await self.finish(
            PanicExitResult(
                status="done",
                summary=f"claimed {what} for {claim.requested_by}: {paid_out} into the executor; "
                "the engine stays PAUSED",
                chains=[part],
                panic=[
                    PanicChain(
                        chain_id=claim.chain_id,
                        out={claim.asset: build.claimable},
                        decimals={claim.asset: claim.decimals},
                        transactions=part.transactions,
                    )
                ],
            )
        )

    async def _requests(self, plan: ExitPlan, part: ChainPart) -> dict[str, list[ExitRequest]]:
        """The requests each queued market's exit made, from the mined transactions' logs."""
        # Only a claimed queue's requests have ids to follow; a validator's exit is swept to the executor.
        queued = [line for line in _built(plan) if line.step.mode == "queued" and line.step.paid_by == "claim"]
        if not queued or not part.transactions:
            return {}
        made = await asyncio.gather(
            *(
                workflow.execute_activity(
                    "exit_requests_made",
                    ExitsMadeInput(chain_id=plan.chain_id, key=line.step.key, tx_hashes=part.transactions),
                    result_type=list[ExitRequest],
                    start_to_close_timeout=READ_TIMEOUT,
                    retry_policy=RETRY,
                    summary=f"read the {line.step.key} requests the panic exit made",
                )
                for line in queued
            )
        )
        return {str(line.step.key): m for line, m in zip(queued, made, strict=True)}


def _built(plan: ExitPlan) -> list[ExitLine]:
    """The built lines in their groups' order."""
    return sorted((line for line in plan.lines if line.built), key=lambda line: line.group or 0)


def _landed(plan: ExitPlan, intents: list[TxIntent], outcomes: dict[str, TxOutcome]) -> dict[int, str]:
    """Each group that did not land, with why: its intent failed, or the queue dropped it."""
    missed: dict[int, str] = {}
    offset = 0
    for intent in intents:
        outcome = outcomes.get(intent.id)
        n = len(intent.groups)
        if outcome is None or not outcome.ok:
            why = f"{outcome.error}: {outcome.message}" if outcome else "not sent"
            missed |= dict.fromkeys(range(offset, offset + n), why)
        else:
            for g in outcome.dropped_groups:
                missed[offset + g] = f"dropped, it would revert: {outcome.message}"
        offset += n
    return missed


def _chain(
    plan: ExitPlan,
    intents: list[TxIntent],
    outcomes: dict[str, TxOutcome],
    made: dict[str, list[ExitRequest]],
    idle_after: dict[str, int],
) -> PanicChain:
    missed = _landed(plan, intents, outcomes)
    exited, queued, left = [], [], []
    for line in plan.lines:
        step, market = line.step, str(line.step.key)
        why = line.refusal or (missed.get(line.group, "") if line.group is not None else "") or step.reason
        if line.built and line.group not in missed:
            if step.mode == "queued":
                requests = made.get(market, [])
                queued.append(
                    QueuedExit(
                        market=market,
                        asset=step.asset,
                        amount=sum(r.amount for r in requests) or step.amount,
                        ids=[r.id for r in requests],
                        wait_s=step.wait_s,
                        paid_by=step.paid_by,
                        reason=step.reason,
                    )
                )
            else:
                exited.append(
                    ExitedPosition(
                        market=market,
                        asset=step.asset,
                        amount=step.amount,
                        quoted=line.quoted,
                        min_out=line.min_out,
                        slippage_bps=line.slippage_bps,
                        sold=step.tokens,
                    )
                )
            if step.left:
                left.append(LeftPosition(market=market, asset=step.asset, amount=step.left, reason=step.reason))
        else:
            left.append(LeftPosition(market=market, asset=step.asset, amount=step.position, reason=why))
    mined = [outcomes[i.id] for i in intents if i.id in outcomes and outcomes[i.id].ok]
    return PanicChain(
        chain_id=plan.chain_id,
        out={a: max(idle_after.get(a, 0) - before, 0) for a, before in plan.idle.items()},
        decimals={line.step.asset: line.step.decimals for line in plan.lines},
        exited=exited,
        queued=queued,
        left=left,
        transactions=[o.transaction.tx_hash for o in mined if o.transaction],
        private=any(o.route != "public" for o in mined),
    )


def _summary(panic: list[PanicChain], plans: list[ExitPlan], parts: list[ChainPart]) -> str:
    decimals = {(p.chain_id, line.step.asset): line.step.decimals for p in plans for line in p.lines}
    words = []
    for chain, part in zip(panic, parts, strict=True):
        out = ", ".join(units(v, decimals.get((chain.chain_id, a), 0), a) for a, v in sorted(chain.out.items()) if v)
        bits = [f"{out or 'nothing'} out"]
        if chain.queued:
            bits.append(
                "queued "
                + ", ".join(
                    f"{units(q.amount, decimals.get((chain.chain_id, q.asset), 0), q.asset)} in {q.market}"
                    + (
                        f" (requests {', '.join(map(str, q.ids)) or 'unknown'})"
                        if q.paid_by == "claim"
                        else " (exits requested, swept to the executor)"
                    )
                    for q in chain.queued
                )
            )
        if chain.left:
            bits.append(f"{len(chain.left)} left ({'; '.join(f'{x.market}: {x.reason}' for x in chain.left)})")
        if part.status == "failed":
            bits.append(f"failed: {part.error}")
        words.append(f"chain {chain.chain_id}: {'; '.join(bits)}")
    return "panic exit: " + " | ".join(words) + "; the engine stays PAUSED"
