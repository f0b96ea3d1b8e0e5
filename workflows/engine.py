"""EngineWorkflow: one per treasury, long-running, at a fixed id from the config.

It owns the engine's state machine (floor.engine) and runs one operation at a time, each as a
child workflow (allocate, rebalance, harvest, capital request). Every command that changes
what the engine does is a signed command (floor.access): the validator verifies it (domain,
deadline, signature, the signer's role in the engine's role book, nonce, rate) at the
workflow's time, maps it onto the request it carries, checks that against the treasury's
catalogue, the state machine and the cooldowns, and refuses with a reason before anything
enters history; the handler records the nonce before its first await; an accepted request
answers with the operation's workflow id. Accepted commands, role changes and state changes
are appended to the store's audit log off the update's path. A pause is open to anyone: the
`pause_engine` signal (from `temporal workflow signal` or the Web UI) or the `pause` update,
unsigned or signed (rate-limited); a resume is a signed `resume` update: a pause holds the
signer's transaction queues (nothing new is broadcast, what was broadcast is seen through),
pauses the running operation at its next step and pauses the schedules. The state is also
the search attribute FloorEngineState. Continue-as-new, between operations, keeps the
history bounded; the memory (floor.engine.EngineMemory) carries over.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from workflows.allocate import AllocateWorkflow
from workflows.capital import CapitalRequestWorkflow
from workflows.doors import bad_input, refused, validated
from workflows.harvest import HarvestWorkflow
from workflows.panic import PanicExitWorkflow
from workflows.rebalance import RebalanceWorkflow
from workflows.upgrade import new_build_current, next_run_versioning

with workflow.unsafe.imports_passed_through():
    from floor.access import ratelimit
    from floor.access.audit import AuditEntry, AuditRow
    from floor.access.commands import (
        ANONYMOUS,
        CommandRefused,
        SignedCommand,
        UsedNonces,
        Verified,
        config_hash,
        read_command,
        verify,
    )
    from floor.access.ratelimit import LimiterState
    from floor.access.roles import Kind, Role, RoleBook, RoleRefused
    from floor.engine import (
        OPERATION_EVENT,
        EngineMemory,
        EngineState,
        Event,
        Operation,
        OperationRecord,
        RunningOperation,
        cooldown_refusal,
        refusal,
        transition,
    )
    from floor.observations import OperationObservation, observe_operation
    from floor.operations import (
        REQUESTS,
        AllocateRequest,
        CapitalInput,
        CapitalRequest,
        ConfigureCommand,
        EngineAccess,
        EngineCheck,
        EngineConfig,
        EngineInput,
        EngineStatus,
        HarvestInput,
        HarvestResult,
        OperationStarted,
        OperationStep,
        RebalanceInput,
        Request,
        Signal,
        catalogue_problem,
        founded_book,
        pause_signal,
        request_of,
        resume_signal,
        signer_name,
    )
    from floor.panic import PanicExitInput, PanicExitResult
    from floor.planning.plan import allocate_input
    from floor.risk.breakers import (
        ENGINE,
        RECONCILE_PREFIX,
        BreakerChange,
        BreakerEvent,
        BreakerRefused,
        BreakerState,
        ReconcileTrip,
        RiskCheckInput,
        RiskCheckResult,
        RiskSample,
        Trigger,
        accept,
        apply_findings,
        blocked,
        catalogue_scopes,
        change_refusal,
        counted_statuses,
        error_rate_finding,
        findings,
        half_open,
        reconcile_refusal,
        sample_scopes,
        trip,
    )
    from floor.validation import BadRequest, json_text, one_line, parse

ENGINE_STATE = SearchAttributeKey.for_keyword("FloorEngineState")
# Every command but a pause is a signed command (floor.access.commands) since this patch; the
# handlers read an older history's unsigned payloads without it. Validators never run on replay.
SIGNED = "signed-commands"
COMMANDS = {
    Operation.ALLOCATE: Kind.ALLOCATE,
    Operation.REBALANCE: Kind.REBALANCE,
    Operation.HARVEST: Kind.HARVEST,
    Operation.REQUEST_CAPITAL: Kind.REQUEST_CAPITAL,
}
ROLE_CHANGES = {"roles", Kind.GRANT_ROLE.value, Kind.REVOKE_ROLE.value}  # audit kinds that change the book
NOT_LOADED = (
    "the engine has not loaded its role book yet (a run loads it as it starts; a run from before signed"
    " commands when a worker starts, or by its load_access update): retry shortly"
)
CHILDREN = {
    Operation.ALLOCATE: AllocateWorkflow,
    Operation.REBALANCE: RebalanceWorkflow,
    Operation.HARVEST: HarvestWorkflow,
    Operation.REQUEST_CAPITAL: CapitalRequestWorkflow,
}
# While an operation runs, the journal's burst waits for it to end, at most JOURNAL_HOLD_S: its
# start's bookkeeping (two store writes, two activities and two workflow tasks on this worker)
# then lands with its end's, not in the middle of its reads and builds. Everything held is in
# the engine's history already; the store, a mirror for the API and the metrics, has it a
# second later at most.
JOURNAL_HOLD = "journal-holds-during-operations"
JOURNAL_HOLD_S = 1.0
# Engine-side activities (holding queues, pausing schedules) talk to Temporal itself.
DOOR_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn
class EngineWorkflow:
    @workflow.init
    def __init__(self, raw: Any = None) -> None:
        self.problem = ""
        try:
            self.input = parse(EngineInput, raw, "engine input", example='{"catalogue": {...}, "policy": {...}}')
        except BadRequest as exc:
            self.problem = str(exc)
            self.input = None
        self.memory: EngineMemory = self.input.memory if self.input else EngineMemory()
        self.child = None
        self.unsaved: list = []  # transitions not yet in the store
        # Finished operations' summaries for the metrics, stored with their FINISHED transition.
        self.unsaved_operations: list[OperationObservation] = []
        self.unsaved_breakers: list[BreakerEvent] = []  # breaker events not yet in the store
        self.risk_lock = asyncio.Lock()  # one risk check at a time
        self.closing = False
        self.loading_access = False  # the role book is being read from the worker's settings
        self.side_effects = asyncio.Lock()  # pauses and resumes reach queues and schedules in order
        self.positions: dict[str, int] = {}
        self.positions_at = ""
        self.panic_child = None  # a panic exit's child workflow, while it runs
        self.panic_follower: asyncio.Task | None = None

    # -- queries ------------------------------------------------------------------------
    # Queries take no input; whatever is sent (a service's `{}`) is ignored, never an error.
    @workflow.query
    def status(self, _: Any = None) -> EngineStatus:
        return EngineStatus(
            engine_id=workflow.info().workflow_id,
            state=self.memory.state,
            operation=self.memory.operation,
            paused_from=self.memory.paused_from,
            pause_reason=self.memory.pause_reason,
            last=self.memory.results[-1] if self.memory.results else None,
            positions=self.positions,
            positions_read_at=self.positions_at,
            **self._paused_by(),
            breakers=[b for _, b in sorted(self.memory.breakers.items())],
        )

    def _paused_by(self) -> dict:
        """Who paused the engine and since when (a memory carried from before the fields
        existed: the last transition into PAUSED)."""
        if self.memory.state != EngineState.PAUSED:
            return {}
        if self.memory.paused_at is not None:
            return {"paused_by": self.memory.paused_by, "paused_at": self.memory.paused_at}
        pause = next((t for t in reversed(self.memory.transitions) if t.cause == Event.PAUSE.value), None)
        return {"paused_by": pause.actor, "paused_at": pause.at} if pause else {}

    def _show(self) -> None:
        """The Web UI's current details: the state, who paused and why since when, the running
        operation and its step, the breakers not CLOSED and why. Not a command: replays alike."""
        memory, op = self.memory, self.memory.operation
        lines = [f"**{memory.state.value}**"]
        paused = self._paused_by()
        if paused:
            lines[0] += (
                f" by {paused['paused_by']} since {paused['paused_at'].isoformat(timespec='seconds')}:"
                f" {memory.pause_reason or 'no reason given'}"
            )
        if op is not None:
            lines.append(f"operation {op.workflow_id} by {op.by}: {op.step}")
        if memory.panic is not None:
            lines.append(f"panic exit {memory.panic.workflow_id} by {memory.panic.by}: {memory.panic.step}")
        for scope, b in sorted(memory.breakers.items()):
            lines.append(
                f"breaker {scope} {b.state.value} since {b.since.isoformat(timespec='seconds')}"
                f" ({b.trigger.value}, by {b.by}): {b.reason}"
            )
        if memory.results:
            last = memory.results[-1]
            lines.append(f"last: {last.kind.value} {last.status}: {last.summary[:300]}")
        workflow.set_current_details("\n\n".join(lines))

    @workflow.query
    def history(self, _: Any = None) -> list:
        """Transitions (bounded, oldest first) and finished operations."""
        return [t.model_dump(mode="json") for t in self.memory.transitions]

    @workflow.query
    def breakers(self, _: Any = None) -> list:
        """The breakers not CLOSED, by scope."""
        return [b.model_dump(mode="json") for _, b in sorted(self.memory.breakers.items())]

    @workflow.query
    def results(self, _: Any = None) -> list:
        return [r.model_dump(mode="json") for r in self.memory.results]

    @workflow.query
    def config(self, _: Any = None) -> EngineConfig | None:
        """The catalogue and policy the engine runs with (None: started with bad input)."""
        return EngineConfig(catalogue=self.input.catalogue, policy=self.input.policy) if self.input else None

    # -- operations, by update ----------------------------------------------------------
    @workflow.update
    async def allocate(self, raw: Any = None) -> OperationStarted:
        return await self._start(Operation.ALLOCATE, raw)

    @allocate.validator
    def _check_allocate(self, raw: Any = None) -> None:
        self._check(Operation.ALLOCATE, raw)

    @workflow.update
    async def rebalance(self, raw: Any = None) -> OperationStarted:
        return await self._start(Operation.REBALANCE, raw)

    @rebalance.validator
    def _check_rebalance(self, raw: Any = None) -> None:
        self._check(Operation.REBALANCE, raw)

    @workflow.update
    async def harvest(self, raw: Any = None) -> OperationStarted:
        return await self._start(Operation.HARVEST, raw)

    @harvest.validator
    def _check_harvest(self, raw: Any = None) -> None:
        self._check(Operation.HARVEST, raw)

    @workflow.update
    async def request_capital(self, raw: Any = None) -> OperationStarted:
        return await self._start(Operation.REQUEST_CAPITAL, raw)

    @request_capital.validator
    def _check_request_capital(self, raw: Any = None) -> None:
        self._check(Operation.REQUEST_CAPITAL, raw)

    # -- the panic exit: the one operation a pause lets through, and keeps paused ----------
    @workflow.update
    async def panic_exit(self, raw: Any = None) -> OperationStarted:
        """An ADMIN's signed panic exit: pause (if not paused yet: queues held, the running
        operation paused at its next step, schedules paused), then unwind every position of
        the strategy on every chain (PanicExitWorkflow), its transactions let through the
        queues' hold. The engine stays PAUSED."""
        verified, limiter = self._verified(Kind.PANIC_EXIT, raw)
        self._panic_refusal_raised()
        self._record(verified, limiter)
        by = signer_name(verified, self.memory.book) or "unnamed"
        reason = getattr(verified.fields, "reason", "")
        n = self.memory.operations_started + 1
        workflow_id = f"{workflow.info().workflow_id}/{Operation.PANIC_EXIT.value}-{n}"
        running = RunningOperation(kind=Operation.PANIC_EXIT, workflow_id=workflow_id, started_at=workflow.now(), by=by)
        self.memory = self.memory.model_copy(update={"operations_started": n, "panic": running})
        if self.memory.state != EngineState.PAUSED:
            await self._pause_or_resume(Event.PAUSE, {"by": by, "reason": f"panic exit: {reason}"}, "panic")
        self._show()
        self.panic_child = await workflow.start_child_workflow(
            PanicExitWorkflow.run,
            PanicExitInput(targets=self.input.catalogue.targets, by=by, reason=reason).model_dump(mode="json"),
            id=workflow_id,
            static_summary=f"panic exit by {by}: {reason or 'no reason given'}",
        )
        self.panic_follower = asyncio.create_task(self._follow_panic())
        return OperationStarted(kind=Operation.PANIC_EXIT, workflow_id=workflow_id)

    @panic_exit.validator
    def _check_panic_exit(self, raw: Any = None) -> None:
        self._verified(Kind.PANIC_EXIT, raw)
        self._panic_refusal_raised()

    def _panic_refusal_raised(self) -> None:
        if self.memory.panic is not None:
            raise refused(f"a panic exit is running: {self.memory.panic.workflow_id}")
        if not self.input.catalogue.targets:
            raise refused("the strategy has no markets: nothing to exit")

    async def _follow_panic(self) -> None:
        """Wait for the panic exit, record how it ended; the engine stays as it is (PAUSED)."""
        op = self.memory.panic
        status, summary, acted = "failed", "", False
        result: PanicExitResult | None = None
        try:
            result = await self.panic_child
            status, summary, acted = result.status, result.summary, result.acted
            if result.positions:
                self.positions = dict(result.positions)
                self.positions_at = workflow.now().isoformat(timespec="seconds")
        except ChildWorkflowError as err:
            summary = failure_text(err)
        self._observe(op, workflow.now(), result, summary)  # the metrics count it as any operation
        record = OperationRecord(
            kind=op.kind,
            workflow_id=op.workflow_id,
            started_at=op.started_at,
            finished_at=workflow.now(),
            status=status,
            acted=acted,
            summary=summary[:1000],
        )
        self.memory = self.memory.model_copy(
            update={"panic": None, "results": ([*self.memory.results, record])[-self.input.policy.max_results :]}
        )
        self.panic_child = None
        self._audit("panic-exit", reason=f"{op.workflow_id} {status}: {summary}")
        self._show()

    def _check(self, kind: Operation, raw: Any) -> Request:
        """An operation command's validator: a signed command of the update's kind (signature,
        role, freshness, replay, rate), as the request it carries (its `by`: the signer's name),
        then that request's checks."""
        verified, _ = self._verified(COMMANDS[kind], raw)
        request = self._request_of(kind, verified)
        self._check_request(kind, request)
        return request

    def _request_of(self, kind: Operation, verified: Verified) -> Request:
        try:
            return request_of(kind, verified, signer_name(verified, self.memory.book))
        except ValueError as exc:  # a field the request model refuses (pydantic's errors are ValueErrors)
            raise bad_input(f"not a valid {kind.value} request: {exc}") from None

    def _check_request(self, kind: Operation, request: Request) -> None:
        """A request's checks: a deadline still ahead, then the state machine, the catalogue,
        the cooldowns and the breakers."""
        if isinstance(request, CapitalRequest) and request.deadline is not None:
            now = workflow.now()
            if request.deadline <= now:
                raise bad_input(
                    f"not a valid {kind.value} request: deadline: {request.deadline.isoformat()} has passed"
                    f" (now {now.isoformat(timespec='seconds')})"
                )
        running = self.memory.operation.workflow_id if self.memory.operation else None
        reason = refusal(self.memory.state, OPERATION_EVENT[kind], running)
        reason = reason or catalogue_problem(request, self.input.catalogue)
        reason = reason or cooldown_refusal(kind, self.memory, self.input.policy, workflow.now())
        reason = reason or self._breaker_refusal(request)
        if reason:
            raise refused(reason)

    # -- signed commands ------------------------------------------------------------------
    def _verified(self, kind: Kind, raw: Any) -> tuple[Verified, LimiterState]:
        """The signed command in `raw`, verified for this engine (domain, deadline, signature,
        role, nonce) at the workflow's time, and the limiter's state with it counted; refused
        with the one line naming what failed. Pure: validators and handlers both run it."""
        self._check_started()
        try:  # a payload that is not a signed command at all does not fit the door
            if not isinstance(raw, dict | SignedCommand):
                raise CommandRefused(
                    "not a signed command: expected a JSON object with kind, domain, message, signer and signature"
                    f" (`floor sign` makes one), got {json_text(raw, 80)}"
                )
            read_command(raw)
        except CommandRefused as exc:
            raise bad_input(str(exc)) from None
        book, domain = self.memory.book, self.memory.domain
        if book is None or domain is None:
            raise refused(NOT_LOADED)
        now = int(workflow.now().timestamp())
        try:
            verified = verify(raw, domain, book, now, self.memory.used_nonces, expected=kind)
        except CommandRefused as exc:
            raise refused(str(exc)) from None
        decision = ratelimit.check(self.memory.limiter, verified.limit_key, kind, now)
        if not decision.allowed:
            raise refused(ratelimit.refusal_text(kind, decision.retry_after))
        return verified, decision.state

    def _accept(self, kind: Kind, raw: Any, note: str = "") -> Verified:
        """A handler's first step, before its first await: the validator's verdict derived
        again (an identical command accepted in the same task is now a replay), then its
        nonce and its place in the rate limit recorded and its audit entry queued."""
        verified, limiter = self._verified(kind, raw)
        self._record(verified, limiter, note)
        return verified

    def _record(self, verified: Verified, limiter: LimiterState, note: str = "") -> None:
        used = self.memory.used_nonces
        if verified.signer is not None:
            now = int(workflow.now().timestamp())
            used = used.add(verified.signer, verified.fields.nonce, verified.fields.deadline, now)
        self.memory = self.memory.model_copy(update={"used_nonces": used, "limiter": limiter})
        reason = note or getattr(verified.fields, "reason", "")
        self._audit(
            verified.kind.value,
            signer=verified.signer or "",
            role=verified.role.name if verified.role is not None else "",
            digest=verified.digest,
            reason=reason,
            own_id=True,
        )

    def _audit(
        self, kind: str, *, reason: str, signer: str = "", role: str = "", digest: str = "", own_id: bool = False
    ) -> None:
        """An audit entry queued for the store (the journal appends it, off the update's path).
        A command's entry is named by the update that carried it; others by their count."""
        engine_id = workflow.info().workflow_id
        n = self.memory.audit_count + 1
        update = workflow.current_update_info()
        entry_id = f"{engine_id}/{update.id}" if own_id and update is not None else f"{engine_id}/audit-{n}"
        row = AuditRow(
            at=int(workflow.now().timestamp()),
            workflow_id=engine_id[:300],
            signer=signer,
            role=role,
            kind=kind[:40],
            digest=digest,
            outcome="accepted",
            reason=reason[:1000],
        )
        self.memory = self.memory.model_copy(
            update={
                "audit_pending": [*self.memory.audit_pending, AuditEntry(id=entry_id[:300], row=row)],
                "audit_count": n,
            }
        )

    async def _load_access(self) -> None:
        """The founders, the command domain and (a first run) the strategy, from the worker's
        own settings: never from the start input, which anyone reaching Temporal can write. A
        worker refuses to serve an engine at another id than its configured one: the run fails."""
        try:
            access = await workflow.execute_local_activity(
                "engine_access",
                None,
                result_type=EngineAccess,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(maximum_attempts=3),
                summary="read the founders, the command domain and the strategy from the worker's settings",
            )
        except ActivityError as err:
            raise ApplicationError(failure_text(err), type="EngineRefused", non_retryable=True) from None
        now = int(workflow.now().timestamp())
        update: dict = {"book": founded_book(access, now), "domain": access.domain}
        if workflow.info().continued_run_id is None:  # a first run: nothing of its input is trusted
            self.input = self.input.model_copy(update={"catalogue": access.catalogue, "policy": access.policy})
            update |= {"used_nonces": UsedNonces(), "limiter": LimiterState(), "audit_pending": []}
        self.memory = self.memory.model_copy(update=update)
        founders = ", ".join(f"{a} {g.role.name}" for a, g in update["book"].members.items())
        self._audit("roles", reason=f"role book founded from the worker's config: {founders}")

    @workflow.update
    async def load_access(self, _: Any = None) -> str:
        """Load the role book into a run from before signed commands, which refuses every signed
        command until it has one (the worker asks at its start). Open to anyone: what it loads
        comes from the worker's own settings, never from the caller."""
        if self.memory.book is not None or self.loading_access:
            return "the role book is already loaded"
        self.loading_access = True
        try:
            await self._load_access()
        finally:
            self.loading_access = False
        return "the role book is loaded from the worker's settings"

    @load_access.validator
    def _check_load_access(self, raw: Any = None) -> None:
        self._check_started()
        if raw not in (None, {}):
            raise bad_input(f"load_access takes no input, not {str(raw)[:80]!r}")

    @workflow.query
    def roles(self, _: Any = None) -> dict | None:
        """Who may command the engine (None: not loaded yet)."""
        return self.memory.book.model_dump(mode="json") if self.memory.book is not None else None

    def _check_started(self) -> None:
        """Every update of an engine started with bad input is refused with that input's problem
        (the run has failed at once; an update in its first task must not reach the state)."""
        if self.input is None:
            raise bad_input(self.problem)

    def _open_targets(self) -> list:
        """The strategy's targets no open or half-open breaker keeps capital away from."""
        return [t for t in self.input.catalogue.targets if blocked(self.memory.breakers, t.key) is None]

    def _breaker_refusal(self, request: Request) -> str | None:
        """An allocation whose every market for a token is behind a breaker. A capital request
        is not refused here: idle funds need no market (nor a price), so the request plans
        around the breakers and says so if what is left cannot cover it."""
        wanted = []
        if isinstance(request, AllocateRequest):
            wanted = [(a.chain_id, a.asset) for a in request.amounts]
        for chain_id, asset in wanted:
            targets = self.input.catalogue.targets_of(chain_id, asset)
            if targets and not any(blocked(self.memory.breakers, t.key) is None for t in targets):
                why = "; ".join(
                    f"{b.scope} is {b.state.value}: {b.reason}"
                    for b in dict.fromkeys(blocked(self.memory.breakers, t.key) for t in targets)
                )
                return f"every {asset} market on chain {chain_id} is behind a circuit breaker ({why})"
        return None

    async def _start(self, kind: Operation, raw: Any) -> OperationStarted:
        if workflow.patched(SIGNED):
            verified, limiter = self._verified(COMMANDS[kind], raw)
            request = self._request_of(kind, verified)
            self._check_request(kind, request)  # another command of this task may have started first
            self._record(verified, limiter)
        else:  # a history from before signed commands: the request as it was sent
            request = parse(REQUESTS[kind], raw, f"{kind.value} request")
        n = self.memory.operations_started + 1
        workflow_id = f"{workflow.info().workflow_id}/{kind.value}-{n}"
        self._transition(OPERATION_EVENT[kind], request.by, f"{kind.value} {workflow_id}", request.reason)
        self.memory = self.memory.model_copy(
            update={
                "operations_started": n,
                "operation": RunningOperation(
                    kind=kind, workflow_id=workflow_id, started_at=workflow.now(), by=request.by or "unnamed"
                ),
            }
        )
        self._show()
        self.child = await workflow.start_child_workflow(
            CHILDREN[kind].run,
            self._child_input(kind, request).model_dump(mode="json"),
            id=workflow_id,
            static_summary=f"{kind.value} by {request.by or 'unnamed'}: {request.reason or 'no reason given'}",
        )
        if self.memory.state == EngineState.PAUSED:  # a pause came while the child was starting
            await self.child.signal("pause_engine", {"reason": self.memory.pause_reason, "by": "engine"})
        return OperationStarted(kind=kind, workflow_id=workflow_id)

    def _child_input(self, kind: Operation, request: Request):
        catalogue = self.input.catalogue
        targets = self._open_targets()  # what a breaker guards is routed around
        if kind == Operation.ALLOCATE:
            if not isinstance(request, AllocateRequest):
                raise TypeError(f"allocate needs an AllocateRequest, not {type(request).__name__}")
            return allocate_input(catalogue, request.amounts, targets)
        if kind == Operation.REBALANCE:
            return RebalanceInput(
                targets=targets,
                threshold_bps=catalogue.rebalance_drift_bps,
                by=request.by,
                weights_of=catalogue.weights_of,
                caps=catalogue.caps,
                min_trade_value=catalogue.min_trade_value,
            )
        if kind == Operation.HARVEST:
            return HarvestInput(targets=targets, baseline=self.memory.harvest_baseline, by=request.by)
        if not isinstance(request, CapitalRequest):
            raise TypeError(f"request_capital needs a CapitalRequest, not {type(request).__name__}")
        behind = dict.fromkeys(
            b
            for t in catalogue.targets_of(request.chain_id, request.asset)
            if (b := blocked(self.memory.breakers, t.key)) is not None
        )
        return CapitalInput(
            request=request,
            targets=targets,
            decimals=catalogue.chain(request.chain_id).tokens.get(request.asset),
            blocked=[f"{b.scope} is {b.state.value}: {b.reason}" for b in behind],
        )

    @workflow.signal(
        name="internal_operation_step",
        description="Internal: the engine's own operations report their step here. Not for people or services.",
    )
    def internal_operation_step(self, raw: Any = None) -> None:
        """Internal: the running operation's child workflow reports its current step (for the
        status query and the Web UI); anything that is not a step is logged and ignored."""
        self._operation_step(raw)

    def _operation_step(self, raw: Any) -> None:
        try:
            step = parse(OperationStep, raw, "operation step")
        except BadRequest as exc:
            workflow.logger.warning(f"operation step ignored: {exc}")
            return
        op = self.memory.operation
        if op is not None and op.workflow_id == step.workflow_id:
            self.memory = self.memory.model_copy(update={"operation": op.model_copy(update={"step": step.step})})
            self._show()
        panic = self.memory.panic
        if panic is not None and panic.workflow_id == step.workflow_id:
            self.memory = self.memory.model_copy(update={"panic": panic.model_copy(update={"step": step.step})})
            self._show()

    # -- pause and resume -----------------------------------------------------------------
    # A pause is open to anyone, signed or not: whatever its payload (a bare string is the
    # reason, anything else not a Signal is recorded as its JSON text), the engine pauses; a
    # pause while paused answers (the update) or logs (the signal) since when. The pause
    # update is rate-limited (the signal cannot be refused). A resume is a signed command.
    @workflow.signal(description='Pause the engine. Input: {"by": "...", "reason": "..."} or just the reason.')
    async def pause_engine(self, raw: Any = None) -> None:
        await self._pause_or_resume(Event.PAUSE, raw, "signal")

    @workflow.signal(description="No longer resumes the engine: a resume is the signed `resume` update.")
    async def resume_engine(self, raw: Any = None) -> None:
        """Ignored since signed commands: a signal cannot be refused, so anyone who reaches
        Temporal could resume an engine an incident paused; a resume is the `resume` update, an
        OPERATOR's signed command. Histories from before it resumed here (patched)."""
        if workflow.patched(SIGNED):
            workflow.logger.warning("resume_engine signal ignored: a resume is a signed command (the resume update)")
            return
        await self._pause_or_resume(Event.RESUME, raw, "signal")

    @workflow.update
    async def pause(self, raw: Any = None) -> str:
        if workflow.patched(SIGNED):
            raw = self._accept_pause(raw)
        return await self._pause_or_resume(Event.PAUSE, raw, "cli")

    @pause.validator
    def _check_pause(self, raw: Any = None) -> None:
        self._pause_of(raw)

    def _pause_of(self, raw: Any) -> tuple[dict, Verified | None, LimiterState]:
        """A pause's who and why: a signed pause's verified signer (named as in the book), or
        what an unsigned one (or one whose signature does not verify: a pause is never refused
        for its signature) says; refused only by the rate limit (its caller: the member who
        signed, else ANONYMOUS)."""
        self._check_started()
        now = int(workflow.now().timestamp())
        verified = None
        signal = pause_signal(raw)
        if isinstance(raw, dict) and {"kind", "domain", "message"} <= raw.keys():
            message = raw["message"] if isinstance(raw["message"], dict) else {}
            signal = pause_signal(message.get("reason"))
            book, domain = self.memory.book, self.memory.domain
            try:
                if book is None or domain is None:
                    raise CommandRefused(NOT_LOADED)
                verified = verify(raw, domain, book, now, self.memory.used_nonces, expected=Kind.PAUSE)
                signal = signal.model_copy(update={"by": signer_name(verified, book)})
            except CommandRefused as exc:
                claimed = raw.get("signer") if isinstance(raw.get("signer"), str) else "nobody"
                signal = signal.model_copy(update={"by": f"unverified {claimed[:42]} ({str(exc)[:120]})"})
        caller = verified.limit_key if verified is not None else ANONYMOUS
        decision = ratelimit.check(self.memory.limiter, caller, Kind.PAUSE, now)
        if not decision.allowed:
            raise refused(ratelimit.refusal_text(Kind.PAUSE, decision.retry_after))
        return signal.model_dump(), verified, decision.state

    def _accept_pause(self, raw: Any) -> dict:
        signal, verified, limiter = self._pause_of(raw)
        if verified is not None:
            self._record(verified, limiter)
        else:
            self.memory = self.memory.model_copy(update={"limiter": limiter})
            self._audit("pause", reason=f"unsigned, by {signal['by'] or 'unnamed'}: {signal['reason']}", own_id=True)
        return signal

    @workflow.update
    async def resume(self, raw: Any = None) -> str:
        if workflow.patched(SIGNED):
            verified, limiter = self._verified(Kind.RESUME, raw)
            signal = self._signal_of(verified)
            self._resume_refusal_raised()
            self._record(verified, limiter)
            raw = signal
        return await self._pause_or_resume(Event.RESUME, raw, "cli")

    @resume.validator
    def _check_resume(self, raw: Any = None) -> None:
        self._verified(Kind.RESUME, raw)
        self._resume_refusal_raised()

    def _signal_of(self, verified: Verified) -> dict:
        return {"by": signer_name(verified, self.memory.book), "reason": getattr(verified.fields, "reason", "")}

    def _resume_refusal_raised(self) -> None:
        try:
            self._resume_signal(None)
        except ValueError as exc:
            raise refused(str(exc)) from None

    def _resume_signal(self, raw: Any) -> Signal:
        """The resume's who and why; BadRequest for a payload that is not one, ValueError when
        the engine cannot resume now."""
        signal = resume_signal(raw)
        reason = refusal(self.memory.state, Event.RESUME)
        if not reason and self.memory.panic is not None:
            reason = f"a panic exit is running ({self.memory.panic.workflow_id}): the pause is kept until it ends"
        engine_breaker = self.memory.breakers.get(ENGINE)
        if not reason and engine_breaker is not None:
            reason = (
                f"the engine's circuit breaker is {engine_breaker.state.value} ({engine_breaker.reason}): "
                "half-open it and let a risk check pass first"
            )
        reason = reason or reconcile_refusal(self.memory.breakers)  # a discrepancy no one accepted
        if reason:
            raise ValueError(reason)
        return signal

    def _already_paused(self) -> str:
        pause = next(
            (
                t
                for t in reversed(self.memory.transitions)
                if t.to_state == EngineState.PAUSED and t.from_state != EngineState.PAUSED
            ),
            None,
        )
        if pause is None:
            return f"already paused: {self.memory.pause_reason or 'no reason given'}"
        return (
            f"already paused since {pause.at.isoformat(timespec='seconds')} by {pause.actor}:"
            f" {pause.reason or 'no reason given'}"
        )

    async def _pause_or_resume(self, event: Event, raw: Any | None, door: str) -> str:
        async with self.side_effects:
            if self.input is None:  # started with bad input: the run fails at once
                return f"ignored: {self.problem}"
            if event == Event.PAUSE:
                signal = pause_signal(raw)
                if self.memory.state == EngineState.PAUSED:
                    note = self._already_paused()
                    workflow.logger.info(f"pause by {signal.by or f'unnamed ({door})'}: {note}")
                    return note
            else:
                try:
                    signal = self._resume_signal(raw)
                except ValueError as exc:  # a signal cannot be refused: logged and ignored
                    workflow.logger.warning(f"resume ignored: {exc}")
                    return f"ignored: {exc}"
            actor = signal.by or f"unnamed ({door})"
            self._transition(event, actor, event.value, signal.reason)
            paused = event == Event.PAUSE
            note = f"{'paused' if paused else 'resumed'} by {actor}: {signal.reason or 'no reason given'}"
            # Queues first: from here nothing new is broadcast, whatever step the operation is on.
            await workflow.execute_activity(
                "hold_queues",
                {"held": paused, "reason": note},
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=DOOR_RETRY,
                summary=f"{'hold' if paused else 'release'} the signer's transaction queues",
            )
            if self.child is not None:
                try:
                    await self.child.signal("pause_engine" if paused else "resume_engine", signal.model_dump())
                except ApplicationError:
                    # The operation ended while the signal was on its way (its end not yet seen
                    # here): nothing left to pause. Before the patch the pause or resume failed
                    # with it (a signal's: the engine's run).
                    if not workflow.patched("pause-an-ended-operation"):
                        raise
            await workflow.execute_activity(
                "pause_schedules",
                {"engine_id": workflow.info().workflow_id, "paused": paused, "note": note},
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=DOOR_RETRY,
                summary=f"{'pause' if paused else 'unpause'} the engine's schedules",
            )
            return note

    # -- circuit breakers -------------------------------------------------------------------
    @workflow.update
    async def check_risk(self, raw: Any = None) -> RiskCheckResult:
        """Read the chains (`observe_risk`), open every breaker something trips, close a
        half-open one whose probe passes; an engine-scope trip pauses the engine. Runs while
        an operation does (that is when a drain matters) and while the engine is paused."""
        if workflow.patched(SIGNED):
            self._accept(Kind.CHECK_RISK, raw)
        async with self.risk_lock:
            keys = [t.key for t in self.input.catalogue.targets]
            sample = await workflow.execute_activity(
                "observe_risk",
                RiskCheckInput(keys=keys, policy=self.input.policy.breakers),
                result_type=RiskSample,
                start_to_close_timeout=timedelta(seconds=120),
                retry_policy=DOOR_RETRY,
                summary=f"read TVL, rates, base fees and prices of {len(keys)} markets",
            )
            finished = [(r.finished_at, r.status) for r in self.memory.results]
            statuses = counted_statuses(finished, self.memory.breakers, self.memory.errors_counted_from)
            found = findings(sample, self.input.policy.breakers, statuses)
            checked = sample_scopes(sample)
            outside = [s for s in self._outside_strategy() if self.memory.breakers[s].state == BreakerState.HALF_OPEN]
            if outside and workflow.patched("breakers-outside-the-strategy"):
                checked |= set(outside)  # nothing there is read, so nothing trips: the probe passes
            book, events = apply_findings(self.memory.breakers, found, checked, workflow.now())
            self._breaker_events(book, events)
            engine_opened = any(e.scope == ENGINE and e.to_state == BreakerState.OPEN for e in events)
            if engine_opened and self.memory.state != EngineState.PAUSED:
                reason = self.memory.breakers[ENGINE].reason
                await self._pause_or_resume(Event.PAUSE, {"by": "circuit-breaker", "reason": reason}, "breaker")
            return RiskCheckResult(
                block_numbers={c.chain_id: c.block_number for c in sample.chains},
                events=events,
                breakers=list(self.memory.breakers.values()),
            )

    @check_risk.validator
    def _check_check_risk(self, raw: Any = None) -> None:
        """A signed check_risk command (an OPERATOR's, or the worker's scheduler service's)."""
        self._verified(Kind.CHECK_RISK, raw)

    @workflow.update
    def half_open_breaker(self, raw: Any = None) -> BreakerEvent:
        """An operator asks for a probe of an open breaker (the next risk check decides)."""
        change = self._breaker_change(Kind.HALF_OPEN_BREAKER, raw, "breaker change")
        if workflow.patched(SIGNED):
            self._check_half_open(raw)  # another command of this task may have changed it
            self._accept(Kind.HALF_OPEN_BREAKER, raw)
        book, event = half_open(self.memory.breakers, change.scope, change.by, change.reason, workflow.now())
        self._breaker_events(book, [event])
        return event

    @half_open_breaker.validator
    def _check_half_open(self, raw: Any = None) -> None:
        change = self._signed_change(Kind.HALF_OPEN_BREAKER, raw)
        reason = self._scope_refusal(change.scope, "half_open")
        if reason:
            raise refused(reason)
        try:
            half_open(self.memory.breakers, change.scope, change.by, change.reason, workflow.now())
        except BreakerRefused as exc:
            raise refused(str(exc)) from None

    def _signed_change(self, kind: Kind, raw: Any) -> BreakerChange:
        verified, _ = self._verified(kind, raw)
        fields = verified.fields
        try:
            return BreakerChange(
                scope=getattr(fields, "scope", ""),
                by=signer_name(verified, self.memory.book),
                reason=getattr(fields, "reason", ""),
            )
        except ValueError as exc:  # pydantic's: a breaker change says why
            raise bad_input(f"not a valid {kind.value} command: {one_line(exc)}") from None

    def _breaker_change(self, kind: Kind, raw: Any, what: str) -> BreakerChange:
        """A handler's change: from its signed command, or (a history from before) as sent."""
        if workflow.patched(SIGNED):
            return self._signed_change(kind, raw)
        return parse(BreakerChange, raw, what)

    def _known_scopes(self) -> list[str]:
        """The chain and protocol scopes of the strategy's markets: what a risk check reads."""
        return catalogue_scopes(t.key for t in self.input.catalogue.targets)

    def _outside_strategy(self) -> list[str]:
        """Chain and protocol breakers not CLOSED whose scope the strategy no longer has (or never
        had: opened by hand before scopes were checked): no risk check reads them."""
        known = self._known_scopes()
        return [
            s
            for s in sorted(self.memory.breakers)
            if s not in known and s != ENGINE and not s.startswith(RECONCILE_PREFIX)
        ]

    def _scope_refusal(self, scope: str, action: str) -> str | None:
        """A scope the strategy does not have, the engine's (not tripped by hand) or a
        reconciliation's (closed by an acceptance); one outside the strategy but open can be
        half-opened, and the next risk check closes it (nothing there can trip)."""
        known = self._known_scopes() + (self._outside_strategy() if action == "half_open" else [])
        return change_refusal(scope, action, known)

    @workflow.update
    def trip_breaker(self, raw: Any = None) -> BreakerEvent:
        """An operator opens a breaker by hand: its scope is routed around from now on."""
        change = self._breaker_change(Kind.TRIP_BREAKER, raw, "breaker change")
        if workflow.patched(SIGNED):
            self._check_trip(raw)
            self._accept(Kind.TRIP_BREAKER, raw)
        book, event = trip(self.memory.breakers, change.scope, change.by, change.reason, workflow.now())
        self._breaker_events(book, [event])
        return event

    @trip_breaker.validator
    def _check_trip(self, raw: Any = None) -> None:
        change = self._signed_change(Kind.TRIP_BREAKER, raw)
        reason = self._scope_refusal(change.scope, "trip")
        if reason:
            raise refused(reason)
        try:
            trip(self.memory.breakers, change.scope, change.by, change.reason, workflow.now())
        except BreakerRefused as exc:
            raise refused(str(exc)) from None

    @workflow.update
    async def accept_reconciliation(self, raw: Any = None) -> BreakerEvent:
        """After an operator's acceptance is in the store (`floor reconcile --accept ID` or
        `--accept-chain ID`): close that reconciliation's breaker, once the store holds nothing
        open there any more (asked, not taken on the caller's word)."""
        change = self._breaker_change(Kind.ACCEPT_RECONCILIATION, raw, "acceptance")
        if workflow.patched(SIGNED):
            self._check_accept_reconciliation(raw)
            self._accept(Kind.ACCEPT_RECONCILIATION, raw)
        still_open = await workflow.execute_activity(
            "reconciliation_open",
            change.scope,
            result_type=str,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DOOR_RETRY,
            summary=f"is anything still open at {change.scope}?",
        )
        if still_open:
            raise refused(f"{change.scope} stays OPEN: {still_open}")
        try:
            book, event = accept(self.memory.breakers, change.scope, change.by, change.reason, workflow.now())
        except BreakerRefused as exc:  # closed meanwhile by another acceptance
            raise refused(str(exc)) from None
        self._breaker_events(book, [event])
        return event

    @accept_reconciliation.validator
    def _check_accept_reconciliation(self, raw: Any = None) -> None:
        change = self._signed_change(Kind.ACCEPT_RECONCILIATION, raw)
        try:
            accept(self.memory.breakers, change.scope, change.by, change.reason, workflow.now())
        except BreakerRefused as exc:
            raise refused(str(exc)) from None

    @workflow.signal(
        name="internal_reconcile_breakers",
        description="Internal: a reconciliation run opens its breakers here. Not for people or services.",
    )
    async def internal_reconcile_breakers(self, raw: Any = None) -> None:
        """Internal: a reconciliation found discrepancies of its trip size (or a chain the engine
        did not know): open a `reconcile:` breaker for each and pause the engine. Anything else
        is logged and ignored."""
        try:
            trip_ = parse(ReconcileTrip, raw, "reconciliation trip")
        except BadRequest as exc:
            workflow.logger.warning(f"reconciliation trip ignored: {exc}")
            return
        if self.input is None:
            return
        found = [f for f in trip_.findings if f.scope.startswith(RECONCILE_PREFIX) and f.trigger == Trigger.RECONCILE]
        book, events = apply_findings(
            self.memory.breakers, found, set(), workflow.now(), f"reconciliation {trip_.run_id}"
        )
        self._breaker_events(book, events)
        if any(f.scope in self.memory.breakers for f in found) and self.memory.state != EngineState.PAUSED:
            await self._pause_or_resume(
                Event.PAUSE, {"by": "circuit-breaker", "reason": trip_.pause_reason[:500]}, "breaker"
            )

    def _breaker_events(self, book: dict, events: list[BreakerEvent]) -> None:
        update: dict = {"breakers": book}
        for e in events:
            if e.scope == ENGINE and e.to_state == BreakerState.CLOSED:
                update["errors_counted_from"] = e.at
        self.memory = self.memory.model_copy(update=update)
        self.unsaved_breakers.extend(events)
        self._show()
        for e in events:
            workflow.logger.warning(
                f"circuit breaker {e.scope}: {e.from_state.value} -> {e.to_state.value}: {e.reason}"
            )

    # -- configuration --------------------------------------------------------------------
    @workflow.update
    def configure(self, raw: Any = None) -> None:
        """The config's catalogue and policy, sent when they change (`floor schedules apply`):
        an ADMIN's signed configure command whose configHash is the configuration's it carries
        (`{"command": ..., "config": ...}`); the memory stays the engine's own. Both parts are
        required (EngineConfig): a part left out is refused, never reset to its defaults."""
        if workflow.patched(SIGNED):
            new, verified, limiter = self._signed_configuration(raw)
            self._record(verified, limiter)
            self.input = new
        else:  # a history from before signed commands: the configuration as sent
            self.input = self._configured(raw)
        self.problem = ""

    def _configured(self, raw: Any) -> EngineInput:
        config = parse(EngineConfig, raw, "engine configuration", example='{"catalogue": {...}, "policy": {...}}')
        return EngineInput(catalogue=config.catalogue, policy=config.policy, memory=self.memory)

    def _signed_configuration(self, raw: Any) -> tuple[EngineInput, Verified, LimiterState]:
        try:
            payload = parse(ConfigureCommand, raw, "configure", example='{"command": {...}, "config": {...}}')
            new = self._configured(payload.config)
        except BadRequest as exc:
            raise bad_input(str(exc)) from None
        verified, limiter = self._verified(Kind.CONFIGURE, payload.command)
        carried = config_hash(payload.config)
        if getattr(verified.fields, "configHash", None) != carried:
            raise refused(
                f"the signed configHash {getattr(verified.fields, 'configHash', '')} is not the configuration's"
                f" ({carried}): the configuration changed after signing"
            )
        if self.input is not None and (new.catalogue, new.policy) == (self.input.catalogue, self.input.policy):
            raise refused("nothing to change")
        return new, verified, limiter

    @configure.validator
    def _check_configure(self, raw: Any = None) -> None:
        self._signed_configuration(raw)

    # -- roles ----------------------------------------------------------------------------
    @workflow.update
    def grant_role(self, raw: Any = None) -> str:
        """An ADMIN gives an address a role (a new member, a promotion or a demotion)."""
        verified, limiter, book, note = self._role_change(Kind.GRANT_ROLE, raw)
        self._record(verified, limiter, note)
        self.memory = self.memory.model_copy(update={"book": book})
        return note

    @grant_role.validator
    def _check_grant_role(self, raw: Any = None) -> None:
        self._role_change(Kind.GRANT_ROLE, raw)

    @workflow.update
    def revoke_role(self, raw: Any = None) -> str:
        """An ADMIN takes an address's role away (never the last ADMIN's)."""
        verified, limiter, book, note = self._role_change(Kind.REVOKE_ROLE, raw)
        self._record(verified, limiter, note)
        self.memory = self.memory.model_copy(update={"book": book})
        return note

    @revoke_role.validator
    def _check_revoke_role(self, raw: Any = None) -> None:
        self._role_change(Kind.REVOKE_ROLE, raw)

    def _role_change(self, kind: Kind, raw: Any) -> tuple[Verified, LimiterState, RoleBook, str]:
        """The book after a signed grant or revocation, and the line that says what changed;
        refused as the book refuses it (an ADMIN only; never the last ADMIN)."""
        verified, limiter = self._verified(kind, raw)
        book, fields, now = self.memory.book, verified.fields, int(workflow.now().timestamp())
        by, account, reason = verified.signer or "", getattr(fields, "account", ""), getattr(fields, "reason", "")
        try:
            if book is None:
                raise RoleRefused(NOT_LOADED)
            if kind == Kind.GRANT_ROLE:
                role = Role[getattr(fields, "role", "")]
                changed = book.grant(by, account, role, now, reason, getattr(fields, "name", ""))
                note = f"granted {role.name} to {account}"
            else:
                changed = book.revoke(by, account, now, reason)
                note = f"revoked {account}'s role"
        except RoleRefused as exc:
            raise refused(str(exc)) from None
        return verified, limiter, changed, f"{note}: {reason or 'no reason given'}"

    # -- the loop -------------------------------------------------------------------------
    def _transition(self, event: Event, actor: str, cause: str, reason: str) -> None:
        self.memory = transition(
            self.memory,
            event,
            now=workflow.now(),
            actor=actor or "unnamed",
            cause=cause,
            reason=reason,
            policy=self.input.policy,
        )
        workflow.upsert_search_attributes([ENGINE_STATE.value_set(self.memory.state.value)])
        self._show()
        done = self.memory.transitions[-1]
        self.unsaved.append(done)
        if workflow.patched(SIGNED):
            self._audit(
                "state",
                reason=f"{done.from_state.value} -> {done.to_state.value} ({done.cause}) by {done.actor}: {done.reason}",
            )

    async def _journal(self) -> None:
        """Transitions, audit entries and breaker events to the store, in bursts, off the
        operations' path: a burst while an operation runs waits for its end (JOURNAL_HOLD)."""
        while True:
            await workflow.wait_condition(
                lambda: (
                    bool(self.unsaved) or bool(self.unsaved_breakers) or bool(self.memory.audit_pending) or self.closing
                )
            )
            if not self.unsaved and not self.unsaved_breakers and not self.memory.audit_pending:
                return
            if self.memory.operation is not None and not self.closing and workflow.patched(JOURNAL_HOLD):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self.memory.operation is None or self.closing,
                        timeout=JOURNAL_HOLD_S,
                        timeout_summary="journal hold",
                    )
            if self.memory.audit_pending:  # empty in every history from before signed commands
                audit_batch = self.memory.audit_pending
                self.memory = self.memory.model_copy(update={"audit_pending": []})
                # The book's changes come with their entries: the store's mirror follows them.
                book = self.memory.book if any(e.row.kind in ROLE_CHANGES for e in audit_batch) else None
                await workflow.execute_activity(
                    "append_audit",
                    {
                        "entries": [e.model_dump(mode="json") for e in audit_batch],
                        "roles": None if book is None else book.model_dump(mode="json"),
                    },
                    result_type=int,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=DOOR_RETRY,
                    summary=f"append {len(audit_batch)} audit entries",
                )
            if self.unsaved_breakers:
                breaker_batch, self.unsaved_breakers = self.unsaved_breakers, []
                await workflow.execute_activity(
                    "record_breaker_events",
                    {
                        "engine_id": workflow.info().workflow_id,
                        "events": [e.model_dump(mode="json") for e in breaker_batch],
                    },
                    result_type=int,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=DOOR_RETRY,
                    summary=f"store {len(breaker_batch)} circuit breaker events",
                )
            if not self.unsaved:
                continue
            batch, self.unsaved = self.unsaved, []
            finished, self.unsaved_operations = self.unsaved_operations, []
            payload: dict[str, Any] = {
                "engine_id": workflow.info().workflow_id,
                "events": [t.model_dump(mode="json") for t in batch],
            }
            if finished:  # the activity's input grows, the commands stay: histories replay alike
                payload["operations"] = [o.model_dump(mode="json") for o in finished]
            await workflow.execute_activity(
                "record_engine_events",
                payload,
                result_type=int,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DOOR_RETRY,
                summary=f"store {len(batch)} state transitions",
            )

    def _history_full(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self.input.policy.max_history_events
            or new_build_current()
        )

    @workflow.run
    async def run(self, raw: Any = None) -> None:
        if self.input is None:
            raise bad_input(self.problem)
        # The worker's settings found the role book on a first run (its input is anyone's) and
        # for a memory from before access control. A run from before the patch loads it by its
        # `load_access` update (a worker sends it at start); until then it refuses every signed
        # command: it fails closed.
        if workflow.patched(SIGNED) and (self.memory.book is None or workflow.info().continued_run_id is None):
            self.loading_access = True
            try:
                await self._load_access()
            finally:
                self.loading_access = False
        workflow.upsert_search_attributes([ENGINE_STATE.value_set(self.memory.state.value)])
        self._show()
        journal = asyncio.create_task(self._journal())
        while True:
            await workflow.wait_condition(lambda: self.child is not None or self._history_full())
            if self.child is None:
                break
            await self._follow()
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self.child is None and self.memory.panic is None
        )
        self.closing = True
        await journal
        workflow.continue_as_new(
            self.input.model_copy(update={"memory": self.memory}).model_dump(mode="json"),
            initial_versioning_behavior=next_run_versioning(),
        )

    async def _follow(self) -> None:
        """Wait for the running operation, then record how it ended."""
        op = self.memory.operation
        status, acted, summary = "failed", False, ""
        result = None
        try:
            result = await self.child
            status, summary, acted = result.status, result.summary, result.acted
            if result.positions:
                self.positions = dict(result.positions)
                self.positions_at = workflow.now().isoformat(timespec="seconds")
            if isinstance(result, HarvestResult) and result.baseline:
                self.memory = self.memory.model_copy(update={"harvest_baseline": result.baseline})
        except ChildWorkflowError as err:
            summary = failure_text(err)
        now = workflow.now()
        self._observe(op, now, result, summary)
        record = OperationRecord(
            kind=op.kind,
            workflow_id=op.workflow_id,
            started_at=op.started_at,
            finished_at=now,
            status=status,
            acted=acted,
            summary=summary[:1000],
        )
        last_acted = dict(self.memory.last_acted)
        # Cooldowns count a rebalance that moved funds, and any harvest that measured.
        if acted or (op.kind == Operation.HARVEST and status == "done"):
            last_acted[op.kind] = now
        self.memory = self.memory.model_copy(
            update={
                "operation": None,
                "results": ([*self.memory.results, record])[-self.input.policy.max_results :],
                "last_acted": last_acted,
            }
        )
        self.child = None
        self._transition(Event.FINISHED, "engine", f"{op.kind.value} {op.workflow_id} {status}", summary[:200])
        if status == "failed":
            await self._judge_error_rate()

    def _observe(self, op: RunningOperation, now, result, summary: str) -> None:
        """The finished operation's summary for the metrics (saved with the next journal)."""
        try:
            self.unsaved_operations.append(
                observe_operation(
                    op.kind.value,
                    op.workflow_id,
                    op.started_at,
                    now,
                    result,
                    failure=summary if result is None else "",
                    decimals={(c.chain_id, t): d for c in self.input.catalogue.chains for t, d in c.tokens.items()},
                )
            )
        except Exception:  # the metrics miss one operation; the engine records it all the same
            workflow.logger.warning(f"{op.workflow_id}: no summary for the metrics", exc_info=True)

    async def _judge_error_rate(self) -> None:
        """An operation ended failed: the error rate is judged now, not only at the next risk
        check (minutes away, or never where no risk-check schedule runs); a trip pauses the
        engine before another operation can start."""
        finished = [(r.finished_at, r.status) for r in self.memory.results]
        statuses = counted_statuses(finished, self.memory.breakers, self.memory.errors_counted_from)
        found = error_rate_finding(statuses, self.input.policy.breakers)
        engine = self.memory.breakers.get(ENGINE)
        if found is None or (engine is not None and engine.state == BreakerState.OPEN):
            return
        if not workflow.patched("error-rate-on-finish"):  # histories from before judged it at risk checks only
            return
        book, events = apply_findings(self.memory.breakers, [found], set(), workflow.now(), "engine")
        self._breaker_events(book, events)
        if self.memory.state != EngineState.PAUSED:
            await self._pause_or_resume(Event.PAUSE, {"by": "circuit-breaker", "reason": found.reason}, "breaker")


def failure_text(err: BaseException) -> str:
    """The innermost named failure (a child's activity's ApplicationError), as `Type: message`."""
    while getattr(err, "cause", None) is not None:
        err = err.cause
    return f"{getattr(err, 'type', None) or type(err).__name__}: {getattr(err, 'message', None) or err}"


@workflow.defn
class EngineCheckWorkflow:
    """What a schedule starts: ask the engine for a rebalance or a harvest. The engine's
    refusal (a cooldown, an operation running, the engine paused) is this run's answer."""

    @workflow.run
    async def run(self, raw: Any = None) -> str:
        check = validated(EngineCheck, raw, "engine check", example='{"engine_id": "...", "kind": "rebalance"}')
        answer = await workflow.execute_activity(
            "engine_request",
            check.model_dump(mode="json"),
            result_type=str,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=5),
            summary=f"ask {check.engine_id} for a {check.kind}",
        )
        workflow.set_current_details(answer)
        return answer
