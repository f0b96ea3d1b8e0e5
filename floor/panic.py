"""A panic exit's input and result, pure: every position of every chain unwound to its base
asset (`floor.planning.exit`), while the engine is paused and with the pause kept.

The result says, per chain, what is out (the executor's idle balance of each asset, up by
what the exits paid, read before and after), what is queued (the exit requests made, with
their ids and expected wait) and what stays (with why: a market that lets nothing go now, a
quote past the slippage limit, a queue the engine cannot claim)."""

from __future__ import annotations

from pydantic import Field

from floor.models import Amount, FrozenModel
from floor.operations import OperationResult, StrategyTarget


class PanicExitRequest(FrozenModel):
    by: str = Field(default="", max_length=200)
    reason: str = Field(default="", max_length=500)


class PanicExitInput(FrozenModel):
    targets: list[StrategyTarget] = Field(min_length=1)  # every market of the strategy, breakers or not
    by: str = ""
    reason: str = ""


class QueuedExit(FrozenModel):
    """An exit request made in a market's queue: claimable once finalised."""

    market: str  # str(AdapterKey)
    asset: str
    amount: Amount
    ids: list[int] = []
    wait_s: int = 0  # expected time until it can be claimed


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
