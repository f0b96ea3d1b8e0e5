"""The engine's operations as data: what operators and services ask for, what the engine knows
of the treasury from its config (the catalogue), and what each operation reports back.

Requests arrive as raw JSON from every door (the `floor` CLI, `temporal workflow update`, the
Web UI, a service in another language); `floor.validation.parse` turns them into these
models with a one-line reason when they do not fit, and `catalogue_problem` checks them
against the treasury's chains, tokens and destinations before anything enters history.
Results are summaries and ids, so a history does not grow with the number of markets.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from floor.access.commands import Allocate, CommandDomain, RequestCapital, SignedCommand, Verified
from floor.access.roles import Address, Role, RoleBook
from floor.engine import EngineMemory, EnginePolicy, EngineState, Operation, OperationRecord, RunningOperation
from floor.models import UINT256_MAX, AdapterKey, Amount, Call, ChainId, Deadline, FrozenModel, SignedAmount
from floor.models import short as short  # re-exported: summaries, the CLI
from floor.models import units as units
from floor.planning.caps import PlanCaps
from floor.risk.breakers import Breaker
from floor.txqueue import TxOutcome
from floor.validation import json_text, parse

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


# ---------------------------------------------------------------------------- the catalogue


class StrategyTarget(FrozenModel):
    """One market of the strategy: its token and its weight in bps of the whole floor."""

    key: AdapterKey
    asset: str
    weight_bps: StrictInt = Field(ge=0, le=10_000)
    # Deposits in whole lots of base units (32 ETH per validator); JSON: a string, as every amount.
    lot: Annotated[Amount, Field(gt=0)] = 1


class ChainCatalogue(FrozenModel):
    chain_id: ChainId
    tokens: dict[str, Annotated[StrictInt, Field(ge=0, le=36)]]  # symbol -> decimals
    destinations: list[str] = []  # where capital may be delivered (the executor's DESTINATIONS list)


class Catalogue(FrozenModel):
    """What the engine knows of the treasury from its config; sent at start and on change."""

    chains: list[ChainCatalogue] = Field(min_length=1)
    targets: list[StrategyTarget] = []
    rebalance_drift_bps: StrictInt = Field(default=500, ge=0, le=10_000)
    # How the targets' weights are read (`strategy.weights_of`). The default here is "token",
    # what a catalogue written before the field existed meant (recorded engine histories);
    # `engine_input` always sets it from the config, whose default is "total".
    weights_of: Literal["total", "token"] = "token"
    caps: PlanCaps = PlanCaps()
    min_trade_value: StrictInt = Field(default=0, ge=0, le=UINT256_MAX)  # accounting units (USD, 8 decimals)

    def chain(self, chain_id: int) -> ChainCatalogue | None:
        return next((c for c in self.chains if c.chain_id == chain_id), None)

    def targets_of(self, chain_id: int, asset: str) -> list[StrategyTarget]:
        return [t for t in self.targets if t.key.chain_id == chain_id and t.asset == asset]


class EngineInput(FrozenModel):
    """An EngineWorkflow's start (and continue-as-new) argument."""

    catalogue: Catalogue
    policy: EnginePolicy = EnginePolicy()
    memory: EngineMemory = EngineMemory()


class EngineConfig(FrozenModel):
    """The engine's `configure` update: the whole configuration, catalogue and policy both.
    Nothing is defaulted: a part left out would silently reset to defaults (an empty
    strategy, no cooldowns), so it is refused by name; the memory is the engine's own."""

    catalogue: Catalogue
    policy: EnginePolicy


class EngineCheck(FrozenModel):
    """What a schedule's EngineCheckWorkflow starts with: the engine to ask and for what."""

    engine_id: str = Field(min_length=1, max_length=200)
    kind: Literal["rebalance", "harvest", "risk"]


# ---------------------------------------------------------------------------- requests


class Request(FrozenModel):
    """Who asks and why: recorded with the transition the request causes."""

    by: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=500)


def _positive(v: int) -> int:
    if v <= 0:
        raise ValueError("must be a positive integer in the token's base units")
    return v


PositiveAmount = Annotated[Amount, AfterValidator(_positive)]


