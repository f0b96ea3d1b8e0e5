"""The transaction queue's activities, and the door other workflows use to reach a queue.

`TxActivities` wrap `floor.chain.txsender.TxSender` per chain. `QueueDoor.submit_intent`
sends an intent to the signer's queue by update-with-start (starting the queue if it is not
running), so any workflow can reach it through an activity.

Failpoints: with `FLOOR_FAILPOINT` set to a step's name, the worker process kills itself
with SIGKILL at that step (the crash-safety tests start a worker so, then another without).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.deps import Deps
from activities.errors import named_errors
from client.txqueue import submit_many
from floor.chain.fees import bumped, cancel_fees
from floor.chain.fees import over_cap as fees_over_cap
from floor.chain.private import PrivateRoute
from floor.chain.txsender import TxSender
from floor.errors import FloorError, UnknownChain
from floor.logging import get_logger
from floor.models import Priority
from floor.txqueue import (
    FAILPOINT_ENV,
    BroadcastInput,
    BroadcastResult,
    ChainEvent,
    FollowInput,
    FollowResult,
    NonceState,
    PreparedTx,
    PrepareInput,
    PrivateSendInput,
    PrivateSent,
    ReplaceInput,
    ReplacementFees,
    SignedTx,
    SignInput,
    SubmitAck,
    TxIntent,
    TxOutcome,
    TxStatus,
    UnsignedTx,
    WatchInput,
    mined_outcome,
)


def throttled_heartbeat(every_s: float = 1.0):
    """A heartbeat for per-transaction loops that reaches Temporal at most every `every_s`
    (the timeout is 10 s): each one crosses from the activity's thread to the worker's loop,
    which per transaction of a 64-transaction batch is time the broadcast does not send."""
    last = 0.0

    def beat() -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every_s:
            last = now
            activity.heartbeat()

    return beat


def failpoint(name: str) -> None:
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


# Signals askers of their intents' outcomes from an activity's thread, all at once (the
# worker's client, on its event loop): for each, whether Temporal took the signal.
Teller = Callable[[list[tuple[str, TxOutcome]]], list[bool]]
TELL_TIMEOUT_S = 5.0


def teller(client: Client, loop: asyncio.AbstractEventLoop) -> Teller:
    async def signal(workflow_id: str, outcome: TxOutcome) -> bool:
        try:
            await client.get_workflow_handle(workflow_id).signal("tx_outcome", outcome)
            return True
        except Exception as exc:  # the asker is gone, or Temporal did not answer: the queue tells it
            get_logger().info("outcome not told from the broadcast", to=workflow_id, error=type(exc).__name__)
            return False

    async def all_of(told: list[tuple[str, TxOutcome]]) -> list[bool]:
        return list(await asyncio.gather(*(signal(w, o) for w, o in told)))

    def tell(told: list[tuple[str, TxOutcome]]) -> list[bool]:
        try:
            return asyncio.run_coroutine_threadsafe(all_of(told), loop).result(timeout=TELL_TIMEOUT_S)
        except Exception:  # too slow: the queue tells them (an asker told twice ignores the second)
            return [False] * len(told)

    return tell


class TxActivities:
    def __init__(self, deps: Deps, tell: Teller | None = None):
        self.tell = tell  # None: the queue's own task signals every outcome
        self.senders: dict[int, TxSender] = {}
        self.private: dict[int, PrivateRoute] = {}  # chains with a private relay
        self.store = deps.store  # where signed hashes are recorded for the watchdog
        if deps.signer is None:
            return
        key = deps.settings.flashbots_reputation_key
        for chain_id, ctx in deps.chains.items():
            if ctx.config.executor:
                self.senders[chain_id] = TxSender(ctx.w3, chain_id, ctx.config.executor, deps.signer, ctx.config.tx)
                if ctx.config.flashbots.relay_url is not None:
                    self.private[chain_id] = PrivateRoute(ctx.config, ctx.w3, ctx.reader, key)

    def _sender(self, chain_id: int) -> TxSender:
        if chain_id not in self.senders:
            raise UnknownChain(f"chain {chain_id} has no executor or no signer: no transaction queue")
        return self.senders[chain_id]

    @activity.defn
    @named_errors
    def tx_nonce_state(self, chain_id: int) -> NonceState:
        latest, pending = self._sender(chain_id).nonce_state()
        return NonceState(latest=latest, pending=pending)

    @activity.defn
    @named_errors
    def tx_prepare(self, input: PrepareInput) -> list[PreparedTx]:
        """Simulate and price each plan; with `sign_nonces`, also sign each transaction that will
        be sent at the next of them (one activity, one workflow task fewer per batch)."""
        sender = self._sender(input.chain_id)
        # Checked while the plans are simulated (reads only); nothing is signed or returned for
        # a chain that is not the one the queue knew.
        checked = sender.check_chain_soon(input.mark)
        prepared = sender.prepare(input.plans, heartbeat=throttled_heartbeat())
        checked.result()
        if input.chain_id in self.private:
            self.private[input.chain_id].mark(input.plans, prepared)
        if input.sign_nonces:
            nonces = iter(input.sign_nonces)
            unsigned = []
            for plan, prep in zip(input.plans, prepared, strict=True):
                held = prep.over_cap and plan.priority != Priority.CRITICAL  # the workflow holds it back
                if prep.intents and not held:
                    tx = UnsignedTx(
                        nonce=next(nonces), to=sender.executor, data=prep.data, gas=prep.gas, fees=prep.fees
                    )
                    unsigned.append(tx)
                    prep.signed = sender.sign(tx)
            self._record_signed(input.chain_id, sender, unsigned, [p.signed for p in prepared if p.signed])
            if unsigned:
                failpoint("after_sign")
        return prepared

    @activity.defn
    @named_errors
    def tx_sign(self, input: SignInput) -> list[SignedTx]:
        sender = self._sender(input.chain_id)
        signed = [sender.sign(tx) for tx in input.txs]
        self._record_signed(input.chain_id, sender, input.txs, signed)
        failpoint("after_sign")
        return signed

    def _record_signed(self, chain_id: int, sender: TxSender, txs: list[UnsignedTx], signed: list[SignedTx]) -> None:
        """Recorded before the hashes reach the workflow, so before any broadcast: the watchdog
        never sees one of ours mined that it cannot find. A store that refuses fails the
        activity, which is retried: nothing goes out unrecorded."""
        if self.store is None or not signed:
            return
        from floor.store import SignedTx as StoredSignedTx

        now = datetime.now(UTC)
        by_nonce = {tx.nonce: tx for tx in txs}
        self.store.record_signed(
            [
                StoredSignedTx(
                    chain_id=chain_id,
                    signer=sender.signer.address,
                    nonce=s.nonce,
                    tx_hash=s.hash.lower(),
                    to=by_nonce[s.nonce].to,
                    signed_at=now,
                )
                for s in signed
            ]
        )

    @activity.defn
    @named_errors
    def tx_broadcast(self, input: BroadcastInput) -> list[BroadcastResult]:
        sender = self._sender(input.chain_id)
        results = []
        heartbeat = throttled_heartbeat()
        for tx in input.txs:
            heartbeat()
            results.append(sender.broadcast(tx))
        failpoint("after_broadcast")
        sent = {r.nonce for r in results if r.ok}
        look = [t for t in input.look if t.nonce in sent]
        if look:
            try:  # only a look: a failed one leaves them to the watcher
                statuses = sender.look(look, input.confirmations, input.chain_nonce_seen)
            except Exception as exc:
                log = get_logger(chain_id=input.chain_id)
                log.warning("first look after broadcast failed", error=type(exc).__name__)
                statuses = []
            by_nonce = {s.nonce: s for s in statuses}
            for r in results:
                r.status = by_nonce.get(r.nonce)
            self._tell(input, results)
        return results

    def _tell(self, input: BroadcastInput, results: list[BroadcastResult]) -> None:
        """The askers of what the look found confirmed, told now (`Notice`), as the queue would
        settle it; not when the signer's mined nonce went back (the queue's follower decides)."""
        nonces = [r.status.chain_nonce for r in results if r.status is not None and r.status.chain_nonce is not None]
        went_back = input.chain_nonce_seen is not None and bool(nonces) and min(nonces) < input.chain_nonce_seen
        if self.tell is None or not input.notify or went_back:
            return
        told = [
            (r, notice.reply_to, mined_outcome(notice.intent_id, r.status, notice.dropped, notice.route))
            for r in results
            if r.status is not None and r.status.state == "confirmed"
            for notice in input.notify
            if notice.nonce == r.nonce
        ]
        if not told:
            return
        for (r, _, outcome), taken in zip(told, self.tell([(w, o) for _, w, o in told]), strict=True):
            if taken:
                r.told.append(outcome)

    @activity.defn
    @named_errors
    def tx_send_private(self, input: PrivateSendInput) -> list[PrivateSent]:
        """One private attempt per signed transaction, through the chain's relay."""
        if input.chain_id not in self.private:
            raise UnknownChain(f"chain {input.chain_id} has no private relay configured")
        route = self.private[input.chain_id]
        sent = []
        for tx in input.txs:
            activity.heartbeat()
            sent.append(route.send(tx))
        return sent

    @activity.defn
    @named_errors
    def tx_watch(self, input: WatchInput) -> list[TxStatus]:
        if input.draining:
            failpoint("while_draining")
        statuses = self._sender(input.chain_id).watch(
            input.txs,
            input.confirmations,
            input.wait_s,
            heartbeat=activity.heartbeat,
            chain_nonce_seen=input.chain_nonce_seen,
        )
        if not input.draining:  # the drain's last look has its own failpoint
            failpoint("while_watching")
        return statuses

    @activity.defn
    @named_errors
    def tx_follow(self, input: FollowInput) -> FollowResult:
        return self._sender(input.chain_id).follow(input.txs, input.finality, input.mark)

    @activity.defn
    @named_errors
    def tx_replacement_fees(self, input: ReplaceInput) -> ReplacementFees:
        sender = self._sender(input.chain_id)
        rule = cancel_fees if input.cancel else bumped
        fees = rule(input.previous, sender.config, sender.market_fees(input.priority))
        return ReplacementFees(fees=fees, over_cap=fees_over_cap(fees, sender.config))

    def all(self) -> list:
        return [
            self.tx_nonce_state,
            self.tx_prepare,
            self.tx_sign,
            self.tx_broadcast,
            self.tx_send_private,
            self.tx_watch,
            self.tx_follow,
            self.tx_replacement_fees,
        ]


