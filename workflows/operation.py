"""What every operation workflow shares: steps that pause, and sending through the queue.

An operation is a state machine of activities. `step()` names the step (the Web UI's current
details, the `status` query, and the parent engine's view) and is the only place a pause
takes effect: a pause signalled mid-step lets the step finish (a transaction already handed
to the queue is seen through), and the next step waits until resumed. `send()` hands intents
to the signer's queue and waits for the outcomes it signals back; it never raises on a
failed intent, so a chain that failed does not hide a chain whose transactions were mined.
`read_holdings` (every chain at once) and `build_and_send` (build every leg, pack, send) are
the steps the operations that move funds share.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows.doors import validated  # noqa: F401 (every operation's start reads its input with it)

with workflow.unsafe.imports_passed_through():
    from floor.batching import pack_batches
    from floor.messages import BuildDepositsInput, BuildMovesInput, Holdings, ReadHoldingsInput
    from floor.models import Call
    from floor.operations import (
        ChainPart,
        JournalEntry,
        JournalInput,
        OperationStep,
        StrategyTarget,
        pause_signal,
        resume_signal,
    )
    from floor.planning.allocation import PlannedDeposit
    from floor.planning.plan import leg_moves, move_effects
    from floor.txqueue import SubmitAck, TxIntent, TxOutcome
    from floor.validation import BadRequest, parse

T = TypeVar("T")

# The engine's signal for an operation's step, named as internal (the Web UI offers people
# every signal a workflow has) since the patch "internal-step-signal". Histories recorded
# before it send "operation_step": the engine has no handler of that name any more, and a
# signal without one is buffered, which changes no command, so those histories still replay.
STEP_SIGNAL = "internal_operation_step"

# Reads and builds retry alike; which failures are worth retrying is the error's own verdict
# (floor.errors), carried by the activity's ApplicationError as non_retryable.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5)
# The journal of transactions already mined is retried until the store answers: giving up
# would leave mined transactions out of the journal, which reconciliation would then report
# as discrepancies. Replays alike: a retry policy is no command.
JOURNAL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1), maximum_attempts=0
)
READ_TIMEOUT = timedelta(seconds=30)
# How long to wait for the queue's signal before asking it again.
ASK_AGAIN = timedelta(minutes=10)
# Reads, builds, the queue's door and the journal take small inputs, answer small results and
# run in milliseconds: as local activities they run inside the workflow task that asks (no task
# of their own, no server round trip each), since this patch; histories from before ran them
# as activities.
LOCAL_STEPS = "local-reads-builds-submits"
# One chain's door refusing no longer fails an operation whose other chains' intents were taken.
DOOR_REFUSED_PER_CHAIN = "door-refused-per-chain"
# A step is reported to the engine once it has lasted LATE_REPORT_AFTER, since this patch
# (before: as it began). Most steps end inside the workflow task that begins them, where a
# report cost the operation a task of its own: its signal goes out with the task, and its answer
# comes after it, as a new task the result then waited for. Now such a step's timer is cancelled
# with the task, never sent; a step that lasts (a slow node, a pause, the chain's blocks) is
# reported a second in. The engine's view skips steps nobody could have read.
LATE_REPORTS = "late-step-reports"
LATE_REPORT_AFTER = timedelta(seconds=1)
# The journal of what was mined runs beside the read back that follows it (the rebalance's),
# since this patch; before, the read back waited for it.
JOURNAL_BESIDE_READ_BACK = "journal-beside-read-back"
# Each chain is read back once every one of its transactions has an outcome, since this patch
# (as a script reads a chain back after its own receipts); before, every chain once all had.
READ_BACK_PER_CHAIN = "read-back-per-chain"


def step_activity(name: str, arg: Any, *, result_type: type, summary: str, retry: RetryPolicy = RETRY):
    """One of an operation's small steps: a local activity (an activity before LOCAL_STEPS)."""
    run = workflow.execute_local_activity if workflow.patched(LOCAL_STEPS) else workflow.execute_activity
    return run(
        name, arg, result_type=result_type, start_to_close_timeout=READ_TIMEOUT, retry_policy=retry, summary=summary
    )