class AssetAmount(FrozenModel):
    chain_id: ChainId
    asset: str = Field(min_length=1)
    amount: PositiveAmount


class AllocateRequest(Request):
    """Place amounts the executors already hold into markets, by the strategy's weights."""

    amounts: list[AssetAmount] = Field(min_length=1, max_length=100)


class RebalanceRequest(Request):
    pass


class HarvestRequest(Request):
    pass


class CapitalRequest(Request):
    """Deliver `amount` of `asset` on `chain_id` to a listed destination by `deadline`."""

    chain_id: ChainId
    asset: str = Field(min_length=1)
    amount: PositiveAmount
    destination: str
    # With its time zone ("2026-12-31T17:00:00Z"); a time already past is refused at the door.
    deadline: Deadline | None = None
    # When the plan needs a queued exit: False (the default) keeps what idle funds and instant
    # exits give in the executor until the queue's part is claimed, then delivers the whole
    # amount in one transfer; True delivers that much at once and the claimed rest later.
    partial: StrictBool = False
    # How often a queued exit's status is read while it waits (seconds).
    exit_poll_s: StrictInt = Field(default=3600, ge=1, le=86_400)

    @field_validator("destination")
    @classmethod
    def _address(cls, v: str) -> str:
        if not ADDRESS.match(v):
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        return v


class Signal(FrozenModel):
    """pause_engine / resume_engine: `temporal workflow signal --input '{"reason": "..."}'`."""

    reason: str = Field(default="", max_length=500)
    by: str = Field(default="", max_length=200)


SIGNAL_EXAMPLE = '{"by": "...", "reason": "..."}'


def pause_signal(raw: Any) -> Signal:
    """A pause's who and why from whatever was sent. A pause is the one input never refused
    (an operator in an incident types the reason first, a bare string, in the Web UI's signal
    dialog): null or no input is no reason, a bare string is the reason, a valid Signal is
    itself, and anything else is recorded as its JSON text, cut to fit."""
    if raw is None:
        return Signal()
    if isinstance(raw, str):
        return Signal(reason=raw if len(raw) <= 500 else raw[:497] + "...")
    if isinstance(raw, dict):
        try:
            return Signal.model_validate(raw)
        except ValidationError:
            pass
    return Signal(reason=json_text(raw, 500))


def resume_signal(raw: Any) -> Signal:
    """A resume's who and why: null or no input, a bare string (the reason), or a Signal
    object; anything else is BadRequest (resuming is never a guess)."""
    if isinstance(raw, str):
        raw = {"reason": raw}
    return parse(Signal, raw, "resume", null_ok=True, example=SIGNAL_EXAMPLE + " or a string (the reason)")


# ---------------------------------------------------------------------------- signed commands


class EngineAccess(FrozenModel):
    """What a worker's own settings tell its engine about access (the `engine_access` local
    activity): the command domain, the founding ADMINs and the scheduler service's address;
    and, for an engine's first run, the catalogue and policy (never the start input's: whoever
    starts the engine first must not choose its strategy)."""

    domain: CommandDomain
    admins: list[Address] = Field(min_length=1)
    scheduler: Address | None = None  # founded as OPERATOR "schedules"
    catalogue: Catalogue
    policy: EnginePolicy


SCHEDULER_NAME = "schedules"


def founded_book(access: EngineAccess, now: int) -> RoleBook:
    """The first role book: the config's ADMINs, and the scheduler service as an OPERATOR."""
    book = RoleBook.founded(access.admins, now)
    if access.scheduler is None or book.role_of(access.scheduler) is not None:
        return book
    return book.grant(
        access.admins[0], access.scheduler, Role.OPERATOR, now, "the worker's scheduler service", SCHEDULER_NAME
    )


def signer_name(verified: Verified, book: RoleBook | None) -> str:
    """Who a verified command came from, for people reading records: the signer's name in the
    book, else its address ("" for an unsigned pause)."""
    if verified.signer is None:
        return ""
    grant = book.members.get(verified.signer) if book is not None else None
    return (grant.name if grant is not None and grant.name else verified.signer)[:200]


