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
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from floor.engine import EngineMemory, EnginePolicy, EngineState, Operation, OperationRecord, RunningOperation
from floor.models import AdapterKey, Amount
from floor.txqueue import TxOutcome

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------------------- the catalogue


class StrategyTarget(_Model):
    """One market of the strategy: its token and its weight in bps of the whole floor."""

    key: AdapterKey
    asset: str
    weight_bps: int = Field(ge=0, le=10_000)


class ChainCatalogue(_Model):
    chain_id: int
    tokens: dict[str, int]  # symbol -> decimals
    destinations: list[str] = []  # where capital may be delivered (the executor's DESTINATIONS list)


class Catalogue(_Model):
    """What the engine knows of the treasury from its config; sent at start and on change."""

    chains: list[ChainCatalogue] = Field(min_length=1)
    targets: list[StrategyTarget] = []
    rebalance_drift_bps: int = Field(default=500, ge=0, le=10_000)

    def chain(self, chain_id: int) -> ChainCatalogue | None:
        return next((c for c in self.chains if c.chain_id == chain_id), None)

    def targets_of(self, chain_id: int, asset: str) -> list[StrategyTarget]:
        return [t for t in self.targets if t.key.chain_id == chain_id and t.asset == asset]


class EngineInput(_Model):
    """An EngineWorkflow's start (and continue-as-new) argument."""

    catalogue: Catalogue
    policy: EnginePolicy = EnginePolicy()
    memory: EngineMemory = EngineMemory()


# ---------------------------------------------------------------------------- requests


class Request(_Model):
    """Who asks and why: recorded with the transition the request causes."""

    by: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=500)


def _positive(v: int) -> int:
    if v <= 0:
        raise ValueError("must be a positive integer in the token's base units")
    return v


PositiveAmount = Annotated[Amount, AfterValidator(_positive)]


class AssetAmount(_Model):
    chain_id: int
    asset: str = Field(min_length=1)
    amount: PositiveAmount


class AllocateRequest(Request):
    """Place amounts the executors already hold into markets, by the strategy's weights."""

    amounts: list[AssetAmount] = Field(min_length=1)


class RebalanceRequest(Request):
    pass


class HarvestRequest(Request):
    pass


class CapitalRequest(Request):
    """Deliver `amount` of `asset` on `chain_id` to a listed destination by `deadline`."""

    chain_id: int
    asset: str = Field(min_length=1)
    amount: PositiveAmount
    destination: str
    deadline: datetime | None = None

    @field_validator("destination")
    @classmethod
    def _address(cls, v: str) -> str:
        if not ADDRESS.match(v):
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        return v


class Signal(_Model):
    """pause_engine / resume_engine: `temporal workflow signal --input '{"reason": "..."}'`."""

    reason: str = Field(default="", max_length=500)
    by: str = Field(default="", max_length=200)


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
        listed = [d.lower() for d in catalogue.chain(request.chain_id).destinations]
        if request.destination.lower() not in listed:
            return f"{request.destination} is not a listed destination on chain {request.chain_id}"
    elif isinstance(request, RebalanceRequest | HarvestRequest) and not catalogue.targets:
        return "the strategy has no targets"
    return None


class OperationStarted(_Model):
    """The answer to an operation request: where to follow it."""

    kind: Operation
    workflow_id: str


class EngineStatus(_Model):
    """The `status` query: what the engine is doing, and what it last read."""

    engine_id: str
    state: EngineState
    operation: RunningOperation | None
    paused_from: EngineState | None
    pause_reason: str
    last: OperationRecord | None  # the last finished operation
    positions: dict[str, Amount]  # str(AdapterKey) -> amount, as the last operation read them back
    positions_read_at: str  # ISO time, empty if never


class OperationStep(_Model):
    """An operation's child workflow tells the engine the step it is on."""

    workflow_id: str
    step: str


# ---------------------------------------------------------------------------- results

Status = Literal["done", "skipped", "partial", "failed"]


class ChainPart(_Model):
    """One chain's part of an operation: what happened there, and why not when it failed."""

    chain_id: int
    status: Literal["done", "failed", "skipped"]
    transactions: list[str] = []  # hashes of mined transactions
    error: str = ""


class OperationResult(_Model):
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


def short(amount: int, decimals: int) -> str:
    """Base units as a human figure, exact (for summaries, never for arithmetic)."""
    whole, frac = divmod(amount, 10**decimals)
    text = f"{whole:,}"
    if frac and decimals:
        text += "." + f"{frac:0{decimals}d}".rstrip("0")
    return text


# ---------------------------------------------------------------------------- operation inputs and results


class RebalanceInput(_Model):
    targets: list[StrategyTarget] = Field(min_length=1)
    threshold_bps: int = Field(default=500, ge=0, le=10_000)
    by: str = ""


class MoveOutcome(_Model):
    """A planned move against what the position really did (read back from the chain)."""

    key: AdapterKey
    action: str
    planned: int  # signed: + into the market, - out of it
    realised: int  # the position's change between the reads before and after


class RebalanceResult(OperationResult):
    threshold_bps: int
    drift_before_bps: int
    projected_drift_bps: int = 0
    drift_after_bps: int = 0
    moves: list[MoveOutcome] = []
    notes: list[str] = []


class HarvestInput(_Model):
    targets: list[StrategyTarget] = Field(min_length=1)
    baseline: dict[str, int] = {}  # growth index per market at the last harvest
    by: str = ""


class YieldLine(_Model):
    """Yield one market earned since the last harvest, by where it came from."""

    key: AdapterKey
    asset: str
    decimals: int
    source: str  # "rebase", "exchange_rate" or "claimed"
    amount: int  # base units of `asset` (negative: the market lost value)


class HarvestResult(OperationResult):
    yields: list[YieldLine] = []
    totals: dict[str, int] = {}  # "<chain>:<asset>:<source>" -> base units
    baseline: dict[str, int] = {}  # growth indexes read now: the next harvest's baseline


class CapitalInput(_Model):
    request: CapitalRequest
    targets: list[StrategyTarget] = []


class PlannedPart(_Model):
    kind: str  # "idle", "instant", "queued"
    market: str = ""  # str(AdapterKey), empty for idle funds
    amount: Amount
    expected_at: datetime


class CapitalResult(OperationResult):
    delivered: Amount = 0
    destination: str = ""
    plan: list[PlannedPart] = []


class JournalEntry(_Model):
    intent_id: str
    outcome: TxOutcome
    effects: dict[str, int] = {}  # str(AdapterKey) -> planned change in base units, signed


class JournalInput(_Model):
    """An operation's transactions for the store's journal."""

    operation_id: str
    entries: list[JournalEntry]