def refuse_unless_started_by_engine() -> None:
    """An operation runs only as its engine's child (`<engine id>/<kind>-<n>`, started by the
    workflow whose id prefixes its own, after a signed command): a raw start (anyone who
    reaches Temporal can start any workflow) fails at once, non-retryable, saying why. A
    capital request's claim phase is its request's child (`<engine id>/capital-claim-<n>`).
    Checked before the input is read: whatever the input, a raw start says why it cannot run.
    Histories from before the check were recorded without it (patched)."""
    if not workflow.patched("started-by-engine"):
        return
    info = workflow.info()
    me, parent = info.workflow_id, info.parent
    # The engine, or for a claim phase the engine of the operation that started it.
    engines = [] if parent is None else [parent.workflow_id, parent.workflow_id.rpartition("/")[0]]
    if not any(engine and me.startswith(f"{engine}/") for engine in engines):
        started_by = "no parent" if parent is None else f"parent {parent.workflow_id}"
        raise ApplicationError(
            f"{me} was not started by its engine ({started_by}): operations run only as the engine's children,"
            " asked for by a signed command (floor allocate, floor rebalance, ...)",
            type="NotStartedByEngine",
            non_retryable=True,
        )


class OperationBase:
    # A pause stops the operation at its next step; a panic exit, which runs while the engine
    # is paused, is not pausable.
    pausable = True
    # False in a later phase no engine follows (a panic exit's claim): steps are its own only.
    followed = True

    def __init__(self) -> None:
        # False only while replaying a history recorded before steps were reported and
        # independent activities started together (see AllocateWorkflow).
        self.v2 = True
        self.paused = False
        self.reports: list[asyncio.Task] = []  # step signals to the engine, in flight
        self.late_report: asyncio.Task | None = None  # the current step's report, once it has lasted
        self.journalling: asyncio.Task | None = None  # the journal `send` started, for `read_back`
        self.chain_reads: dict[int, asyncio.Future] = {}  # each chain's read back, started once it settled
        self.reads_dropped = False  # `send` failed: a read not started yet never starts
        self.stage = "starting"
        self.outcomes: dict[str, TxOutcome] = {}
        self.reorged: list[str] = []  # settled transactions a reorg took out, sent again

    @workflow.signal(description="Internal: the transaction queue's answer to one of this workflow's intents.")
    def tx_outcome(self, raw: Any = None) -> None:
        """The transaction queue's answer to one of this workflow's intents (anything that is
        not an outcome is logged and ignored)."""
        try:
            outcome = parse(TxOutcome, raw, "transaction outcome")
        except BadRequest as exc:
            workflow.logger.warning(f"tx_outcome ignored: {exc}")
            return
        earlier = self.outcomes.get(outcome.intent_id)
        if earlier is not None and earlier.transaction is not None and outcome != earlier:
            # Sent again after a reorg took the settled one out (the queue follows it to
            # finality): the result says so, and what runs from here reads the new receipt.
            was = f"{earlier.transaction.tx_hash} (block {earlier.transaction.block_number})"
            now = (
                f"mined again as {outcome.transaction.tx_hash} in block {outcome.transaction.block_number}"
                if outcome.ok and outcome.transaction is not None
                else f"then {outcome.error}: {outcome.message}"
            )
            self.reorged.append(f"{outcome.intent_id}: {was} was reorged out; {now}")
        self.outcomes[outcome.intent_id] = outcome

    @workflow.signal(description='Pause at the next step. Input: {"by": "...", "reason": "..."} or just the reason.')
    def pause_engine(self, raw: Any = None) -> None:
        """Never refused: any payload pauses (floor.operations.pause_signal reads it)."""
        signal = pause_signal(raw)
        self.paused = True
        workflow.logger.info("paused", extra={"signal": f"{signal.by or 'unnamed'}: {signal.reason or 'no reason'}"})

    @workflow.signal(description='Go on from the paused step. Input: {"by": "...", "reason": "..."} or the reason.')
    def resume_engine(self, raw: Any = None) -> None:
        try:
            signal = resume_signal(raw)
        except BadRequest as exc:  # a signal cannot be refused: logged and ignored
            workflow.logger.warning(f"resume ignored: {exc}")
            return
        self.paused = False
        workflow.logger.info("resumed", extra={"signal": f"{signal.by or 'unnamed'}: {signal.reason or 'no reason'}"})

    @workflow.query
    def status(self, _: Any = None) -> str:
        return f"{self.stage} (paused)" if self.paused else self.stage

    async def step(self, stage: str) -> None:
        """Enter a step: say so, then wait while paused."""
        self.stage = stage
        workflow.set_current_details(f"**step:** {stage}")
        if self.late_report is not None:  # the step before ended before it was reported
            self.late_report.cancel()
            self.late_report = None
        parent = workflow.info().parent
        if parent is not None and self.v2 and self.followed:
            name = STEP_SIGNAL if workflow.patched("internal-step-signal") else "operation_step"
            if workflow.patched(LATE_REPORTS):
                self.late_report = asyncio.create_task(self._report_late(parent.workflow_id, name, stage))
            else:  # told as it began, not waited for: the next activity starts in the same task
                self.reports.append(asyncio.create_task(self._report(parent.workflow_id, name, stage)))
        if self.paused and self.pausable:
            workflow.set_current_details(f"**step:** {stage} (paused: waiting for resume_engine)")
            await workflow.wait_condition(lambda: not self.paused)
            workflow.set_current_details(f"**step:** {stage}")

    async def _report_late(self, engine_id: str, name: str, stage: str) -> None:
        await workflow.sleep(LATE_REPORT_AFTER)
        self.late_report = None
        self.reports.append(asyncio.create_task(self._report(engine_id, name, stage)))

    @staticmethod
    async def _report(engine_id: str, name: str, stage: str) -> None:
        """The step to the engine (for its status and the Web UI)."""
        await workflow.get_external_workflow_handle(engine_id).signal(
            name, OperationStep(workflow_id=workflow.info().workflow_id, step=stage)
        )

    async def finish(self, result):
        """The operation's result, once the engine has every step it was told (a step not told
        yet never is: its timer is cancelled); the Web UI's details say how it ended."""
        if self.late_report is not None:
            self.late_report.cancel()
            self.late_report = None
        if self.journalling is not None:  # started, never read back beside: finished first
            journalling, self.journalling = self.journalling, None
            await journalling
        await asyncio.gather(*self.reports)
        if self.reorged:
            result = result.model_copy(update={"summary": f"{result.summary}; {'; '.join(self.reorged)}"})
        workflow.set_current_details(f"**{result.status}**: {result.summary}")
        return result

    async def send(
        self,
        intents: list[TxIntent],
        effects: dict[str, dict[str, int]] | None = None,
        *,
        read_back_next: bool = False,
        read_chain: Callable[[int], Awaitable[Holdings]] | None = None,
    ) -> dict[str, TxOutcome]:
        """Every intent to its queue, then every outcome, then the mined ones into the store's
        journal with their planned `effects` per market (`read_back_next`: started, and
        finished beside the read back, `read_back`). `read_chain`: each chain read back as
        soon as all of its intents have outcomes (READ_BACK_PER_CHAIN), for `read_back`.
        Sending an intent again is harmless (the queue knows its id and answers with its
        outcome once settled), which also covers a signal sent while no run was listening."""
        try:
            outcomes = await self._send(intents, read_chain)
        except BaseException:
            # Nothing may still run when the failure ends the workflow (gather_steps): a read
            # not started never starts, one running is waited for.
            self.reads_dropped = True
            await asyncio.gather(*self.chain_reads.values(), return_exceptions=True)
            raise
        if self.v2 and any(o.ok for o in outcomes.values()):
            journal = step_activity(
                "journal_transactions",
                JournalInput(
                    operation_id=workflow.info().workflow_id,
                    entries=[
                        JournalEntry(intent_id=i, outcome=o, effects=(effects or {}).get(i, {}))
                        for i, o in outcomes.items()
                    ],
                ),
                result_type=int,
                summary="journal the mined transactions",
                retry=JOURNAL_RETRY,
            )
            if read_back_next and workflow.patched(JOURNAL_BESIDE_READ_BACK):
                self.journalling = asyncio.ensure_future(journal)  # runs through a pause
            else:
                await journal
        return outcomes

    async def _send(
        self, intents: list[TxIntent], read_chain: Callable[[int], Awaitable[Holdings]] | None
    ) -> dict[str, TxOutcome]:
        unsettled = intents
        while unsettled:
            if workflow.patched(LOCAL_STEPS):  # a chain's intents in one update: the queue takes them together
                per_chain: dict[int, list[TxIntent]] = {}
                for intent in unsettled:
                    per_chain.setdefault(intent.chain_id, []).append(intent)
                batches = [
                    step_activity(
                        "submit_intents", batch, result_type=list[SubmitAck], summary=f"queue {len(batch)} on chain {c}"
                    )
                    for c, batch in per_chain.items()
                ]
                acks = await self._through_doors(per_chain, batches)
            else:
                submissions = [
                    step_activity("submit_intent", intent, result_type=SubmitAck, summary=f"queue {intent.id}")
                    for intent in unsettled
                ]
                acks = await together(submissions, self.v2)
            for ack in acks:
                if ack.outcome is not None:
                    self.outcomes[ack.intent_id] = ack.outcome
            if read_chain is not None and not self.chain_reads and workflow.patched(READ_BACK_PER_CHAIN):
                for chain_id in sorted({i.chain_id for i in intents}):
                    mine = [i for i in intents if i.chain_id == chain_id]
                    self.chain_reads[chain_id] = asyncio.ensure_future(
                        self._read_once_settled(mine, chain_id, read_chain)
                    )
            self.stage = f"waiting for {len(intents)} transactions"
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: all(i.id in self.outcomes for i in intents), timeout=ASK_AGAIN)
            unsettled = [i for i in intents if i.id not in self.outcomes]
        return {i.id: self.outcomes[i.id] for i in intents}

    async def _read_once_settled(
        self, mine: list[TxIntent], chain_id: int, read_chain: Callable[[int], Awaitable[Holdings]]
    ) -> Holdings | None:
        """The chain read back once all of its intents have outcomes (a read, which a pause
        does not hold: the pause holds the step after), or None if `send` failed first."""
        await workflow.wait_condition(lambda: self.reads_dropped or all(i.id in self.outcomes for i in mine))
        return None if self.reads_dropped else await read_chain(chain_id)

    async def read_back(self, reading: Awaitable[T]) -> T:
        """The read back, beside the journal `send` started: both run to their end before a
        failure of either is raised (`gather_steps`)."""
        if self.journalling is None:
            return await reading
        journalling, self.journalling = self.journalling, None
        read, _ = await gather_steps([reading, journalling])
        return read

    async def read_chains_back(self, targets: list[StrategyTarget]) -> list[Holdings]:
        """Every chain of `targets` read back (as `read_holdings`, without prices): a chain
        `send` read once it settled is not read again."""
        reads, self.chain_reads = self.chain_reads, {}
        chains = sorted({t.key.chain_id for t in targets})
        return list(await gather_steps([reads[c] if c in reads else read_chain(targets, c) for c in chains]))

    async def _through_doors(self, per_chain: dict[int, list[TxIntent]], doors: list) -> list[SubmitAck]:
        """Every chain's door answered (each runs to its end: gather_steps). A door that
        refused its chain (non-retryable: the queue's validator, or an input that cannot be
        built; a refused update leaves nothing in the queue) while another chain's intents were
        taken: the refused intents fail with the refusal, by name, and the operation goes on
        with the rest, to a partial result with what was mined journalled (before, it failed
        whole while the taken intents still went out). Every door refusing, or any other
        failure, fails it as before."""
        answers = await asyncio.gather(*doors, return_exceptions=True)
        failures = [a for a in answers if isinstance(a, BaseException)]
        if not failures:
            return [ack for answered in answers for ack in answered]
        refusals = {c: _refusal(a) for c, a in zip(per_chain, answers, strict=True) if isinstance(a, BaseException)}
        if (
            len(failures) == len(answers)
            or any(r is None for r in refusals.values())
            or not workflow.patched(DOOR_REFUSED_PER_CHAIN)
        ):
            raise failures[0]
        for chain_id, refusal in refusals.items():
            for intent in per_chain[chain_id]:
                self.outcomes[intent.id] = TxOutcome(
                    intent_id=intent.id, ok=False, error=refusal.type or "IntentRefused", message=refusal.message
                )
        return [ack for answered in answers if not isinstance(answered, BaseException) for ack in answered]