def request_of(kind: Operation, verified: Verified, by: str) -> Request:
    """A verified operation command as the request the engine acted on before commands were
    signed (the checks and the children read these): `by` is the signer's name."""
    fields = verified.fields
    reason = getattr(fields, "reason", "")
    if isinstance(fields, Allocate):
        amounts = [AssetAmount(chain_id=a.chainId, asset=a.asset, amount=a.amount) for a in fields.amounts]
        return AllocateRequest(by=by, reason=reason, amounts=amounts)
    if isinstance(fields, RequestCapital):
        return CapitalRequest(
            by=by,
            reason=reason,
            chain_id=fields.chainId,
            asset=fields.asset,
            amount=fields.amount,
            destination=fields.destination,
            deadline=datetime.fromtimestamp(fields.deliverBy, UTC) if fields.deliverBy else None,
            partial=fields.partial,
            exit_poll_s=fields.exitPollSeconds,
        )
    return REQUESTS[kind](by=by, reason=reason)


class ConfigureCommand(FrozenModel):
    """The `configure` update's payload: an ADMIN's signed configure command, whose configHash
    is `floor.access.commands.config_hash` of the configuration it carries."""

    command: SignedCommand
    config: dict[str, Any]


REQUESTS: dict[Operation, type[Request]] = {
    Operation.ALLOCATE: AllocateRequest,
    Operation.REBALANCE: RebalanceRequest,
    Operation.HARVEST: HarvestRequest,
    Operation.REQUEST_CAPITAL: CapitalRequest,
}


def _asset_problem(catalogue: Catalogue, chain_id: int, asset: str, *, need_targets: bool) -> str | None:
    chain = catalogue.chain(chain_id)
    if chain is None:
        return f"chain {chain_id} is not configured (configured: {sorted(c.chain_id for c in catalogue.chains)})"
    if asset not in chain.tokens:
        return f"{asset} is not a configured token on chain {chain_id} (tokens: {sorted(chain.tokens)})"
    if need_targets and not any(t.weight_bps > 0 for t in catalogue.targets_of(chain_id, asset)):
        return f"the strategy has no market for {asset} on chain {chain_id}"
    return None


def catalogue_problem(request: Request, catalogue: Catalogue) -> str | None:
    """Why a well-formed request cannot apply to this treasury (None when it can)."""
    if isinstance(request, AllocateRequest):
        seen = set()
        for part in request.amounts:
            problem = _asset_problem(catalogue, part.chain_id, part.asset, need_targets=True)
            if problem:
                return problem
            if (part.chain_id, part.asset) in seen:
                return f"{part.asset} on chain {part.chain_id} appears twice: give one amount"
            seen.add((part.chain_id, part.asset))
    elif isinstance(request, CapitalRequest):
        problem = _asset_problem(catalogue, request.chain_id, request.asset, need_targets=False)
        if problem:
            return problem
        chain = catalogue.chain(request.chain_id)  # configured: _asset_problem refuses one that is not
        listed = [d.lower() for d in chain.destinations] if chain else []
        if request.destination.lower() not in listed:
            return f"{request.destination} is not a listed destination on chain {request.chain_id}"
    elif isinstance(request, RebalanceRequest | HarvestRequest) and not catalogue.targets:
        return "the strategy has no targets"
    return None


class OperationStarted(FrozenModel):
    """The answer to an operation request: where to follow it."""

    kind: Operation
    workflow_id: str


class EngineStatus(FrozenModel):
    """The `status` query: what the engine is doing, and what it last read."""

    engine_id: str
    state: EngineState
    operation: RunningOperation | None
    paused_from: EngineState | None
    pause_reason: str
    last: OperationRecord | None  # the last finished operation
    positions: dict[str, Amount]  # str(AdapterKey) -> amount, as the last operation read them back
    positions_read_at: str  # ISO time, empty if never
    paused_by: str = ""  # who paused the engine (while PAUSED)
    paused_at: datetime | None = None  # since when
    breakers: list[Breaker] = []  # the circuit breakers not CLOSED: scope, state, since, why


