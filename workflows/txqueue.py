"""TxQueueWorkflow: the one writer of a signer's nonce space on one chain.

Intents arrive by the `submit` update (validated before they enter history; a known id is
answered with its first outcome, so nothing is sent twice). Two loops run side by side:
- the sender takes pending intents by priority, simulates them (dropping and naming what
  would revert), assigns nonces in workflow state, signs (the hashes are in history before
  any broadcast) and broadcasts, up to `max_in_flight` transactions pipelined;
- the watcher follows every broadcast transaction to its confirmation depth, replaces one
  not mined within `stuck_after_s` with bumped fees at the same nonce, cancels it after
  `max_attempts` with a zero-value self-transfer, requeues intents whose nonce another
  sender took, and settles intents, signalling `tx_outcome` to the workflow that asked.
Activities that touch a broadcast transaction retry without limit: no retry policy ever
abandons one. Continue-as-new carries pending and in-flight work over.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

from workflows.doors import bad_input, refused, validated
from workflows.upgrade import new_build_current, next_run_versioning

with workflow.unsafe.imports_passed_through():
    from floor.doors import ChainAcceptance
    from floor.models import Priority
    from floor.txqueue import (
        BroadcastInput,
        BroadcastResult,
        ChainEvent,
        Fees,
        Followed,
        FollowInput,
        FollowResult,
        InflightStatus,
        NonceState,
        Notice,
        Pending,
        PendingStatus,
        PlannedTx,
        PreparedTx,
        PrepareInput,
        PrivateSendInput,
        PrivateSent,
        QueueHold,
        QueueInput,
        QueuePolicy,
        QueueState,
        QueueStatus,
        ReplaceInput,
        ReplacementFees,
        SentTx,
        SignedTx,
        SignInput,
        SubmitAck,
        TxIntent,
        TxOutcome,
        TxStatus,
        UnsignedTx,
        Watched,
        WatchInput,
        after_missed_blocks,
        intent_problem,
        known,
        mined_outcome,
        next_to_send,
        private_window_closed,
        remember,
        resync,
        take_nonce,
    )
    from floor.validation import BadRequest, json_type, parse

# Retried until it works: an RPC outage delays the queue, it never loses a transaction.
FOREVER = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# Long activities heartbeat per transaction or poll: a dead worker's work moves on in 10 s.
HEARTBEAT = timedelta(seconds=10)
WATCH_WINDOW_S = 5.0
CANCEL_GAS = 21_000
MAX_FOLLOWED = 1_000  # settled transactions followed until final (a quiet chain finalises nothing)
# The broadcast signals the askers of what its first look finds confirmed, so an operation goes
# on one workflow task sooner (the queue's task that settles them no longer signals the same
# outcome again); histories from before signalled every outcome from the queue's task.
OUTCOMES_FROM_BROADCAST = "outcomes-from-broadcast"
# A batch's simulation and signing run as a local activity first, since this patch: inside the
# queue's workflow task, whose completion records the signed bytes (in history before any
# broadcast, as an activity's result was) and starts the broadcast, one server round trip and
# one workflow task fewer per batch. Bounded: while it runs the queue takes no update, query or
# result (a pause's hold waits for it), so one that fails or outlasts PREPARE_LOCALLY_FOR (a slow
# node, an outage) is run again as an activity, retried and heartbeated as before. What the
# local one signed never leaves the worker.
LOCAL_PREPARE = "local-prepare"
PREPARE_LOCALLY_FOR = timedelta(seconds=2)

# The doors' examples, named in a refusal of a value that is not a JSON object (docs/doors.md).
MAX_SUBMIT = 500  # intents in one submit_many
INTENT_EXAMPLE = '{"id": "...", "chain_id": 1, "groups": [[{"target": "0x...", "value": "0", "data": "0x..."}]]}'
POLICY_EXAMPLE = '{"confirmations": 1, "allowed": ["0x<target>:0x<selector>"], "max_in_flight": 16, ...}'
ACCEPT_EXAMPLE = '{"reason": "ops: the devnet was restarted and redeployed"}'
QUEUE_EXAMPLE = '{"chain_id": 1, "signer": "0x...", "executor": "0x...", "allowed": [...], ...}'


@workflow.defn
class TxQueueWorkflow:
    @workflow.init
    def __init__(self, raw: Any = None) -> None:
        # Raw JSON, read here: a start with bad input fails the run at once (see `run`) rather
        # than failing its first workflow task forever on a payload that cannot change.
        self.problem = ""
        try:
            self.q: QueueInput | None = parse(QueueInput, raw, "queue input", example=QUEUE_EXAMPLE)
        except BadRequest as exc:
            self.q, self.problem = None, str(exc)
        self.state = self.q.state if self.q is not None else QueueState()
        self.draining = False
        self.notifications: list[asyncio.Task] = []
        self.told: dict[str, TxOutcome] = {}  # outcomes the last broadcast signalled itself
        self.details = ""  # the Web UI's current details, as last set

    # -- the door ---------------------------------------------------------------------
    # Every update takes raw JSON (typed Any, so the SDK never fails decoding it) and its
    # validator refuses in one line (workflows.doors): a wrong type, an unknown field, a number
    # out of bounds, an intent the executor would refuse. A refused update leaves no trace.
    @workflow.update
    def submit(self, raw: Any = None) -> SubmitAck:
        return self._accept(TxIntent.model_validate(raw))

    @submit.validator
    def _check(self, raw: Any = None) -> None:
        self._check_started()
        self._valid(raw)

    @workflow.update
    def submit_many(self, raw: Any = None) -> list[SubmitAck]:
        """Several intents in one update (a burst from one producer), each answered as `submit`
        answers it. The server caps updates in flight per workflow, not intents per update."""
        return [self._accept(TxIntent.model_validate(i)) for i in raw]

    @submit_many.validator
    def _check_many(self, raw: Any = None) -> None:
        self._check_started()
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_SUBMIT:
            got = f"{len(raw)} intents" if isinstance(raw, list) else json_type(raw)
            raise bad_input(f"submit_many takes a JSON array of 1 to {MAX_SUBMIT} intents, got {got}")
        valid = [self._valid(i, f"intent {n}: ") for n, i in enumerate(raw)]
        if len({i.id for i in valid}) != len(valid):
            raise bad_input("the same intent id twice in one submission")

    def _valid(self, raw: Any, where: str = "") -> TxIntent:
        intent = validated(TxIntent, raw, f"{where}intent", example=INTENT_EXAMPLE)
        problem = intent_problem(intent, self.q, workflow.now())
        if problem:
            raise refused(f"{where}{problem}")
        return intent

    def _check_started(self) -> None:
        if self.q is None:  # started with bad input: the run has failed at once
            raise bad_input(self.problem)

    def _accept(self, intent: TxIntent) -> SubmitAck:
        if intent.id in self.state.outcomes:
            return SubmitAck(intent_id=intent.id, accepted=False, outcome=self.state.outcomes[intent.id])
        if known(self.state, intent.id):
            return SubmitAck(intent_id=intent.id, accepted=False)
        self.state.seq += 1
        self.state.pending.append(Pending(intent=intent, seq=self.state.seq))
        self._show()
        return SubmitAck(intent_id=intent.id, accepted=True)

    @workflow.update
    def configure(self, raw: Any = None) -> None:
        """The engine's current configuration for this queue (allowed calls, depth, pipelining,
        stuck handling), sent by every worker at start: a running queue follows config changes
        without a restart, its state its own. An unchanged policy is refused before it
        enters history, so restarts leave no trace.

        The whole policy, every field of QueuePolicy, is required: the update replaces the
        policy, it is not a patch. A field left out is refused by name rather than reset to its
        default (an empty list of allowed calls refused every intent until a restart), and a
        partial tweak would be undone by the next worker's start anyway: the config is the one
        source of a queue's policy. Each field is bounded (QueuePolicy)."""
        self.q = self.q.model_copy(update=self._policy(raw).model_dump())

    @configure.validator
    def _check_policy(self, raw: Any = None) -> None:
        self._check_started()
        try:
            policy = self._policy(raw)
        except BadRequest as exc:
            raise bad_input(str(exc)) from None
        if policy == self.q.policy():
            raise refused("nothing to change")

    def _policy(self, raw: Any) -> QueuePolicy:
        policy = parse(QueuePolicy, raw, "queue policy", example=POLICY_EXAMPLE)
        missing = [name for name in QueuePolicy.model_fields if name not in raw]
        if missing:
            raise BadRequest(
                f"not a valid queue policy: the whole policy is required (a field left out is not reset"
                f" to its default): missing {', '.join(missing)}"
            )
        return policy

    @workflow.update
    def hold(self, raw: Any = None) -> str:
        """Hold (the engine is paused) or release the queue; answers what it is now."""
        hold = QueueHold.model_validate(raw)
        if hold.held and not self.state.held:
            self.state.held_since = workflow.now()
        self.state.held = (hold.reason or "held") if hold.held else ""
        if not hold.held:
            self.state.held_since = None
        self._show()
        return self.state.held or "sending"

    @hold.validator
    def _check_hold(self, raw: Any = None) -> None:
        self._check_started()
        validated(QueueHold, raw, "hold", example='{"held": true, "reason": "..."}')

    @workflow.query
    def outcome(self, intent_id: Any = None) -> TxOutcome | None:
        if not isinstance(intent_id, str):
            raise bad_input(f"outcome takes an intent id (a JSON string), got {json_type(intent_id)}")
        return self.state.outcomes.get(intent_id)

    @workflow.query
    def outcomes(self, intent_ids: Any = None) -> list[TxOutcome]:
        """The settled ones among `intent_ids`: one query for many waiting callers."""
        if not isinstance(intent_ids, list) or not all(isinstance(i, str) for i in intent_ids):
            raise bad_input(f"outcomes takes a JSON array of intent ids (strings), got {json_type(intent_ids)}")
        return [self.state.outcomes[i] for i in intent_ids if i in self.state.outcomes]

    @workflow.query
    def status(self, _: Any = None) -> QueueStatus:
        self._check_started()
        pending = sorted(self.state.pending, key=lambda p: (p.intent.priority, p.seq))
        return QueueStatus(
            chain_id=self.q.chain_id,
            signer=self.q.signer,
            next_nonce=self.state.next_nonce,
            pending=[
                PendingStatus(intent_id=p.intent.id, priority=p.intent.priority, held=p.held_reason) for p in pending
            ],
            inflight=[
                InflightStatus(
                    nonce=t.nonce,
                    intents=[i.id for i in t.intents],
                    hashes=t.hashes,
                    attempts=t.attempts,
                    cancelling=t.cancel_hash is not None,
                    note=t.note,
                    route=t.route,
                    private_until=t.private_until,
                )
                for t in self.state.inflight
            ],
            settled=len(self.state.outcomes),
            chain_nonce=self.state.chain_nonce,
            held=self.state.held,
            held_since=self.state.held_since,
            last_included=self.state.last_included,
            private=self.state.private,
            following=len(self.state.settled),
            final_block=self.state.chain.number if self.state.chain else None,
            chain_problem=self.state.chain_problem,
        )

    # -- the loops --------------------------------------------------------------------
    @workflow.run
    async def run(self, raw: Any = None) -> None:
        if self.q is None:  # the door (@workflow.init) found the input bad: fail at once
            raise bad_input(self.problem)
        # Settled transactions followed until final, nonce gaps filled while running, a chain
        # that is not the chain the queue knew: recorded histories from before run without.
        self.following = workflow.patched("follow-finality")
        # A workflow task fewer at each step of a transaction's way: the nonce read as a local
        # activity, signing inside tx_prepare, the first receipt look inside tx_broadcast.
        # Recorded histories from before run without.
        self.fast = workflow.patched("queue-fast-path")
        self.follow_now = False  # the watcher saw the chain take something back: look now
        self.sender_stopped = False  # draining: the sender has finished what it was sending
        # The last batch's broadcast, running while the next batch is simulated and signed
        # (queue-fast-path): batches still reach the node in nonce order, one after another.
        self.dispatching: asyncio.Task | None = None
        await self._resync()
        self._show()
        loops = [asyncio.create_task(self._sender()), asyncio.create_task(self._watcher())]
        if self.following:
            loops.append(asyncio.create_task(self._follower()))
        await workflow.wait_condition(lambda: self._history_full() or any(t.done() for t in loops))
        for loop in loops:
            if loop.done():  # a loop died (a non-retryable activity error): fail the workflow
                loop.result()  # task, which Temporal retries, rather than hang with no sender
        self.draining = True
        await asyncio.gather(*loops)
        await asyncio.gather(*self.notifications)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            self.q.model_copy(update={"state": self.state}), initial_versioning_behavior=next_run_versioning()
        )

    def _history_full(self) -> bool:
        info = workflow.info()
        return (
            info.get_current_history_length() > self.q.max_history_events
            or info.is_continue_as_new_suggested()
            or new_build_current()
        )

    async def _sender(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # a hold or a deadline is due: look again
                await workflow.wait_condition(
                    lambda: self.draining or self._sendable() or self._dispatched(), timeout=self._next_wake()
                )
            if self._dispatched() or self.draining:
                await self._dispatch_done()
            if self.draining:
                self.sender_stopped = True
                return
            self._expire_deadlines()
            room = min(self.q.max_in_flight - len(self.state.inflight), self.q.send_batch)
            stopped = self.state.chain_problem or (self.state.held and not self._through_hold())
            plans = [] if stopped else next_to_send(self.state, workflow.now())[:room]
            if plans and self.state.next_nonce is None:  # the chain was accepted anew
                await self._resync()
            if plans:
                await self._send(plans)
            self._show()

    def _sendable(self) -> bool:
        if self.state.chain_problem or (self.state.held and not self._waiting_through_hold()):
            return False
        now = workflow.now()
        return len(self.state.inflight) < self.q.max_in_flight and any(
            (p.hold_until is None or p.hold_until <= now) and (not self.state.held or p.intent.through_hold)
            for p in self.state.pending
        )

    def _waiting_through_hold(self) -> bool:
        """A panic exit's intents are pending: they are sent through a hold."""
        return any(p.intent.through_hold for p in self.state.pending)

    def _through_hold(self) -> bool:
        """As `_waiting_through_hold`, for the sender (histories from before had no such
        intent: the patch marks the first history that does)."""
        return self._waiting_through_hold() and workflow.patched("panic-through-hold")

    def _next_wake(self) -> timedelta | None:
        """When a held intent may go or a deadline passes, so the sender looks again."""
        now = workflow.now()
        times = [p.hold_until for p in self.state.pending if p.hold_until] + [
            p.intent.deadline for p in self.state.pending if p.intent.deadline
        ]
        return max(min(times) - now, timedelta(seconds=1)) if times else None

    def _expire_deadlines(self) -> None:
        now = workflow.now()
        for p in [p for p in self.state.pending if p.intent.deadline and p.intent.deadline <= now]:
            self.state.pending.remove(p)
            self._settle(p.intent, error="DeadlinePassed", message=f"not sent by {p.intent.deadline.isoformat()}")

    async def _send(self, plans: list[list[TxIntent]]) -> None:
        taken = {i.id for plan in plans for i in plan}
        self.state.pending = [p for p in self.state.pending if p.intent.id not in taken]
        self.state.preparing = sorted(taken)
        prepare = PrepareInput(
            chain_id=self.q.chain_id,
            plans=[PlannedTx(intents=p, priority=p[0].priority) for p in plans],
            mark=self.state.chain if self.following else None,
            sign_nonces=self._next_nonces(len(plans)) if self.fast else [],
        )
        summary = f"simulate {'and sign ' if self.fast else ''}{len(taken)} intents"
        try:
            prepared = await self._prepare_locally(prepare, summary) if self.fast else None
            if prepared is None:
                prepared = await workflow.execute_activity(
                    "tx_prepare",
                    prepare,
                    result_type=list[PreparedTx],
                    start_to_close_timeout=timedelta(minutes=10),
                    heartbeat_timeout=HEARTBEAT,
                    retry_policy=FOREVER,
                    summary=summary,
                )
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type == "ChainRewritten"):
                raise
            for plan in plans:  # nothing was signed: back in line, sent once an operator decides
                for intent in plan:
                    self.state.pending.append(Pending(intent=intent, seq=-1))
            self.state.preparing = []
            await self._halt(err.cause.message)
            return
        unsigned: list[UnsignedTx] = []
        presigned: list[SignedTx] = []
        for plan, prep in zip(plans, prepared, strict=True):
            by_id = {i.id: i for i in plan}
            for failure in prep.failures:
                if failure.intent_id not in prep.intents:
                    self._settle(by_id[failure.intent_id], error="ExecutionReverted", message=failure.reason)
            intents = [by_id[i] for i in prep.intents]
            if not intents:
                continue
            priority = plan[0].priority
            if prep.over_cap and priority != Priority.CRITICAL:
                reason = f"held: max fee {prep.fees.max_fee_per_gas} wei is above the chain's cap"
                hold = workflow.now() + timedelta(seconds=self.q.stuck_after_s)
                for intent in intents:
                    self.state.seq += 1  # keeps its priority, behind the others of it
                    self.state.pending.append(
                        Pending(intent=intent, seq=self.state.seq, hold_until=hold, held_reason=reason)
                    )
                workflow.logger.warning(reason, extra={"intents": prep.intents})
                continue
            # Signed in tx_prepare at the nonce the queue would take now, unless the state moved
            # meanwhile (a resync, a nonce given back): then signed again below, as before.
            signed = prep.signed if prep.signed is not None and self._claim_nonce(prep.signed.nonce) else None
            tx = SentTx(
                nonce=signed.nonce if signed is not None else take_nonce(self.state),
                intents=intents,
                to=self.q.executor,
                data=prep.data,
                calls=prep.calls,
                gas=prep.gas,
                fees=prep.fees,
                priority=priority,
                dropped=[f for f in prep.failures if f.intent_id in prep.intents],
                private=prep.private,
                route="private" if prep.private else "public",
            )
            self.state.inflight.append(tx)
            if signed is not None:
                tx.hashes.append(signed.hash)
                tx.raw = signed.raw
                presigned.append(signed)
            else:
                unsigned.append(UnsignedTx(nonce=tx.nonce, to=tx.to, data=tx.data, gas=tx.gas, fees=tx.fees))
        self.state.preparing = []
        if unsigned:
            presigned += await self._sign(unsigned)
        if presigned and self.fast:
            self.dispatching = asyncio.create_task(
                self._dispatch_after(self.dispatching, sorted(presigned, key=lambda s: s.nonce))
            )
        elif presigned:
            await self._dispatch(presigned)

    async def _prepare_locally(self, prepare: PrepareInput, summary: str) -> list[PreparedTx] | None:
        """The batch prepared inside this workflow task (LOCAL_PREPARE), or None: not patched, or
        it failed or timed out, and the activity takes it over, whatever the failure (a store
        down, a chain that is not the one the queue knew): the activity retries it, or raises
        it, as before. A local activity's failure is its own error (an ApplicationError, not
        wrapped in an ActivityError): raised here, it would fail the queue."""
        if not workflow.patched(LOCAL_PREPARE):
            return None
        try:
            return await workflow.execute_local_activity(
                "tx_prepare",
                prepare,
                result_type=list[PreparedTx],
                start_to_close_timeout=PREPARE_LOCALLY_FOR,
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary=summary,
            )
        except FailureError as err:
            if isinstance(err, CancelledError):
                raise
            workflow.logger.info("prepared as an activity", extra={"why": str(err)})
            return None

    async def _dispatch_after(self, previous: asyncio.Task | None, signed: list[SignedTx]) -> None:
        """Broadcast once the batch before has been: in nonce order, while the sender prepares
        the next batch."""
        if previous is not None:
            await previous
        await self._dispatch(signed, look=True)

    def _dispatched(self) -> bool:
        return self.dispatching is not None and self.dispatching.done()

    async def _dispatch_done(self) -> None:
        """Wait for the last broadcast; its failure (a non-retryable error) is the sender's."""
        if self.dispatching is not None:
            dispatching, self.dispatching = self.dispatching, None
            await dispatching

    def _next_nonces(self, count: int) -> list[int]:
        """The nonces `take_nonce` would hand out next, in order: numbers given back first."""
        free = sorted(self.state.free_nonces)[:count]
        start = self.state.next_nonce or 0
        return free + [start + i for i in range(count - len(free))]

    def _claim_nonce(self, nonce: int) -> bool:
        """Take this nonce if it is still free (given back, or the next one)."""
        if nonce in self.state.free_nonces:
            self.state.free_nonces.remove(nonce)
            return True
        if self.state.next_nonce is not None and nonce == self.state.next_nonce:
            self.state.next_nonce += 1
            return True
        return False

    async def _sign_and_broadcast(self, unsigned: list[UnsignedTx]) -> None:
        await self._dispatch(await self._sign(unsigned))

    async def _sign(self, unsigned: list[UnsignedTx]) -> list[SignedTx]:
        signed: list[SignedTx] = await workflow.execute_activity(
            "tx_sign",
            SignInput(chain_id=self.q.chain_id, txs=unsigned),
            result_type=list[SignedTx],
            start_to_close_timeout=timedelta(seconds=10),  # local signing: milliseconds
            retry_policy=FOREVER,
            summary=f"sign nonces {unsigned[0].nonce}..{unsigned[-1].nonce}",
        )
        for s in signed:  # in history before any broadcast: a crash cannot lose a hash
            tx = self._tx(s.nonce)
            if tx is not None:
                tx.hashes.append(s.hash)
                tx.raw = s.raw
        return signed

    async def _dispatch(self, signed: list[SignedTx], look: bool = False) -> None:
        routes = {s.nonce: tx.route for s in signed if (tx := self._tx(s.nonce)) is not None}
        private = [s for s in signed if routes.get(s.nonce) == "private"]
        public = [s for s in signed if s.nonce in routes and routes[s.nonce] != "private"]
        if private:
            await self._send_privately(private)
        if public:
            await self._broadcast(public, look=look)

    async def _send_privately(self, signed: list[SignedTx]) -> None:
        """One private attempt each; until its last target block is mined nothing else is sent
        at its nonce (the watcher then decides by the chain's policy)."""
        sent: list[PrivateSent] = await workflow.execute_activity(
            "tx_send_private",
            PrivateSendInput(chain_id=self.q.chain_id, txs=signed),
            result_type=list[PrivateSent],
            start_to_close_timeout=timedelta(minutes=2),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=FOREVER,
            summary=f"send {len(signed)} transactions privately",
        )
        now = workflow.now()
        for attempt in sent:
            tx = self._tx(attempt.nonce)
            if tx is None:  # settled while this one was sent (see `_tx`)
                continue
            if tx.private_attempts == 0:
                self.state.private.sent += 1
                tx.private_from = attempt.first_block - 1
            else:
                self.state.private.retries += 1
            tx.attempts += 1
            tx.private_attempts += 1
            tx.private_until = attempt.last_block
            tx.last_sent = now
            tx.note = "" if attempt.ok else f"private attempt {tx.private_attempts}: {attempt.error}: {attempt.message}"
            if not attempt.ok:
                workflow.logger.warning(
                    "private attempt not accepted", extra={"nonce": tx.nonce, "error": attempt.error}
                )

    async def _broadcast(self, signed: list[SignedTx], look: bool = False) -> None:
        """Send in nonce order; with `look`, the activity looks at them once right after, and
        what is already mined settles here without a watch."""
        signed = [s for s in signed if self._tx(s.nonce) is not None]  # settled meanwhile: not again
        if not signed:
            return
        first_look: dict[str, Any] = {}
        if look:
            first_look = {
                "look": [self._watched(self._tx(s.nonce)) for s in signed],
                "confirmations": self.q.confirmations,
                "chain_nonce_seen": self.state.chain_nonce if self.following else None,
            }
            if workflow.patched(OUTCOMES_FROM_BROADCAST):
                first_look["notify"] = [
                    Notice(
                        nonce=tx.nonce,
                        intent_id=intent.id,
                        reply_to=intent.reply_to,
                        dropped=[f for f in tx.dropped if f.intent_id == intent.id],
                        route=tx.route,
                    )
                    for tx in (self._tx(s.nonce) for s in signed)
                    if tx.attempts == 0 and tx.cancel_hash is None
                    for intent in tx.intents
                    if intent.reply_to and intent.id not in self.state.reorged
                ]
        results: list[BroadcastResult] = await workflow.execute_activity(
            "tx_broadcast",
            BroadcastInput(chain_id=self.q.chain_id, txs=signed, **first_look),
            result_type=list[BroadcastResult],
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=FOREVER,
            summary=f"broadcast {len(signed)} transactions",
        )
        now = workflow.now()
        for r in results:
            tx = self._tx(r.nonce)
            if tx is None:  # settled while it was sent (see `_tx`)
                continue
            if r.ok:
                tx.attempts += 1
            elif r.error == "InsufficientFundsForGas" and tx.attempts == 0:
                # Never reached the mempool: the nonce goes back, the intents fail.
                self.state.inflight.remove(tx)
                self.state.free_nonces.append(tx.nonce)
                for intent in tx.intents:
                    self._settle(intent, error=r.error, message=f"the signer cannot pay for gas: {r.message}")
                continue
            else:
                workflow.logger.warning("broadcast refused", extra={"nonce": r.nonce, "error": r.error})
            tx.last_sent = now  # the watcher decides: mined, taken, or stuck
        if look:
            self.told = {o.intent_id: o for r in results for o in r.told}
            await self._first_look([r.status for r in results if r.status is not None])
            self.told = {}

    async def _first_look(self, statuses: list[TxStatus]) -> None:
        """What the broadcast's look found: confirmed ones settle and a taken nonce is requeued,
        as the watcher would; the rest is the watcher's. A chain whose mined nonce went back
        is left to the watcher and the follower. The mined nonce seen stays the watcher's to
        record: a watch that polled before this look may answer after it."""
        nonces = [s.chain_nonce for s in statuses if s.chain_nonce is not None]
        if not statuses or (self.following and nonces and min(nonces) < self.state.chain_nonce):
            return
        resync_needed = False
        for status in statuses:
            tx = next((t for t in self.state.inflight if t.nonce == status.nonce), None)
            if tx is None or tx.last_sent is None:
                continue
            if status.state == "confirmed":
                self._confirmed(tx, status)
            elif status.state == "taken":
                self._requeue(tx)
                resync_needed = True
        if resync_needed:
            await self._resync()
        self._show()

    def _watched(self, t: SentTx) -> Watched:
        return Watched(
            nonce=t.nonce,
            hashes=t.hashes,
            raw=t.raw,
            intents=[i.id for i in t.intents],
            calls=t.calls,
            private=t.route == "private",
        )

    async def _watcher(self) -> None:
        while True:
            await workflow.wait_condition(
                lambda: (
                    self.draining
                    or (not self.state.chain_problem and any(t.last_sent is not None for t in self.state.inflight))
                )
            )
            # Draining: one last look, without waiting, settles what is mined before
            # continue-as-new carries the rest over; once the sender has stopped, so what it was
            # broadcasting when the drain began is in the look too.
            final = self.draining
            if final and workflow.patched("drain-after-send"):
                await workflow.wait_condition(lambda: self.sender_stopped)
            watched = [t for t in self.state.inflight if t.last_sent is not None]
            if final and not watched:
                return
            statuses: list[TxStatus] = await workflow.execute_activity(
                "tx_watch",
                WatchInput(
                    chain_id=self.q.chain_id,
                    txs=[self._watched(t) for t in watched],
                    confirmations=self.q.confirmations,
                    wait_s=0 if final else min(WATCH_WINDOW_S, self.q.stuck_after_s),
                    draining=final,
                    chain_nonce_seen=self.state.chain_nonce if self.following else None,
                ),
                result_type=list[TxStatus],
                start_to_close_timeout=timedelta(seconds=WATCH_WINDOW_S + 120),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=FOREVER,
                summary=f"watch {len(watched)} transactions",
            )
            if self.following and not final and await self._went_back(statuses):
                continue
            resync_needed = False
            for status in statuses:
                tx = self._tx(status.nonce)
                if tx is None:  # settled while it was watched (see `_tx`)
                    continue
                if status.state == "confirmed":
                    self._confirmed(tx, status)
                elif status.state == "taken":
                    self._requeue(tx)
                    resync_needed = True
                elif status.state == "included":
                    tx.last_sent = workflow.now()  # mined: waiting for depth is not being stuck
                elif tx.route == "private":
                    if status.head is not None and private_window_closed(status.head, tx.private_until or 0):
                        await self._missed_privately(tx)
                elif self._behind_private(tx):
                    tx.last_sent = workflow.now()  # waits for a private nonce below it, not stuck
                elif workflow.now() - tx.last_sent >= timedelta(seconds=self.q.stuck_after_s):
                    await self._replace(tx)
            if resync_needed:
                await self._resync()
            if self.following and not final:
                await self._fill_gaps(statuses)
            self._show()
            if final:
                return

    # -- what the chain takes back ------------------------------------------------------
    async def _went_back(self, statuses: list[TxStatus]) -> bool:
        """The signer's mined nonce is below one seen before: the chain took something back.
        Nothing is replaced or rebroadcast until the follower has looked (a reorg: what it
        took is sent again; a reset chain: the queue holds itself)."""
        nonces = [s.chain_nonce for s in statuses if s.chain_nonce is not None]
        if not nonces:
            return False
        if min(nonces) >= self.state.chain_nonce:
            self.state.chain_nonce = max(nonces)
            return False
        workflow.logger.warning(
            "the signer's mined nonce went back", extra={"now": min(nonces), "seen": self.state.chain_nonce}
        )
        self.follow_now = True
        await workflow.wait_condition(lambda: self.draining or not self.follow_now)
        return True

    async def _fill_gaps(self, statuses: list[TxStatus]) -> None:
        """Nonces below our lowest in-flight one that the chain has not used and nothing of ours
        holds: whatever left them (a nonce given back, a reorg after finality), the transactions
        above wait behind them forever. Pending intents take them first; still open after
        `stuck_after_s`, each is filled with a zero-value self-transfer."""
        nonces = [s.chain_nonce for s in statuses if s.chain_nonce is not None]
        sent = [t.nonce for t in self.state.inflight if t.last_sent is not None]
        if not nonces or not sent:
            self.state.gap_since = None
            return
        ours = {t.nonce for t in self.state.inflight} | {t.nonce for t in self.state.settled}
        gaps = [n for n in range(min(nonces), min(sent)) if n not in ours]
        if not gaps:
            self.state.gap_since = None
            return
        now = workflow.now()
        if self.state.gap_since is None:
            self.state.gap_since = now
            self.state.free_nonces = sorted(set(self.state.free_nonces) | set(gaps))
            workflow.logger.warning("nonce gap below the transactions in flight", extra={"nonces": gaps})
            return
        if now - self.state.gap_since < timedelta(seconds=self.q.stuck_after_s):
            return
        self.state.gap_since = None
        self.state.free_nonces = [n for n in self.state.free_nonces if n not in gaps]
        quote: ReplacementFees = await workflow.execute_activity(
            "tx_replacement_fees",
            ReplaceInput(chain_id=self.q.chain_id, previous=Fees(0, 0), priority=Priority.HIGH, cancel=True),
            result_type=ReplacementFees,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=FOREVER,
            summary=f"fees to fill nonces {gaps}",
        )
        fillers = []
        for n in gaps:
            tx = SentTx(nonce=n, intents=[], to=self.q.signer, data="0x", calls=0, gas=CANCEL_GAS, fees=quote.fees)
            self.state.inflight.append(tx)
            fillers.append(UnsignedTx(nonce=n, to=tx.to, data=tx.data, gas=tx.gas, fees=tx.fees))
        self._chain_event(
            "nonce_gap",
            f"{self.q.chain_id}:{self.q.signer.lower()}:{gaps[0]}",
            f"chain {self.q.chain_id}: nonces {gaps} were left unused below nonce {max(gaps) + 1} in flight; "
            "filled with zero-value self-transfers",
        )
        await self._sign_and_broadcast(fillers)
        for n in gaps:
            if (tx := self._tx(n)) is not None:
                tx.cancel_hash = tx.hashes[-1]

    async def _follower(self) -> None:
        """Settled transactions until the chain's final block passes them, every
        `finality_poll_s` (or at once when the watcher saw the chain go back). A transaction
        reorged out is sent again (the same bytes while its nonce is free, else its intents
        re-signed at the lowest free nonce); a chain that is not the one the queue knew holds
        the queue with the reason."""
        while True:
            await workflow.wait_condition(lambda: self.draining or self.follow_now or bool(self.state.settled))
            if self.draining:
                return
            if not self.follow_now:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self.draining or self.follow_now, timeout=timedelta(seconds=self.q.finality_poll_s)
                    )
                if self.draining:
                    return
            if self.state.chain_problem:  # an operator decides (accept_chain)
                self.follow_now = False
                await workflow.wait_condition(lambda: self.draining or not self.state.chain_problem)
                continue
            followed = list(self.state.settled)
            result: FollowResult = await workflow.execute_activity(
                "tx_follow",
                FollowInput(
                    chain_id=self.q.chain_id,
                    txs=[Followed(nonce=t.nonce, hashes=t.hashes, block_number=t.mined.block_number) for t in followed],
                    finality=self.q.finality,
                    mark=self.state.chain,
                ),
                result_type=FollowResult,
                start_to_close_timeout=timedelta(seconds=120),
                retry_policy=FOREVER,
                summary=f"follow {len(followed)} settled transactions until final",
            )
            if result.problem:
                await self._halt(result.problem)
                self.follow_now = False
                continue
            if result.mark is not None:
                self.state.chain = result.mark
            self.state.chain_nonce = result.chain_nonce
            lost = False
            for status in result.statuses:
                tx = next(t for t in followed if t.nonce == status.nonce)
                # Let go meanwhile, perhaps: the watcher, beside this, lets the oldest go past
                # MAX_FOLLOWED (a reorged one is still sent again: the chain has just said so).
                following = tx in self.state.settled
                if status.state == "final" and following:
                    self.state.settled.remove(tx)
                elif status.state == "settled" and status.record is not None:
                    tx.mined = status.record.model_copy(update={"calls": tx.calls})
                elif status.state in ("reorged", "taken"):
                    if following:
                        self.state.settled.remove(tx)
                    await self._taken_back(tx, status.state == "taken")
                    lost = True
            if lost:
                await self._resync()
            self.follow_now = False
            self._show()

    async def _taken_back(self, tx: SentTx, nonce_taken: bool) -> None:
        previous = tx.mined
        tx.reorgs += 1
        for intent in tx.intents:
            self.state.reorged[intent.id] = previous.tx_hash
        how = (
            "its nonce is now held by another transaction: its intents are signed again"
            if nonce_taken
            else "sent again as the same bytes"
        )
        self._chain_event(
            "reorg",
            f"{self.q.chain_id}:{previous.tx_hash}",
            f"chain {self.q.chain_id}: transaction {previous.tx_hash} (nonce {tx.nonce}, mined in block "
            f"{previous.block_number}) was reorged out before finality; {how}",
            intents=[i.id for i in tx.intents],
            reply_to=[i.reply_to for i in tx.intents if i.reply_to],
        )
        if nonce_taken:
            for intent in tx.intents:
                self.state.pending.append(Pending(intent=intent, seq=-1))
            return
        tx.mined, tx.last_sent = None, workflow.now()
        self.state.inflight.append(tx)
        self.state.inflight.sort(key=lambda t: t.nonce)
        await self._broadcast([SignedTx(nonce=tx.nonce, hash=tx.hashes[-1], raw=tx.raw)])

    async def _halt(self, problem: str) -> None:
        """Not the chain the queue knew: nothing is sent, replaced or followed until an operator
        accepts the chain as it is (docs/runbooks/chain-reset.md)."""
        if self.state.chain_problem:
            return
        self.state.chain_problem = problem
        self._show()
        workflow.logger.error(problem)
        self._chain_event("chain_state", f"chain:{self.q.chain_id}", f"{problem}; the transaction queue holds")

    @workflow.update
    def accept_chain(self, raw: Any = None) -> str:
        """An operator accepts the chain as it is now, after a reset or a rewrite past finality
        (docs/runbooks/chain-reset.md): what was in flight or waiting fails as `ChainReset` (the operations
        that asked learn of it), followed transactions are forgotten (reconciliation finds what
        they did not do), and the nonce is read again from the chain."""
        accept = validated(ChainAcceptance, raw, "chain acceptance", example=ACCEPT_EXAMPLE)
        message = f"chain accepted as it is ({accept.reason}) after: {self.state.chain_problem}"
        for tx in list(self.state.inflight):
            for intent in tx.intents:
                self._settle(intent, error="ChainReset", message=message)
        for p in list(self.state.pending):
            self._settle(p.intent, error="ChainReset", message=message)
        self.state.inflight, self.state.pending, self.state.settled = [], [], []
        self.state.free_nonces, self.state.reorged = [], {}
        self.state.next_nonce, self.state.chain, self.state.chain_nonce = None, None, 0
        self.state.chain_problem, self.state.gap_since = "", None
        self._chain_event("chain_accepted", f"chain:{self.q.chain_id}", message)
        self._show()
        return message

    @accept_chain.validator
    def _check_accept_chain(self, raw: Any = None) -> None:
        validated(ChainAcceptance, raw, "chain acceptance", example=ACCEPT_EXAMPLE)
        if not self.state.chain_problem:
            raise refused("nothing to accept: the queue's chain matches what it knew")

    def _chain_event(self, kind: str, subject: str, detail: str, **more) -> None:
        event = ChainEvent(chain_id=self.q.chain_id, kind=kind, subject=subject, detail=detail, **more)
        self.notifications.append(asyncio.create_task(self._record_event(event)))

    async def _record_event(self, event: ChainEvent) -> None:
        await workflow.execute_activity(
            "tx_chain_event",
            event,
            result_type=str,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=FOREVER,
            summary=f"{event.kind}: {event.subject}",
        )

    def _behind_private(self, tx: SentTx) -> bool:
        return any(t.route == "private" and t.nonce < tx.nonce for t in self.state.inflight)

    async def _missed_privately(self, tx: SentTx) -> None:
        """The private attempt's window closed and nothing of ours is mined at its nonce: by
        the chain's policy, the same bytes go public once, or a higher tip goes private again,
        or (every private attempt spent) the nonce is cancelled without leaking the intent."""
        decision = after_missed_blocks(self.q.private_on_missed, tx.private_attempts, self.q.private_max_attempts)
        workflow.logger.warning(
            "private attempt not included", extra={"nonce": tx.nonce, "attempt": tx.private_attempts, "next": decision}
        )
        if decision == "public":
            self.state.private.fallbacks += 1
            tx.route = "fallback"
            await self._broadcast([SignedTx(nonce=tx.nonce, hash=tx.hashes[-1], raw=tx.raw)])
        elif decision == "retry":
            await self._replace(tx)  # bumped fees, private again
        else:
            self.state.private.given_up += 1
            tx.gave_up, tx.route = True, "fallback"
            await self._replace(tx, cancel=True)

    def _confirmed(self, tx: SentTx, status: TxStatus) -> None:
        self.state.inflight.remove(tx)
        record = status.record
        self.state.last_included = (
            f"nonce {tx.nonce} {record.tx_hash} in block {record.block_number}"
            f" (seen {workflow.now().isoformat(timespec='seconds')})"
        )
        if self.following:  # followed until final; a reorg before then sends it again
            tx.mined = record
            self.state.settled.append(tx)
            if len(self.state.settled) > MAX_FOLLOWED:
                workflow.logger.warning("too many settled transactions to follow: the oldest is let go")
                self.state.settled.pop(0)
            for intent in tx.intents:
                if intent.id in self.state.reorged:
                    previous = self.state.reorged.pop(intent.id)
                    self._chain_event(
                        "reorg_resettled",
                        f"{self.q.chain_id}:{previous}",
                        f"chain {self.q.chain_id}: intent {intent.id} mined again as {record.tx_hash} in block "
                        f"{record.block_number} after a reorg took {previous}",
                        intents=[intent.id],
                        reply_to=[intent.reply_to] if intent.reply_to else [],
                        record=record,
                        previous_hash=previous,
                    )
        if tx.route == "private" and tx.private_from is not None:
            self.state.private.note_included(record.block_number - tx.private_from)
        for intent in tx.intents:
            if tx.cancel_hash is not None and record.tx_hash in tx.hashes[tx.hashes.index(tx.cancel_hash) :]:
                tried = (
                    f"not included privately after {tx.private_attempts} attempts"
                    if tx.gave_up
                    else f"not mined after {tx.attempts - 1} attempts"
                )
                self._settle(
                    intent,
                    error="Cancelled",
                    message=f"{tried}; nonce {tx.nonce} cancelled",
                    record=record,
                    route=tx.route,
                )
            else:
                dropped = [f for f in tx.dropped if f.intent_id == intent.id]
                self._settled(intent, mined_outcome(intent.id, status, dropped, tx.route))

    def _requeue(self, tx: SentTx) -> None:
        """Another sender mined a transaction at this nonce: nothing of ours ran; send again."""
        self.state.inflight.remove(tx)
        workflow.logger.warning("nonce taken by another sender; intents requeued", extra={"nonce": tx.nonce})
        for intent in tx.intents:
            self.state.pending.append(Pending(intent=intent, seq=-1))  # ahead of everything else

    async def _replace(self, tx: SentTx, cancel: bool = False) -> None:
        """Same nonce, fees bumped; after `max_attempts` a zero-value self-transfer instead.
        A private transaction's replacement goes private again; a cancel is always public."""
        cancel = cancel or tx.attempts >= self.q.max_attempts or tx.cancel_hash is not None
        if cancel and tx.route == "private":
            tx.route = "fallback"  # a cancel reveals nothing and goes public
        quote: ReplacementFees = await workflow.execute_activity(
            "tx_replacement_fees",
            ReplaceInput(chain_id=self.q.chain_id, previous=tx.fees, priority=tx.priority, cancel=cancel),
            result_type=ReplacementFees,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=FOREVER,
            summary=f"{'cancel' if cancel else 'replace'} nonce {tx.nonce}",
        )
        if quote.over_cap and tx.priority != Priority.CRITICAL:
            tx.note = f"waiting: a replacement would cost {quote.fees.max_fee_per_gas} wei per gas, above the cap"
            tx.last_sent = workflow.now()
            return
        if cancel:
            tx.to, tx.data, tx.gas, tx.calls = self.q.signer, "0x", CANCEL_GAS, 0
        tx.fees, tx.note = quote.fees, ""
        await self._sign_and_broadcast([UnsignedTx(nonce=tx.nonce, to=tx.to, data=tx.data, gas=tx.gas, fees=tx.fees)])
        if cancel and tx.cancel_hash is None:
            tx.cancel_hash = tx.hashes[-1]  # the first cancel; every version after it is a cancel too

    async def _resync(self) -> None:
        # Two small reads: a local activity runs them inside the workflow task.
        run = workflow.execute_local_activity if self.fast else workflow.execute_activity
        chain: NonceState = await run(
            "tx_nonce_state",
            self.q.chain_id,
            result_type=NonceState,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=FOREVER,
            summary="read the signer's nonces",
        )
        change = resync(self.state, chain.latest, chain.pending)
        if change:
            workflow.logger.info(change)

    # -- outcomes ---------------------------------------------------------------------
    def _settle(
        self,
        intent: TxIntent,
        *,
        error: str | None = None,
        message: str = "",
        record=None,
        dropped: list[int] | None = None,
        route: str = "public",
    ) -> None:
        outcome = TxOutcome(
            intent_id=intent.id,
            ok=error is None,
            transaction=record,
            error=error,
            message=message,
            dropped_groups=dropped or [],
            route=route,
        )
        self._settled(intent, outcome)

    def _settled(self, intent: TxIntent, outcome: TxOutcome) -> None:
        """Remembered, and signalled to the asker unless the broadcast already told it this
        very outcome."""
        remember(self.state, outcome)
        if intent.reply_to and self.told.pop(intent.id, None) != outcome:
            self.notifications.append(asyncio.create_task(self._notify(intent.reply_to, outcome)))

    async def _notify(self, workflow_id: str, outcome: TxOutcome) -> None:
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal("tx_outcome", outcome)
        except Exception:  # the asker is gone; its outcome stays queryable here
            workflow.logger.info("could not signal the outcome", extra={"to": workflow_id})

    def _show(self) -> None:
        """The Web UI's current details, set where the queue's state changes (and only when the
        text does): held or sending and why, what waits and what is in flight, the next
        nonce, the last inclusion, a chain it does not know. Not a command: replays alike."""
        s = self.state
        if s.chain_problem:
            head = f"**held: not the chain it knew** ({s.chain_problem}): waiting for accept_chain"
        elif s.held:
            since = f" since {s.held_since.isoformat(timespec='seconds')}" if s.held_since else ""
            head = f"**held**{since}: {s.held}"
        else:
            head = "**sending**"
        nonce = "not read yet" if s.next_nonce is None else str(s.next_nonce)
        lines = [
            head,
            f"pending {len(s.pending)}, in flight {len(s.inflight)}, next nonce {nonce}",
            f"last inclusion: {s.last_included or 'none yet'}",
        ]
        text = "\n\n".join(lines)
        if text != self.details:
            self.details = text
            workflow.set_current_details(text)

    def _tx(self, nonce: int) -> SentTx | None:
        """The transaction in flight at `nonce`, or None: the sender, the watcher and the
        follower run side by side, and one may settle or requeue a transaction while another
        awaits an activity about it (a reorged transaction the follower broadcasts again can be
        seen mined again by the watcher before that broadcast returns). Before, that raised
        StopIteration, and the queue's workflow task failed on every retry."""
        return next((t for t in self.state.inflight if t.nonce == nonce), None)