def _refusal(failure: BaseException) -> ApplicationError | None:
    """The door's own non-retryable refusal inside a step's failure, or None (anything else:
    a timeout, a cancellation, a retryable error whose update may have reached the queue)."""
    root = failure
    while getattr(root, "cause", None) is not None:
        root = root.cause
    return root if isinstance(root, ApplicationError) and root.non_retryable else None


def reports_failure(run):
    """An operation's `run` whose failure the Web UI's details say ("**failed**: Type: why"),
    not the last step it was on. Sets details only: no command, replays alike."""

    @functools.wraps(run)
    async def wrapper(self, raw: Any = None):
        try:
            return await run(self, raw)
        except Exception as exc:  # continue-as-new is not an Exception: it passes untouched
            root = exc
            while getattr(root, "cause", None) is not None:  # an activity's failure: its own error
                root = root.cause
            kind = getattr(root, "type", None) or type(root).__name__
            workflow.set_current_details(f"**failed**: {kind}: {getattr(root, 'message', None) or root}")
            raise

    return wrapper


async def read_holdings(targets: list[StrategyTarget], assets: bool = True, prices: bool = False) -> list[Holdings]:
    """Every chain of `targets`, read at once (with the tokens' prices when `prices`)."""
    chains = sorted({t.key.chain_id for t in targets})
    return list(await gather_steps([read_chain(targets, c, assets, prices) for c in chains]))