class QueueDoor:
    """How a workflow reaches its signer's queue: an activity with the Temporal client."""

    def __init__(self, client: Client, task_queue: str, deps: Deps):
        """Only for a worker with a signer: the queue is the signer's."""
        self.client, self.task_queue, self.settings, self.deps = client, task_queue, deps.settings, deps
        self.store = deps.store  # where the chain's events become alerts (None: the log only)

    @activity.defn
    async def submit_intent(self, intent: TxIntent) -> SubmitAck:
        """Hand an intent to the signer's queue: only from a workflow under the configured
        engine (`<engine id>/...`: its operations, started by signed commands)."""
        (ack,) = await self._submit([intent])
        return ack

    @activity.defn
    async def submit_intents(self, intents: list[TxIntent]) -> list[SubmitAck]:
        """A chain's intents to the signer's queue in one update (`submit_many`): the queue
        takes them together, simulating and signing them in one step."""
        return await self._submit(intents)

    async def _submit(self, intents: list[TxIntent]) -> list[SubmitAck]:
        asking, engine_id = activity.info().workflow_id, self.settings.engine_id
        if not asking.startswith(f"{engine_id}/"):
            raise ApplicationError(
                f"intent {intents[0].id} refused: {asking} is not an operation of the engine {engine_id}",
                type="IntentRefused",
                non_retryable=True,
            )
        chains = {i.chain_id for i in intents}
        if len(chains) != 1:
            raise ApplicationError(f"one chain's intents at a time, got chains {sorted(chains)}", non_retryable=True)
        chain_id = chains.pop()
        try:
            return await submit_many(self.client, self.task_queue, self.deps.queue_input(chain_id), intents)
        except FloorError as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
        except WorkflowUpdateFailedError as exc:  # refused by the queue's validator: bad input
            raise ApplicationError(str(exc.cause), type="IntentRefused", non_retryable=True) from None

    @activity.defn
    async def tx_chain_event(self, event: ChainEvent) -> str:
        """Something the chain took back, as an alert in the store (and the worker's log). A
        transaction mined again after a reorg: the journal follows it, and if an operation that
        asked has ended meanwhile, an alert says its result was read before the reorg. Returns
        the note for the queue's log."""
        log = get_logger(chain_id=event.chain_id, kind=event.kind)
        note = event.detail
        ended = []
        if event.kind == "reorg_resettled":
            for workflow_id in event.reply_to:
                try:
                    description = await self.client.get_workflow_handle(workflow_id).describe()
                    if description.status != WorkflowExecutionStatus.RUNNING:
                        ended.append(workflow_id)
                except RPCError:
                    ended.append(workflow_id)
            if ended:
                note += f"; {', '.join(ended)} had ended: its result was read before the reorg"
        log.warning(note, subject=event.subject, intents=event.intents)
        if self.store is None:
            return note
        at = datetime.now(UTC)
        await asyncio.to_thread(self._record_event, event, note, ended, at)
        return note

    def _record_event(self, event: ChainEvent, note: str, ended: list[str], at: datetime) -> None:
        if event.kind == "reorg_resettled":
            if event.record is not None and event.previous_hash:
                self.store.resettle_transaction(event.chain_id, event.previous_hash, event.record)
            if ended:  # nobody is left to learn of it: an operator must
                self.store.raise_alert("reorg_after_operation", event.subject, note, at)
            elif event.reply_to:  # the operation that asked learned of it and goes on
                self.store.resolve_alert("reorg", event.subject, at)
            return
        if event.kind == "chain_accepted":  # an operator decided: the critical alert is answered
            self.store.resolve_alert("chain_state", event.subject, at)
            return
        self.store.raise_alert(event.kind, event.subject, note, at)
