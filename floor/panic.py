"""A panic exit's input and result, pure: every position of every chain unwound to its base
asset (`floor.planning.exit`), while the engine is paused and with the pause kept.

The result says, per chain, what is out (the executor's idle balance of each asset, up by
what the exits paid, read before and after), what is queued (the exit requests made, with
their ids and expected wait; a validator's exit, which the consensus layer sweeps to the
executor) and what stays (with why: a market that lets nothing go now, a
quote past the slippage limit, a queue the engine cannot claim)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from floor.models import AdapterKey, Amount, FrozenModel
from floor.operations import OperationResult, StrategyTarget


class PanicExitRequest(FrozenModel):
    by: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=500)


class PanicClaim(FrozenModel):
    """The claim phase of a panic exit's queued requests in one market (Lido's queue): wait
    until each is finalised, then claim them into the executor (wrapped to `asset`)."""

    chain_id: int
    market: AdapterKey
    asset: str
    decimals: int = 18
    ids: list[int] = Field(min_length=1)  # the requests the panic exit made, only those
    poll_s: int = Field(default=3600, ge=1, le=86_400)  # between status reads (`check_exits`: now)
    requested_by: str = ""  # the panic exit's workflow id


class PanicExitInput(FrozenModel):
    targets: list[StrategyTarget] = []  # every market of the strategy, breakers or not
    by: str = ""
    reason: str = ""
    claim: PanicClaim | None = None  # set: this run is the claim phase of one market's requests

    @model_validator(mode="after")
    def _something_to_do(self) -> PanicExitInput:
        if not self.targets and self.claim is None:
            raise ValueError("a panic exit needs its targets (or, for its claim phase, the claim)")
        return self


class QueuedExit(FrozenModel):
    """An exit request made in a market's queue: claimable once finalised."""

    market: str  # str(AdapterKey)
    asset: str
    amount: Amount
    ids: list[int] = []  # the queue's request ids (a claimed queue's)
    wait_s: int = 0  # expected time until it can be claimed (or, swept, until it arrives)
    paid_by: Literal["claim", "sweep"] = "claim"  # claimed by the engine, or swept to the executor (validators)
    reason: str = ""  # why it is queued rather than sold now
    claim_workflow_id: str = ""  # the workflow that claims the requests once finalised


class LeftPosition(FrozenModel):
    """What stays in a market after the panic exit, and why."""

    market: str
    asset: str
    amount: Amount
    reason: str


class ExitedPosition(FrozenModel):
    """An instant exit as quoted and sent: what its quote paid, the least the batch took."""

    market: str
    asset: str
    amount: Amount  # the position (or the part that could leave)
    quoted: Amount
    min_out: Amount
    slippage_bps: int
    sold: Amount = 0  # the staking token sold through the market's instant-exit pool (0: its own exit)


class PanicChain(FrozenModel):
    chain_id: int
    out: dict[str, Amount] = {}  # asset -> base units the exits paid (the idle balance's rise)
    decimals: dict[str, int] = {}  # each asset's
    exited: list[ExitedPosition] = []
    queued: list[QueuedExit] = []
    left: list[LeftPosition] = []
    transactions: list[str] = []
    private: bool = False  # a transaction went through the chain's private relay


class PanicExitResult(OperationResult):
    panic: list[PanicChain] = []
    engine_state: str = "PAUSED"  # the engine stays paused: a resume is the operators' decision