def read_chain(targets: list[StrategyTarget], chain_id: int, assets: bool = True, prices: bool = False):
    """One chain of `targets` read (`read_holdings`'s step for it)."""
    return step_activity(
        "read_holdings",
        ReadHoldingsInput(
            chain_id=chain_id,
            keys=[t.key for t in targets if t.key.chain_id == chain_id],
            assets=sorted({t.asset for t in targets if t.key.chain_id == chain_id}) if assets else [],
            prices=prices,
        ),
        result_type=Holdings,
        summary=f"read positions, liquidity and balances on chain {chain_id}",
    )


async def build_and_send(
    op: OperationBase,
    legs: list[BuildMovesInput],
    label: str,
    deposits: bool = False,
    read_back_next: bool = False,
    read_chain: Callable[[int], Awaitable[Holdings]] | None = None,
) -> tuple[list[TxIntent], dict[str, TxOutcome]]:
    """Quote, check and build every leg (all at once), pack each chain's groups into batches,
    and send them through the queue. Nothing is sent unless every leg built. `deposits`: legs
    of deposits only, built by `build_deposit_calls` (whose checks name an allocation's
    shortfall) one leg after another before engine-v2, as a per-token allocation always was."""
    chains = sorted({leg.chain_id for leg in legs})
    if deposits:
        await op.step(f"checking balances and building calls on chains {chains}")
        builds = [
            step_activity(
                "build_deposit_calls",
                BuildDepositsInput(
                    chain_id=leg.chain_id,
                    asset=leg.asset,
                    deposits=[PlannedDeposit(key=m.key, amount=m.amount) for m in leg.moves],
                ),
                result_type=list[list[Call]],
                summary=f"quote and build {leg.asset} deposits on chain {leg.chain_id}",
            )
            for leg in legs
        ]
        built = await together(builds, op.v2)
    else:
        await op.step(f"quoting, checking liquidity and building calls on chains {chains}")
        built = await gather_steps(
            [
                step_activity(
                    "build_moves",
                    leg,
                    result_type=list[list[Call]],
                    summary=f"quote and build {len(leg.moves)} {leg.asset} moves on chain {leg.chain_id}",
                )
                for leg in legs
            ]
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
    return intents, await op.send(intents, effects, read_back_next=read_back_next, read_chain=read_chain)


async def together(awaitables: list, concurrently: bool) -> list:
    """Independent activities started at once (or one after another, as old histories did)."""
    if concurrently:
        return await gather_steps(awaitables)
    return [await a for a in awaitables]


async def gather_steps(awaitables: list) -> list:
    """Steps started at once, their results in order. As local activities (LOCAL_STEPS) every
    one runs to its end before the first failure is raised: a workflow that ended while one of
    its local activities still ran would get that one's result after its closing command, which
    the server refuses, so its task would fail for ever (temporalio/sdk-core#659). Activities
    (histories from before) are gathered as they were: the first failure at once."""
    if not workflow.patched(LOCAL_STEPS):
        return list(await asyncio.gather(*awaitables))
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


def chain_intents(chain_id: int, groups: list, label: str, moves: list[tuple[str, int]]) -> list[TxIntent]:
    """A chain's groups of calls packed into as few transactions as the executor's bounds
    allow, each an intent named for this workflow, so a re-run never sends one twice. Each
    group's `moves` entry (token symbol, base units) tells the queue what the intent is worth,
    which decides whether it goes through the private relay."""
    me = workflow.info().workflow_id
    intents, i = [], 0
    for n, batch in enumerate(pack_batches(groups), start=1):
        moved: dict[str, int] = {}
        for symbol, amount in moves[i : i + len(batch)]:
            moved[symbol] = moved.get(symbol, 0) + amount
        i += len(batch)
        intents.append(
            TxIntent(id=f"{me}/chain-{chain_id}/{label}-{n}", chain_id=chain_id, groups=batch, reply_to=me, moves=moved)
        )
    return intents


def effects_by_intent(intents: list[TxIntent], group_effects: list[dict[str, int]]) -> dict[str, dict[str, int]]:
    """Each intent's planned change per market, from the changes of the groups it carries (in
    order: packing never reorders groups)."""
    out, i = {}, 0
    for intent in intents:
        total: dict[str, int] = {}
        for effect in group_effects[i : i + len(intent.groups)]:
            for market, change in effect.items():
                total[market] = total.get(market, 0) + change
        i += len(intent.groups)
        out[intent.id] = total
    return out


def chain_part(chain_id: int, intents: list[TxIntent], outcomes: dict[str, TxOutcome]) -> ChainPart:
    """One chain's part from its intents' outcomes: the mined hashes, the first failure."""
    mine = [outcomes[i.id] for i in intents if i.chain_id == chain_id]
    mined = [o.transaction.tx_hash for o in mine if o.ok and o.transaction]
    failed = [o for o in mine if not o.ok]
    if not mine:
        return ChainPart(chain_id=chain_id, status="skipped")
    if failed:
        first = failed[0]
        return ChainPart(
            chain_id=chain_id,
            status="failed",
            transactions=mined,
            error=f"{first.intent_id}: {first.error or 'TransactionFailed'}: {first.message}",
        )
    return ChainPart(chain_id=chain_id, status="done", transactions=mined)
