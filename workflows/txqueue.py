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
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from floor.models import Priority
    from floor.txqueue import (
        BroadcastInput,
        BroadcastResult,
        InflightStatus,
        NonceState,
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
        next_to_send,
        private_window_closed,
        remember,
        resync,
        take_nonce,
    )
    from floor.validation import one_line

# Retried until it works: an RPC outage delays the queue, it never loses a transaction.
FOREVER = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
# Long activities heartbeat per transaction or poll: a dead worker's work moves on in 10 s.
HEARTBEAT = timedelta(seconds=10)
WATCH_WINDOW_S = 5.0
CANCEL_GAS = 21_000


@workflow.defn
class TxQueueWorkflow:
    @workflow.init
    def __init__(self, input: QueueInput) -> None:
        self.q = input
        self.state = input.state
        self.draining = False
        self.notifications: list[asyncio.Task] = []

    # -- the door ---------------------------------------------------------------------
    # Intents arrive as JSON objects and are validated here, so raw JSON from Temporal's CLI
    # or Web UI is refused with the field that is wrong, not a bare decoding failure.
    @workflow.update
    def submit(self, intent: dict) -> SubmitAck:
        return self._accept(TxIntent.model_validate(intent))

    @submit.validator
    def _check(self, intent: dict) -> None:
        self._valid(intent)

    @workflow.update
    def submit_many(self, intents: list[dict]) -> list[SubmitAck]:
        """Several intents in one update (a burst from one producer), each answered as `submit`
        answers it. The server caps updates in flight per workflow, not intents per update."""
        return [self._accept(TxIntent.model_validate(i)) for i in intents]

    @submit_many.validator
    def _check_many(self, intents: list[dict]) -> None:
        valid = [self._valid(i) for i in intents]
        if len({i.id for i in valid}) != len(valid):
            raise ValueError("the same intent id twice in one submission")

    def _valid(self, raw: dict) -> TxIntent:
        try:
            intent = TxIntent.model_validate(raw)
        except ValidationError as exc:
            raise ValueError(f"not a valid intent: {one_line(exc)}") from None
        problem = intent_problem(intent, self.q, workflow.now())
        if problem:
            raise ValueError(problem)
        return intent

    def _accept(self, intent: TxIntent) -> SubmitAck:
        if intent.id in self.state.outcomes:
            return SubmitAck(intent_id=intent.id, accepted=False, outcome=self.state.outcomes[intent.id])
        if known(self.state, intent.id):
            return SubmitAck(intent_id=intent.id, accepted=False)
        self.state.seq += 1
        self.state.pending.append(Pending(intent=intent, seq=self.state.seq))
        return SubmitAck(intent_id=intent.id, accepted=True)

    @workflow.update
    def configure(self, policy: QueuePolicy) -> None:
        """The engine's current configuration for this queue (allowed calls, depth, pipelining,
        stuck handling), sent by every worker at start: a running queue follows config changes
        without a restart, its state its own. An unchanged policy is refused before it
        enters history, so restarts leave no trace."""
        self.q = self.q.model_copy(update=policy.model_dump())

    @configure.validator
    def _check_policy(self, policy: QueuePolicy) -> None:
        if policy == self.q.policy():
            raise ValueError("nothing to change")

    @workflow.update
    def hold(self, raw: dict) -> str:
        """Hold (the engine is paused) or release the queue; answers what it is now."""
        hold = QueueHold.model_validate(raw)
        self.state.held = (hold.reason or "held") if hold.held else ""
        return self.state.held or "sending"

    @hold.validator
    def _check_hold(self, raw: dict) -> None:
        try:
            QueueHold.model_validate(raw)
        except ValidationError as exc:
            raise ValueError(f"not a valid hold: {one_line(exc)}") from None

    @workflow.query
    def outcome(self, intent_id: str) -> TxOutcome | None:
        return self.state.outcomes.get(intent_id)

    @workflow.query
    def outcomes(self, intent_ids: list[str]) -> list[TxOutcome]:
        """The settled ones among `intent_ids`: one query for many waiting callers."""
        return [self.state.outcomes[i] for i in intent_ids if i in self.state.outcomes]

    @workflow.query
    def status(self) -> QueueStatus:
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
            held=self.state.held,
            private=self.state.private,
        )

    # -- the loops --------------------------------------------------------------------
    @workflow.run
    async def run(self, input: QueueInput) -> None:
        await self._resync()
        loops = [asyncio.create_task(self._sender()), asyncio.create_task(self._watcher())]
        await workflow.wait_condition(lambda: self._history_full() or any(t.done() for t in loops))
        for loop in loops:
            if loop.done():  # a loop died (a non-retryable activity error): fail the workflow
                loop.result()  # task, which Temporal retries, rather than hang with no sender
        self.draining = True
        await asyncio.gather(*loops)
        await asyncio.gather(*self.notifications)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self.q.model_copy(update={"state": self.state}))

    def _history_full(self) -> bool:
        info = workflow.info()
        return info.get_current_history_length() > self.q.max_history_events or info.is_continue_as_new_suggested()

    async def _sender(self) -> None:
        while True:
            try:
                await workflow.wait_condition(lambda: self.draining or self._sendable(), timeout=self._next_wake())
            except TimeoutError:  # a hold or a deadline is due: look again
                pass
            if self.draining:
                return
            self._expire_deadlines()
            room = min(self.q.max_in_flight - len(self.state.inflight), self.q.send_batch)
            plans = [] if self.state.held else next_to_send(self.state, workflow.now())[:room]
            if plans:
                await self._send(plans)

    def _sendable(self) -> bool:
        if self.state.held:
            return False
        now = workflow.now()
        return len(self.state.inflight) < self.q.max_in_flight and any(
            p.hold_until is None or p.hold_until <= now for p in self.state.pending
        )

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
        prepared: list[PreparedTx] = await workflow.execute_activity(
            "tx_prepare",
            PrepareInput(chain_id=self.q.chain_id, plans=[PlannedTx(intents=p, priority=p[0].priority) for p in plans]),
            result_type=list[PreparedTx],
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=FOREVER,
            summary=f"simulate {len(taken)} intents",
        )
        unsigned: list[UnsignedTx] = []
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
            tx = SentTx(
                nonce=take_nonce(self.state),
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
            unsigned.append(UnsignedTx(nonce=tx.nonce, to=tx.to, data=tx.data, gas=tx.gas, fees=tx.fees))
        self.state.preparing = []
        if unsigned:
            await self._sign_and_broadcast(unsigned)

    async def _sign_and_broadcast(self, unsigned: list[UnsignedTx]) -> None:
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
            tx.hashes.append(s.hash)
            tx.raw = s.raw
        private = [s for s in signed if self._tx(s.nonce).route == "private"]
        public = [s for s in signed if self._tx(s.nonce).route != "private"]
        if private:
            await self._send_privately(private)
        if public:
            await self._broadcast(public)

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

    async def _broadcast(self, signed: list[SignedTx]) -> None:
        results: list[BroadcastResult] = await workflow.execute_activity(
            "tx_broadcast",
            BroadcastInput(chain_id=self.q.chain_id, txs=signed),
            result_type=list[BroadcastResult],
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=HEARTBEAT,
            retry_policy=FOREVER,
            summary=f"broadcast {len(signed)} transactions",
        )
        now = workflow.now()
        for r in results:
            tx = self._tx(r.nonce)
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

    async def _watcher(self) -> None:
        while True:
            await workflow.wait_condition(
                lambda: self.draining or any(t.last_sent is not None for t in self.state.inflight)
            )
            watched = [t for t in self.state.inflight if t.last_sent is not None]
            # Draining: one last look, without waiting, settles what is mined before
            # continue-as-new carries the rest over.
            final = self.draining
            if final and not watched:
                return
            statuses: list[TxStatus] = await workflow.execute_activity(
                "tx_watch",
                WatchInput(
                    chain_id=self.q.chain_id,
                    txs=[
                        Watched(
                            nonce=t.nonce,
                            hashes=t.hashes,
                            raw=t.raw,
                            intents=[i.id for i in t.intents],
                            calls=t.calls,
                            private=t.route == "private",
                        )
                        for t in watched
                    ],
                    confirmations=self.q.confirmations,
                    wait_s=0 if final else min(WATCH_WINDOW_S, self.q.stuck_after_s),
                    draining=final,
                ),
                result_type=list[TxStatus],
                start_to_close_timeout=timedelta(seconds=WATCH_WINDOW_S + 120),
                heartbeat_timeout=HEARTBEAT,
                retry_policy=FOREVER,
                summary=f"watch {len(watched)} transactions",
            )
            resync_needed = False
            for status in statuses:
                tx = self._tx(status.nonce)
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
            if final:
                return

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
            elif record.status != 1:
                self._settle(intent, error="TransactionFailed", message=status.reason, record=record, route=tx.route)
            else:
                dropped = [f for f in tx.dropped if f.intent_id == intent.id]
                self._settle(
                    intent,
                    record=record,
                    dropped=[f.group for f in dropped],
                    message="; ".join(f"left out {f.reason}" for f in dropped),
                    route=tx.route,
                )

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
        chain: NonceState = await workflow.execute_activity(
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
        remember(self.state, outcome)
        if intent.reply_to:
            self.notifications.append(asyncio.create_task(self._notify(intent.reply_to, outcome)))

    async def _notify(self, workflow_id: str, outcome: TxOutcome) -> None:
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal("tx_outcome", outcome)
        except Exception:  # the asker is gone; its outcome stays queryable here
            workflow.logger.info("could not signal the outcome", extra={"to": workflow_id})

    def _tx(self, nonce: int) -> SentTx:
        return next(t for t in self.state.inflight if t.nonce == nonce)