class OperationStep(FrozenModel):
    """An operation's child workflow tells the engine the step it is on."""

    workflow_id: str = Field(min_length=1, max_length=1000)
    step: str = Field(max_length=1000)


# ---------------------------------------------------------------------------- results

Status = Literal["done", "skipped", "partial", "failed"]


class ChainPart(FrozenModel):
    """One chain's part of an operation: what happened there, and why not when it failed."""

    chain_id: int
    status: Literal["done", "failed", "skipped"]
    transactions: list[str] = []  # hashes of mined transactions
    error: str = ""


class OperationResult(FrozenModel):
    status: Status
    summary: str  # one line for the engine's record and the CLI
    chains: list[ChainPart] = []
    positions: dict[str, Amount] = {}  # str(AdapterKey) -> amount read back at the end

    @property
    def acted(self) -> bool:
        return any(part.transactions for part in self.chains)


def overall_status(parts: list[ChainPart]) -> Status:
    failed = [p for p in parts if p.status == "failed"]
    if not failed:
        return "done" if any(p.status == "done" for p in parts) else "skipped"
    return "partial" if any(p.transactions for p in parts) else "failed"


# ---------------------------------------------------------------------------- operation inputs and results


class RebalanceInput(FrozenModel):
    targets: list[StrategyTarget] = Field(min_length=1)
    threshold_bps: int = Field(default=500, ge=0, le=10_000)
    by: str = ""
    # "token": drift per (chain, token) leg (floor/planning/rebalance.py), what inputs recorded
    # before the field existed meant; "total": the allocation planner over the whole floor.
    weights_of: Literal["total", "token"] = "token"
    caps: PlanCaps = PlanCaps()
    min_trade_value: int = Field(default=0, ge=0)


class MoveOutcome(FrozenModel):
    """A planned move against what the position really did (read back from the chain)."""

    key: AdapterKey
    action: str
    planned: SignedAmount  # + into the market, - out of it
    realised: SignedAmount  # the position's change between the reads before and after


class RebalanceResult(OperationResult):
    threshold_bps: int
    drift_before_bps: int
    projected_drift_bps: int = 0
    drift_after_bps: int = 0
    moves: list[MoveOutcome] = []
    notes: list[str] = []


class HarvestInput(FrozenModel):
    targets: list[StrategyTarget] = Field(min_length=1)
    baseline: dict[str, int] = {}  # growth index per market at the last harvest
    by: str = ""
    # The tolerance of each reward sale's min-out below its fresh quote, in bps; None: the
    # strategy's max_slippage_bps (the worker's configuration).
    max_slippage_bps: int | None = Field(default=None, ge=0, lt=10_000)


class YieldLine(FrozenModel):
    """Yield one market earned since the last harvest, by where it came from."""

    key: AdapterKey
    asset: str
    decimals: int
    source: str  # "rebase", "exchange_rate" or "claimed"
    amount: SignedAmount  # base units of `asset` (negative: the market lost value)


class RewardClaim(FrozenModel):
    """A reward token one market paid the harvest's claim, as read before the claim (the
    claim's own block pays what accrued up to it, a little more)."""

    key: AdapterKey
    token: str  # the reward token's address
    symbol: str = ""
    amount: Amount  # the token's base units


class RewardSale(FrozenModel):
    """One reward token sold for a base asset: the fresh quote and the venue's min-out."""

    chain_id: int
    token: str
    symbol: str
    to: str  # the base asset
    venue: str  # "uniswap" or "curve"
    amount_in: Amount  # the reward token's base units
    quoted: Amount  # base units of `to`
    min_out: Amount


class RewardKept(FrozenModel):
    """A reward token claimed and left idle in the executor, and why (no route, say)."""

    chain_id: int
    token: str
    symbol: str = ""
    to: str
    amount: Amount
    reason: str


class RewardProceeds(FrozenModel):
    """What one chain's harvest batch added to the executor's balance of a base asset: the
    sales' quotes against the balance read after less the one read with the quotes."""

    chain_id: int
    asset: str
    quoted: Amount
    realised: SignedAmount  # after - before


