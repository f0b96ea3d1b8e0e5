"""An exit drill, pure: its input, what it found per position, and the reductions the CLI, the
store and the metrics share.

A drill runs the full exit (`floor.planning.exit`, the plan `floor panic-exit` sends) on an
anvil fork of each chain at today's state, one step per transaction as the executor's operator,
and reads what each step did on the fork. Per position it says:

- `ok`: the exit went through; `realised` is what the executor's balance rose by (a queued
  exit: the amount its requests hold), `slippage_bps` that against fair value, `wait_s` the
  time until the funds are out (0: instant; a queue's expected wait);
- `partial`: it went through for what the market lets go now; `left` stays, `reason` says why;
- `failed`: the exit would not go: the market refuses it now (a paused reserve, a drained pool),
  its quote is past the slippage limit, or the transaction reverts (`reason`: the revert decoded,
  the executor's named error or the market's);
- `manual`: a queued exit the engine does not follow (validators' exits): exited by hand.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, StrictInt

from floor.models import Amount, ChainId, FrozenModel, units
from floor.planning.exit import ExitAction, ExitMode

DrillStatus = Literal["ok", "partial", "failed", "manual"]
SOUND: frozenset[str] = frozenset({"ok", "manual"})  # statuses that do not fail a drill
WHOLE_CHAIN = "all"  # the protocol label of a chain whose drill could not run at all


class ExitDrillStart(FrozenModel):
    """ExitDrillWorkflow's start: the chains to drill, and how long one chain's fork work may take."""

    chains: list[ChainId] = Field(min_length=1, max_length=100)
    timeout_s: StrictInt = Field(default=900, ge=60, le=6 * 3600)


class DrillChainInput(FrozenModel):
    run_id: str = Field(min_length=1, max_length=300)
    chain_id: ChainId


class DrilledExit(FrozenModel):
    """One position's exit as the fork ran it."""

    market: str  # str(AdapterKey)
    protocol: str
    asset: str
    decimals: int
    position: Amount  # as read on the fork
    mode: ExitMode  # instant, queued, or left by the plan
    action: ExitAction = "withdraw_all"  # the step: a market may have two (a pool sale, and the queue the rest)
    status: DrillStatus
    amount: Amount = 0  # what the step takes out (instant) or requests (queued)
    quoted: Amount = 0  # what the plan's quote says it pays
    fair: Amount = 0  # the position's fair value in the asset
    min_out: Amount = 0  # the least the step's batch accepts
    realised: Amount = 0  # what it paid on the fork (a queued exit: what its requests hold)
    slippage_bps: int | None = None  # realised against fair value (None: it did not run)
    quoted_slippage_bps: int = 0  # the quote against fair value
    wait_s: int = 0  # until the funds are out: 0 instant, else the queue's expected wait
    left: Amount = 0  # what stays in the market
    reason: str = ""  # why it failed, or why something stays
    gas_used: int = 0

    @property
    def label(self) -> str:
        """The market, and the step where it is not the market's own exit (a pool sale, a request)."""
        return f"{self.market} ({self.action})" if self.action in ("sell", "request") else self.market

    @property
    def cost_bps(self) -> int | None:
        """What leaving costs, in bps of fair value: as realised on the fork, else as quoted
        (a quote past the limit never runs); None when nothing was quoted."""
        if self.slippage_bps is not None:
            return self.slippage_bps
        return self.quoted_slippage_bps if self.quoted else None


class ChainDrill(FrozenModel):
    """One chain's drill: the fork's block, the slippage limit it ran under, every position's exit;
    `error` when the drill could not run at all (the fork did not start, the plan could not be read)."""

    chain_id: ChainId
    run_id: str
    drilled_at: datetime
    block_number: int = 0
    limit_bps: int = 0
    exits: list[DrilledExit] = []
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(e.status in SOUND for e in self.exits)

    def protocols(self) -> dict[str, tuple[bool, int | None]]:
        """Per protocol: whether every exit of it is sound, and the worst cost (bps) among them;
        a chain that could not be drilled is one `WHOLE_CHAIN` entry, not sound."""
        if self.error:
            return {WHOLE_CHAIN: (False, None)}
        out: dict[str, tuple[bool, int | None]] = {}
        for e in self.exits:
            sound, worst = out.get(e.protocol, (True, None))
            cost = e.cost_bps
            if cost is not None:
                worst = cost if worst is None else max(worst, cost)
            out[e.protocol] = (sound and e.status in SOUND, worst)
        return out


class ExitDrillResult(FrozenModel):
    status: Literal["ok", "failed"]
    summary: str
    chains: list[ChainDrill] = []


def drill_result(chains: list[ChainDrill]) -> ExitDrillResult:
    return ExitDrillResult(
        status="ok" if all(c.ok for c in chains) else "failed", summary=summary(chains), chains=chains
    )


def summary(chains: list[ChainDrill]) -> str:
    """One line per drill: per chain what would exit and what would not, and why."""
    words = []
    for chain in chains:
        if chain.error:
            words.append(f"chain {chain.chain_id}: not drilled: {chain.error}")
            continue
        if not chain.exits:
            words.append(f"chain {chain.chain_id}: nothing held")
            continue
        good = sum(1 for e in chain.exits if e.status == "ok")
        bits = [f"{good} of {len(chain.exits)} exits ok at block {chain.block_number}"]
        bits += [f"{e.label} {e.status}: {e.reason}" for e in chain.exits if e.status != "ok"]
        words.append(f"chain {chain.chain_id}: " + "; ".join(bits))
    return "exit drill: " + " | ".join(words)


def exit_line(e: DrilledExit) -> str:
    """A position's exit for people: status, what it paid against fair value, the time until out."""
    if e.status in ("failed", "manual"):
        cost = f" (quoted {e.quoted_slippage_bps} bps)" if e.quoted and e.slippage_bps is None else ""
        return f"{e.label}: {e.status.upper()}{cost}: {e.reason}"
    when = "instant" if e.mode == "instant" else f"queued, about {wait_text(e.wait_s)}"
    text = (
        f"{e.label}: {e.status} {units(e.realised, e.decimals, e.asset)} of "
        f"{units(e.fair, e.decimals, e.asset)} fair, {e.slippage_bps} bps, {when}"
    )
    if e.status == "partial":
        text += f"; {units(e.left, e.decimals, e.asset)} stays: {e.reason}"
    return text


def wait_text(seconds: int) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds} s"
