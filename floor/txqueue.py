"""The transaction queue's data and decisions, pure (TxQueueWorkflow drives them).

One queue per (chain, signer) owns that signer's nonce space. Intents wait in `pending`,
ordered by priority then arrival; the queue packs them into transactions (several intents
may share one `execute(calls)`), assigns nonces in its own state, and follows every
broadcast transaction (`SentTx`, with every signed version of it) until one version is
mined at the chain's confirmation depth, or it is cancelled. Everything here is plain data,
so the whole queue is carried over continue-as-new and survives any worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

from floor.batching import MAX_CALLS, check_batch
from floor.errors import BadInput
from floor.models import Amount, Call, ChainId, FrozenModel, IsoTime, Priority, StrictPriority, TxRecord

MAX_OUTCOMES = 10_000  # settled intents remembered, so a repeated id gets the first outcome
# With a step's name set in it, a worker process kills itself at that step (the crash tests).
FAILPOINT_ENV = "FLOOR_FAILPOINT"


class TxIntent(BaseModel):
    """A request for one executor transaction's worth of calls.

    `id` is derived from the operation that asks (its workflow id and step), so a re-run or a
    retried start names the same intent and the queue answers with the first one's outcome.
    Each group lands whole. `atomic`: all groups or none; otherwise a group that would revert
    is dropped (and named) and the rest is sent.
    """

    model_config = ConfigDict(extra="forbid")  # a misspelt field is refused, not ignored

    id: str = Field(min_length=1, max_length=256)
    chain_id: ChainId
    groups: list[list[Call]] = Field(min_length=1)
    priority: StrictPriority = Priority.NORMAL
    # An ISO 8601 string with its zone. Not sent by then: fails; once broadcast, followed to the end.
    deadline: IsoTime | None = None
    atomic: StrictBool = True
    mergeable: StrictBool = False  # may share a transaction with other mergeable intents
    # A workflow id, signalled `tx_outcome` when the intent settles.
    reply_to: str | None = Field(default=None, max_length=1000)
    # Kept out of the public mempool: sent only through the chain's private relay.
    private: StrictBool = False
    # What the intent moves, per token symbol of its chain, in base units (a deposit's or a
    # withdrawal's amount, a delivery's). The queue values it on the chain's price oracle: above
    # the chain's `flashbots.private_above_wei` (ETH-equivalent) it goes private too.
    moves: dict[str, Amount] = {}
    # Sent while the queue is held (the engine paused): only a panic exit's, the one
    # operation a pause lets through.
    through_hold: StrictBool = False

    @property
    def calls(self) -> list[Call]:
        return [c for group in self.groups for c in group]


# "private": through the relay; "fallback": sent privately, not included, then publicly.
Route = Literal["public", "private", "fallback"]
MissedPolicy = Literal["retry_higher_tip", "public"]  # a private attempt not included: what next


class TxOutcome(BaseModel):
    """How an intent ended: mined (its transaction's receipt), or failed with a named reason."""

    intent_id: str
    ok: bool
    transaction: TxRecord | None = None
    error: str | None = None  # e.g. ExecutionReverted, TransactionFailed, Cancelled, DeadlinePassed
    message: str = ""
    dropped_groups: list[int] = []  # best-effort intents: groups left out (reasons in `message`)
    route: Route = "public"  # how the mined (or cancelling) transaction reached the chain


class SubmitAck(BaseModel):
    intent_id: str
    accepted: bool  # False: the id was known; `outcome` is set if it has already settled
    outcome: TxOutcome | None = None


@dataclass(frozen=True)  # a dataclass: positional in the fee policy, a field in models
class Fees:
    max_fee_per_gas: int  # wei
    max_priority_fee_per_gas: int  # wei (the tip)

    def __post_init__(self) -> None:
        # A float or a tip above the max fee would be refused by the node, later and less clearly.
        for name in ("max_fee_per_gas", "max_priority_fee_per_gas"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative int of wei, got {value!r}")
        if self.max_priority_fee_per_gas > self.max_fee_per_gas:
            raise ValueError(f"tip {self.max_priority_fee_per_gas} is above the max fee {self.max_fee_per_gas}")


class Pending(BaseModel):
    intent: TxIntent
    seq: int  # arrival order
    hold_until: datetime | None = None  # fees above the cap: wait, then look again
    held_reason: str = ""


class IntentFailure(BaseModel):
    intent_id: str
    group: int | None = None  # None: the whole intent (atomic)
    reason: str


class SentTx(BaseModel):
    """One nonce and every signed version of the transaction at it."""

    nonce: int
    intents: list[TxIntent]
    to: str
    data: str
    calls: int  # executor calls carried
    value: int = 0
    gas: int
    fees: Fees
    hashes: list[str] = []  # every version signed: any of them mined settles the nonce
    raw: str = ""  # the latest version, rebroadcast as it is
    cancel_hash: str | None = None  # the zero-value self-transfer, if it came to that
    attempts: int = 0  # versions broadcast
    last_sent: datetime | None = None
    priority: Priority = Priority.NORMAL
    dropped: list[IntentFailure] = []  # best-effort intents' groups left out in simulation
    note: str = ""  # why a replacement waits, for the status query
    # The private route: why it was taken (empty: public), attempts, and the last block the
    # live attempt targets (until it is mined nothing else may be sent at this nonce).
    private: str = ""
    route: Route = "public"
    private_attempts: int = 0
    private_until: int | None = None
    private_from: int | None = None  # the head block at the first private send
    gave_up: bool = False  # not included privately after every attempt: cancelled publicly
    # Settled at the confirmation depth: its receipt, while it is followed until final.
    mined: TxRecord | None = None
    reorgs: int = 0  # times a reorg took it out after it had settled (then it was sent again)


class PrivateStats(BaseModel):
    """How the private route has done on this queue (carried over continue-as-new)."""

    sent: int = 0  # nonces sent privately
    included: int = 0  # of them, mined from a private attempt
    fallbacks: int = 0  # not included, then sent publicly (policy "public")
    retries: int = 0  # re-sent privately with a higher tip (policy "retry_higher_tip")
    given_up: int = 0  # not included after every attempt: cancelled publicly
    blocks_to_inclusion: list[int] = []  # per included nonce, the latest 100

    def note_included(self, blocks: int) -> None:
        self.included += 1
        self.blocks_to_inclusion = [*self.blocks_to_inclusion, blocks][-100:]

    @property
    def inclusion_rate(self) -> float | None:
        settled = self.included + self.fallbacks + self.given_up
        return self.included / settled if settled else None


class ChainMark(FrozenModel):
    """A block the queue saw as final (its number and hash) and the chain's genesis hash: a
    later read that disagrees means a reset chain or a rewrite deeper than finality."""

    number: int = Field(ge=0)
    hash: str  # 0x-hex, lower case
    genesis: str


class QueueState(BaseModel):
    next_nonce: int | None = None
    free_nonces: list[int] = []  # assigned but refused by the node before any broadcast: reused first
    seq: int = 0
    pending: list[Pending] = []
    preparing: list[str] = []  # intents taken from pending, not yet in a transaction
    inflight: list[SentTx] = []
    outcomes: dict[str, TxOutcome] = {}
    held: str = ""  # why nothing new is sent (the engine is paused); empty when sending
    held_since: datetime | None = None  # when the hold came
    last_included: str = ""  # the last transaction mined deep enough: nonce, hash, block, when
    private: PrivateStats = PrivateStats()
    # Settled transactions followed until final: a reorg that takes one out sends it again.
    settled: list[SentTx] = []
    chain: ChainMark | None = None  # the last final block seen
    # The chain is not the one the queue knew (reset, rewritten past finality): nothing is sent
    # or followed until an operator accepts the chain as it is (`accept_chain`).
    chain_problem: str = ""
    chain_nonce: int = 0  # the highest mined nonce of the signer seen: going back means a reorg
    gap_since: datetime | None = None  # when the chain's nonce was first seen stopped below ours
    reorged: dict[str, str] = {}  # intent id -> the hash a reorg took, until it is mined again


class QueueHold(BaseModel):
    """Hold or release a queue: held, nothing pending is broadcast (in-flight transactions are
    still followed, replaced and confirmed)."""

    model_config = ConfigDict(extra="forbid")

    held: StrictBool
    reason: str = ""


# One call the executor allows: "<target>:<selector>", lower-case 0x-hex (`pair_key`).
AllowedCall = Annotated[str, Field(pattern=r"^0x[0-9a-f]{40}:0x[0-9a-f]{8}$")]
Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]


class QueuePolicy(BaseModel):
    """The part of a queue's input that comes from the engine's configuration. Unknown fields
    are refused and every number is bounded: a policy that would stop the queue (nothing in
    flight, no confirmation, no attempt) or forbid every call is refused at its door."""

    model_config = ConfigDict(extra="forbid")

    confirmations: StrictInt = Field(default=1, ge=1, le=10_000)
    # "target:selector" pairs the executor allows (lower-case 0x-hex): never empty, an empty
    # list would refuse every intent.
    allowed: list[AllowedCall] = Field(min_length=1)
    max_in_flight: StrictInt = Field(default=16, ge=1, le=1_000)
    send_batch: StrictInt = Field(default=30, ge=1, le=1_000)
    stuck_after_s: StrictFloat = Field(default=30, gt=0, le=86_400)
    max_attempts: StrictInt = Field(default=5, ge=1, le=100)
    # The chain's private relay (`chains.flashbots`): whether there is one, and what to do
    # when a private attempt is not included.
    private_relay: StrictBool = False
    private_on_missed: MissedPolicy = "public"
    private_max_attempts: StrictInt = Field(default=3, ge=1, le=100)
    # Settled transactions are followed until the chain's `finalized`/`safe` block passes them
    # (or this many blocks, on a chain without the tags), read every `finality_poll_s`.
    finality: Literal["finalized", "safe"] | Annotated[StrictInt, Field(ge=1, le=10_000)] = "finalized"
    finality_poll_s: StrictFloat = Field(default=30, gt=0, le=3600)


class QueueInput(QueuePolicy):
    chain_id: ChainId
    signer: Address
    executor: Address
    # Continue-as-new beyond this, carrying the state (Temporal's own limit is 51,200).
    max_history_events: StrictInt = Field(default=10_000, ge=20, le=50_000)
    state: QueueState = QueueState()

    def policy(self) -> QueuePolicy:
        return QueuePolicy.model_validate(self.model_dump(include=set(QueuePolicy.model_fields)))


def queue_id(chain_id: int, signer: str) -> str:
    """The deterministic workflow id of a signer's queue on a chain: any workflow can reach it."""
    return f"txqueue-{chain_id}-{signer.lower()}"


def pair_key(target: str, selector_hex: str) -> str:
    return f"{target.lower()}:{selector_hex.lower()}"


def intent_problem(intent: TxIntent, queue: QueueInput, now: datetime) -> str | None:
    """Why the queue refuses an intent before it enters history, or None."""
    if intent.chain_id != queue.chain_id:
        return f"intent {intent.id} is for chain {intent.chain_id}; this queue sends on chain {queue.chain_id}"
    calls = intent.calls
    if not all(intent.groups):
        return f"intent {intent.id} has an empty group of calls"
    try:
        check_batch(calls)
    except BadInput as exc:
        return f"intent {intent.id}: {exc}"
    allowed = set(queue.allowed)
    for index, c in enumerate(calls):
        selector = c.data[:10] if len(c.data) >= 10 else "0x"
        if c.target.lower() != queue.executor.lower() and pair_key(c.target, selector) not in allowed:
            return f"intent {intent.id}: call {index} ({selector} on {c.target}) is not allowed by the executor"
    if intent.private and not queue.private_relay:
        return f"intent {intent.id} is private, but chain {queue.chain_id} has no private relay configured"
    if intent.deadline is not None and intent.deadline.tzinfo is None:
        return f"intent {intent.id}: deadline {intent.deadline.isoformat()} has no time zone"
    if intent.deadline is not None and intent.deadline <= now:
        return f"intent {intent.id}: deadline {intent.deadline.isoformat()} has passed"
    return None


def next_to_send(state: QueueState, now: datetime) -> list[list[TxIntent]]:
    """Pending intents to send now, in priority then arrival order, packed into transactions:
    one per intent, except that consecutive mergeable intents of one priority share one while
    their calls fit. Held ones wait until their time; while the queue is held, only intents
    sent through the hold (a panic exit's) go."""
    ready = sorted(
        (
            p
            for p in state.pending
            if (p.hold_until is None or p.hold_until <= now) and (not state.held or p.intent.through_hold)
        ),
        key=lambda p: (p.intent.priority, p.seq),
    )
    plans: list[list[TxIntent]] = []
    for p in ready:
        last = plans[-1] if plans else None
        if (
            p.intent.mergeable
            and last is not None
            and all(i.mergeable for i in last)
            and last[0].priority == p.intent.priority
            and sum(len(i.calls) for i in last) + len(p.intent.calls) <= MAX_CALLS
        ):
            last.append(p.intent)
        else:
            plans.append([p.intent])
    return plans


def take_nonce(state: QueueState) -> int:
    if state.free_nonces:
        state.free_nonces.sort()
        return state.free_nonces.pop(0)
    if state.next_nonce is None:
        raise RuntimeError("the nonce is synced before anything is sent")
    nonce = state.next_nonce
    state.next_nonce += 1
    return nonce


def resync(state: QueueState, latest: int, pending: int) -> str | None:
    """Align the queue's nonce with the chain's: up when another sender used the key, and
    gaps below (nonces the queue assigned that no transaction of its own will fill) queued
    for reuse. Our own broadcast transactions are rebroadcast by the watcher, which fills
    the gaps dropped transactions leave. Returns what changed, for the log."""
    if state.next_nonce is None:
        state.next_nonce = pending
        return f"nonce synced at {pending}"
    changed = None
    if pending > state.next_nonce:
        changed = f"nonce re-synced up from {state.next_nonce} to {pending} (another sender used the key)"
        state.next_nonce = pending
    ours = {t.nonce for t in state.inflight}
    gaps = [n for n in range(latest, state.next_nonce) if n not in ours and n not in state.free_nonces]
    if gaps:
        state.free_nonces.extend(gaps)
        changed = (changed + "; " if changed else "") + f"nonces {gaps} left unused: refilled first"
    state.free_nonces = [n for n in state.free_nonces if n >= latest]
    return changed


def private_window_closed(head_block: int, last_target_block: int) -> bool:
    """True once the last block a private attempt targets (the bundle's last `blockNumber`,
    a private transaction's `maxBlockNumber`) is mined: from then on the relay can no longer
    include it. Before, the attempt is live and nothing else may be sent at its nonce."""
    return head_block >= last_target_block


def after_missed_blocks(
    policy: MissedPolicy, attempts: int, max_attempts: int
) -> Literal["retry", "public", "give_up"]:
    """What to do when private attempt number `attempts` (1-based) was not included.

    Never both at once for one nonce: the queue asks only once `private_window_closed` says
    the attempt can no longer land and its watcher found nothing of ours mined at the nonce.
    A public send then never races a live bundle, and a retry never runs beside a public copy.

    - "public": the first miss goes to the public mempool, the same signed bytes (repriced
      later by the queue's usual replacement if they sit), once; the nonce stays public.
    - "retry_higher_tip": re-sign the same nonce with a higher tip and try privately again,
      up to `max_attempts` private attempts; then "give_up": the intent is never leaked to the
      public mempool, the nonce is cancelled with a zero-value self-transfer.
    """
    if attempts < 1 or max_attempts < 1:
        raise ValueError("attempts and max_attempts start at 1")
    if policy == "public":
        return "public"
    if policy == "retry_higher_tip":
        return "retry" if attempts < max_attempts else "give_up"
    raise ValueError(f"unknown policy {policy!r}")


def remember(state: QueueState, outcome: TxOutcome) -> None:
    state.outcomes[outcome.intent_id] = outcome
    while len(state.outcomes) > MAX_OUTCOMES:
        state.outcomes.pop(next(iter(state.outcomes)))


def known(state: QueueState, intent_id: str) -> bool:
    return (
        intent_id in state.preparing
        or any(p.intent.id == intent_id for p in state.pending)
        or any(i.id == intent_id for t in state.inflight for i in t.intents)
    )


# ---------------------------------------------------------------- activity inputs and results


class PlannedTx(BaseModel):
    """Intents to send together in one execute(calls), before simulation."""

    intents: list[TxIntent]
    priority: Priority


class PrepareInput(BaseModel):
    chain_id: int
    plans: list[PlannedTx]
    mark: ChainMark | None = None  # the last final block the queue saw: checked before simulating
    # Nonces to sign with, in order, the transactions that will be sent (neither empty nor
    # above the fee cap unless CRITICAL): the queue's next ones. Empty: not signed here.
    sign_nonces: list[int] = []


class PreparedTx(BaseModel):
    """A plan after simulation: what is left to send, its gas and fees, and what would revert."""

    intents: list[str]  # intents (or what remains of them) in the transaction
    data: str = "0x"  # execute(calls) calldata; empty when nothing is left
    calls: int = 0
    gas: int = 0
    fees: Fees | None = None
    over_cap: bool = False
    # The L1 data fee it pays on top of gas, in wei, where the chain's fee model has one (OP
    # Stack; Arbitrum's L1 component is inside gas): an estimate at prepare time.
    l1_fee_wei: int = 0
    private: str = ""  # why it goes through the private relay (empty: the public mempool)
    # What would revert: a whole intent (it fails), or a group of a best-effort intent that
    # still goes without it.
    failures: list[IntentFailure] = []
    signed: SignedTx | None = None  # signed at the next of `sign_nonces`, when asked to


class UnsignedTx(BaseModel):
    nonce: int
    to: str
    data: str
    value: int = 0
    gas: int
    fees: Fees


class SignInput(BaseModel):
    chain_id: int
    txs: list[UnsignedTx]


class SignedTx(BaseModel):
    nonce: int
    hash: str
    raw: str


class Notice(BaseModel):
    """An intent of a transaction's first broadcast whose asker the broadcast tells of the
    outcome itself when its look finds the transaction confirmed: the operation goes on
    without waiting for the queue's own task to signal it (`BroadcastResult.told`)."""

    nonce: int
    intent_id: str
    reply_to: str
    dropped: list[IntentFailure] = []  # the intent's groups simulation left out
    route: Route = "public"


class BroadcastInput(BaseModel):
    chain_id: int
    txs: list[SignedTx]
    # Looked at once right after sending (those the node took), as the watcher would: on a
    # fast chain most are mined by then, and settle without a watch of their own.
    look: list[Watched] = []
    confirmations: int = 1
    chain_nonce_seen: int | None = None
    notify: list[Notice] = []


class BroadcastResult(BaseModel):
    nonce: int
    hash: str
    ok: bool
    error: str | None = None  # NonceTaken, InsufficientFundsForGas, Rejected
    message: str = ""
    status: TxStatus | None = None  # the first look's, when asked for (BroadcastInput.look)
    told: list[TxOutcome] = []  # the outcomes the broadcast signalled to their askers


def mined_outcome(intent_id: str, status: TxStatus, dropped: list[IntentFailure], route: Route) -> TxOutcome:
    """An intent's outcome from its transaction's confirmed status (not a cancel): the queue's
    when it settles, and the broadcast's when it tells the asker first, the same by construction."""
    record = status.record
    if record is None or record.status != 1:
        return TxOutcome(
            intent_id=intent_id,
            ok=False,
            transaction=record,
            error="TransactionFailed",
            message=status.reason,
            route=route,
        )
    return TxOutcome(
        intent_id=intent_id,
        ok=True,
        transaction=record,
        dropped_groups=[f.group for f in dropped if f.group is not None],
        message="; ".join(f"left out {f.reason}" for f in dropped),
        route=route,
    )


class Watched(BaseModel):
    nonce: int
    hashes: list[str]
    raw: str
    intents: list[str]
    calls: int = 0
    private: bool = False  # with the relay: never rebroadcast publicly by the watcher


class PrivateSendInput(BaseModel):
    chain_id: int
    txs: list[SignedTx]


class PrivateSent(BaseModel):
    """One private attempt: the blocks it targets (inclusive). Refused or not, nothing else
    is sent at its nonce until `last_block` is mined."""

    nonce: int
    hash: str
    first_block: int
    last_block: int
    ok: bool = True
    error: str = ""  # RelayRefused, RelayUnavailable, BundleReverted
    message: str = ""


class WatchInput(BaseModel):
    chain_id: int
    txs: list[Watched]
    confirmations: int
    wait_s: float
    draining: bool = False  # the queue is about to continue-as-new (a failpoint's cue)
    # The highest mined nonce the queue has seen: a chain below it has taken something back,
    # and the watch returns at once without rebroadcasting into it (the follower decides).
    chain_nonce_seen: int | None = None


class ReplaceInput(BaseModel):
    chain_id: int
    previous: Fees
    priority: Priority
    cancel: bool


class ReplacementFees(BaseModel):
    fees: Fees
    over_cap: bool


class NonceState(BaseModel):
    latest: int
    pending: int


class PendingStatus(BaseModel):
    intent_id: str
    priority: Priority
    held: str = ""  # why it waits, if it does


class InflightStatus(BaseModel):
    nonce: int
    intents: list[str]
    hashes: list[str]  # every version signed, oldest first
    attempts: int  # versions broadcast
    cancelling: bool
    note: str = ""  # why a replacement waits
    route: Route = "public"
    private_until: int | None = None


class QueueStatus(BaseModel):
    """What a queue is doing, for operators (the Web UI's query tab, the CLI) and tests."""

    chain_id: int
    signer: str
    next_nonce: int | None
    pending: list[PendingStatus]  # in sending order
    inflight: list[InflightStatus]
    settled: int
    chain_nonce: int | None = None  # the highest mined nonce of the signer the queue has read (0: none yet)
    held: str = ""
    held_since: datetime | None = None
    last_included: str = ""  # the last transaction mined deep enough: nonce, hash, block, when
    private: PrivateStats = PrivateStats()
    following: int = 0  # settled transactions followed until final
    final_block: int | None = None  # the last final block the queue saw (its chain mark)
    chain_problem: str = ""  # not the chain the queue knew: nothing is sent until accept_chain


class TxStatus(BaseModel):
    nonce: int
    # "confirmed" (deep enough), "included" (mined, not yet deep), "pending" (not mined), or
    # "taken" (another transaction holds the nonce)
    state: str
    record: TxRecord | None = None
    reason: str = ""  # a reverted transaction's decoded reason
    head: int | None = None  # the head block the poll read
    chain_nonce: int | None = None  # the signer's mined nonce at that head


class Followed(BaseModel):
    nonce: int
    hashes: list[str]  # every version signed: any of them mined is ours
    block_number: int  # where it was mined when it settled


class FollowInput(BaseModel):
    chain_id: int
    txs: list[Followed]
    finality: Literal["finalized", "safe"] | int
    mark: ChainMark | None = None  # the last final block the queue saw


class FollowStatus(BaseModel):
    nonce: int
    # "final": past the chain's final block; "settled": still mined, not final yet (`record`
    # is where); "reorged": no version of ours is mined and the nonce is free again; "taken":
    # another transaction of the signer now holds the nonce.
    state: Literal["final", "settled", "reorged", "taken"]
    record: TxRecord | None = None


class FollowResult(BaseModel):
    head: int
    final_block: int
    chain_nonce: int  # the signer's mined nonce at `head`
    mark: ChainMark | None = None  # the chain's final block now (to remember)
    problem: str = ""  # not the chain the queue knew: nothing else is valid
    statuses: list[FollowStatus] = []


class ChainEvent(BaseModel):
    """Something the chain took back, for the store's alerts and the engine's history."""

    chain_id: int
    kind: Literal["reorg", "chain_state", "chain_accepted", "nonce_gap", "reorg_resettled"]
    subject: str
    detail: str
    intents: list[str] = []
    reply_to: list[str] = []  # the workflows that asked (for a reorg: did the operation end?)
    record: TxRecord | None = None  # a re-mined transaction's receipt (`reorg_resettled`)
    previous_hash: str = ""  # the hash the journal holds for it


# Fields naming models defined further down, resolved now that every model exists.
PreparedTx.model_rebuild()
BroadcastResult.model_rebuild()