class HarvestResult(OperationResult):
    yields: list[YieldLine] = []
    totals: dict[str, SignedAmount] = {}  # "<chain>:<asset>:<source>" -> base units
    baseline: dict[str, SignedAmount] = {}  # growth indexes read now: the next harvest's baseline
    claims: list[RewardClaim] = []
    sales: list[RewardSale] = []
    kept: list[RewardKept] = []
    proceeds: list[RewardProceeds] = []


class PlannedPart(FrozenModel):
    kind: str  # "idle", "instant", "queued"
    market: str = ""  # str(AdapterKey), empty for idle funds
    amount: Amount
    expected_at: datetime


class ExitRequest(FrozenModel):
    """One withdrawal request a capital request made in a market's exit queue, as last read."""

    id: int
    amount: Amount  # what was requested (stETH, wei)
    status: Literal["pending", "finalized", "claimed"] = "pending"
    claimable: Amount = 0  # what a claim pays now (0 until finalised)


class CapitalClaim(FrozenModel):
    """The claim-and-deliver phase of a capital request, handed over by its request phase."""

    market: AdapterKey  # the market whose queue holds the requests
    requests: list[ExitRequest] = Field(min_length=1)  # the ids the request phase made, only those
    deliver: PositiveAmount  # what this phase delivers once the requests are claimed
    delivered: Amount = 0  # what the request phase already delivered
    requested_by: str  # the request phase's workflow id
    plan: list[PlannedPart] = []


class CapitalInput(FrozenModel):
    request: CapitalRequest
    targets: list[StrategyTarget] = []
    claim: CapitalClaim | None = None  # set: this run is the claim-and-deliver phase
    decimals: int | None = None  # the asset's (the catalogue's), for the summaries; None: base units
    # The breakers that keep the asset's markets out of the plan ("chain:1 is OPEN: ..."): a
    # request idle funds cannot cover says so.
    blocked: list[str] = []


class CapitalResult(OperationResult):
    delivered: Amount = 0
    destination: str = ""
    plan: list[PlannedPart] = []
    exits: list[ExitRequest] = []  # queued exits this request made, as last read
    pending: Amount = 0  # what is still to be delivered once they are claimed
    claim_workflow_id: str = ""  # the workflow that claims them and delivers `pending`


class ExitPart(FrozenModel):
    """One part of a capital request's exit batch: an instant withdrawal or a queued exit."""

    key: AdapterKey
    amount: PositiveAmount
    queued: bool = False


class BuildExitsInput(FrozenModel):
    """The request phase's batch: instant withdrawals, queued exit requests, and (when set) a
    transfer of `deliver` to `destination`."""

    chain_id: int
    asset: str
    parts: list[ExitPart] = Field(min_length=1)
    destination: str = ""
    deliver: Amount = 0


class ExitsMadeInput(FrozenModel):
    """The requests the executor made in `key`'s queue in these mined transactions."""

    chain_id: int
    key: AdapterKey
    tx_hashes: list[str] = Field(min_length=1)


class ReadExitsInput(FrozenModel):
    chain_id: int
    key: AdapterKey
    ids: list[int] = Field(min_length=1)


class BuildClaimInput(FrozenModel):
    """Claim `ids` (all finalised), wrap what they pay, and transfer `deliver` to `destination`
    (none: what the claims pay stays in the executor, as after a panic exit)."""

    chain_id: int
    key: AdapterKey
    ids: list[int] = Field(min_length=1)
    asset: str
    destination: str = ""
    deliver: Amount = 0


class ClaimBuild(FrozenModel):
    """The claim batch's groups (the guarded claim, then the transfer), and its figures."""

    groups: list[list[Call]]
    claimable: Amount  # what the claims pay, wrapped to the asset in the same batch
    idle: Amount  # the executor's balance of the asset before the claim
    deliver: Amount  # what the transfer sends: the amount asked, or less if the executor is short


class JournalEntry(FrozenModel):
    intent_id: str
    outcome: TxOutcome
    effects: dict[str, int] = {}  # str(AdapterKey) -> planned change in base units, signed


class JournalInput(FrozenModel):
    """An operation's transactions for the store's journal."""

    operation_id: str
    entries: list[JournalEntry]
