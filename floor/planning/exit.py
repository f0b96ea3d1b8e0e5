"""The full exit, pure: every position of a chain taken back to its base asset.

From the positions as read (`Holding`: position, what can leave now, how the market exits),
each market gets one step:

- an instant market whose liquidity covers the position: withdraw all of it (a lending
  withdrawal, a vault redemption, an LP exit to one coin, rETH's burn), bound by a fresh
  quote less the slippage limit (`protected_calls`);
- an instant market that lets only part go now: withdraw that part; the rest stays, and the
  step says why;
- a queued market whose payout the executor claims itself (Lido's withdrawal queue,
  `CLAIMABLE_QUEUES`): request the exit of the whole position; the claim comes after the wait;
- a queued market whose payout the consensus layer sweeps to the executor without a claim
  (the treasury's validators, `SWEPT_QUEUES`): request the exit of every validator that can
  exit (EIP-7002); the ETH arrives after the exit queue, the withdrawability delay and the sweep;
- any other queued market and a market with nothing to take now: left, with why.

Where a staking token also has an instant exit (a Curve ETH pool: Lido's stETH, rETH beyond
its collateral), the activity sells through the pool the largest part the pool pays within
the slippage limit (`split_sale`: the queue or the market's own exit takes the rest; the
step's reason says what the pool would have cost when it takes nothing).

The activity that builds the plan quotes each step and reports what it pays against fair
value (`quoted_line`); a step past the slippage limit is not built (the loss bound holds
for a panic too) and says so. Steps become call groups, packed into as few transactions as
the executor allows (`floor.batching`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Literal

from pydantic import Field

from floor.adapters.base import Slippage
from floor.guards import Expected, min_delta
from floor.models import AdapterKey, Amount, Call, FrozenModel
from floor.planning.capital import CLAIMABLE_QUEUES
from floor.planning.rebalance import Holding
from floor.reconcile import move_effect

ExitMode = Literal["instant", "queued", "left"]
ExitAction = Literal["withdraw_all", "withdraw", "request", "sell", "none"]
# Queued exits the engine requests and the consensus layer's sweep pays, with no claim.
SWEPT_QUEUES = frozenset({"native-eth"})
# stETH moves shares rounded down: what a sale leaves in the balance may be a wei or two short.
TRANSFER_ROUNDING = 2
MIN_QUEUED = 100  # Lido's least request (wei): a smaller rest stays as dust


class ExitStep(FrozenModel):
    """One market's part of the full exit, as planned from the positions read."""

    key: AdapterKey
    asset: str
    decimals: int
    position: Amount  # as read
    action: ExitAction
    mode: ExitMode
    amount: Amount  # what the step takes out now (instant) or requests (queued)
    wait_s: int = 0  # expected time until the funds are out
    left: Amount = 0  # what stays in the market
    reason: str = ""  # why something stays (a queued step: why it is not sold now)
    tokens: Amount = 0  # a sale: the staking token sold through the instant-exit pool
    paid_by: Literal["claim", "sweep"] = "claim"  # a queued step: the engine claims it, or the sweep pays it


class ExitLine(FrozenModel):
    """A step as quoted and built: what it pays (or requests) against fair value, the least the
    batch accepts, and whether it is in the plan's transactions."""

    step: ExitStep
    quoted: Amount = 0  # what the exit pays now by its quote (a request: the amount requested)
    fair: Amount = 0  # the position's fair value in the asset (the amount planned)
    min_out: Amount = 0  # the least the batch accepts (quote less the slippage limit)
    slippage_bps: int = 0  # the quote against fair value (negative: the exit gains)
    built: bool = False  # its calls are in the plan's groups
    refusal: str = ""  # why it is not (the market's named refusal, or the slippage limit)
    group: int | None = None  # index of its calls in the plan's groups


class ExitPlan(FrozenModel):
    """One chain's full exit: each market's line and the call groups of the built ones."""

    chain_id: int
    lines: list[ExitLine] = []
    groups: list[list[Call]] = []
    limit_bps: int = 0
    idle: dict[str, int] = {}  # the executor's balance of each asset, read with the positions
    block_number: int = 0

    def out(self) -> dict[str, int]:
        """The asset each instant line is quoted to pay, per symbol."""
        return _by_asset(
            (line.step.asset, line.quoted) for line in self.lines if line.built and line.step.mode == "instant"
        )

    def queued(self) -> dict[str, int]:
        return _by_asset(
            (line.step.asset, line.quoted) for line in self.lines if line.built and line.step.mode == "queued"
        )


def _by_asset(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for asset, amount in pairs:
        out[asset] = out.get(asset, 0) + amount
    return out


def plan_exit(
    holdings: Sequence[Holding], claimable: Collection[str] = CLAIMABLE_QUEUES, swept: Collection[str] = SWEPT_QUEUES
) -> list[ExitStep]:
    """Each held position's step (markets holding nothing are left out), in the holdings' order."""
    steps = []
    for h in holdings:
        if h.amount <= 0:
            continue
        base = {"key": h.key, "asset": h.asset, "decimals": h.decimals, "position": h.amount}
        if h.exit == "queued":
            if h.key.protocol in claimable or h.key.protocol in swept:
                paid_by = "claim" if h.key.protocol in claimable else "sweep"
                steps.append(
                    ExitStep(
                        **base, action="request", mode="queued", amount=h.amount, wait_s=h.exit_wait_s, paid_by=paid_by
                    )
                )
            else:
                steps.append(_left(h, "its queued exit pays without a claim the engine follows: exit it by hand"))
        elif h.withdrawable >= h.amount:
            steps.append(ExitStep(**base, action="withdraw_all", mode="instant", amount=h.amount))
        elif h.withdrawable > 0:
            steps.append(
                ExitStep(
                    **base,
                    action="withdraw",
                    mode="instant",
                    amount=h.withdrawable,
                    left=h.amount - h.withdrawable,
                    reason=f"the market lets {h.withdrawable} of {h.amount} leave now",
                )
            )
        else:
            steps.append(_left(h, "the market lets nothing leave now"))
    return steps


def sale_tokens(step: ExitStep, shares: int) -> int:
    """The staking tokens an instant-exit pool could take for `step`, of the `shares` held: all of
    a queued exit (stETH, one token a wei), what an instant market's own exit leaves (rETH beyond
    its collateral, valued at the position's rate, less a wei or two for the burn's rounding),
    none when the step takes everything already."""
    if step.action == "request":
        return shares
    if step.left <= 0 or step.position <= 0:
        return 0
    return max(shares * step.left // step.position - TRANSFER_ROUNDING, 0)


def split_sale(step: ExitStep, tokens: int, value: int) -> list[ExitStep]:
    """`step` with `tokens` of its staking token sold through the instant-exit pool for
    `value` (their fair value in the asset): the sale first, then what the queue or the
    market's own exit takes of the rest; what neither takes stays with the sale, and why."""
    sale = step.model_copy(
        update={
            "action": "sell",
            "mode": "instant",
            "amount": value,
            "tokens": tokens,
            "wait_s": 0,
            "left": 0,
            "reason": "",
        }
    )
    if step.mode == "queued":
        rest = step.amount - value - TRANSFER_ROUNDING
        if value >= step.amount or rest < MIN_QUEUED:
            return [sale]
        why = f"the instant-exit pool takes {value} of {step.amount} within the slippage limit; the queue the rest"
        return [sale, step.model_copy(update={"amount": rest, "reason": why})]
    left = max(step.left - value, 0)
    if left:
        sale = sale.model_copy(
            update={"left": left, "reason": f"{step.reason}; the instant-exit pool takes {value} more within the limit"}
        )
    if step.action == "none":
        return [sale]
    return [step.model_copy(update={"left": 0, "reason": ""}), sale]


def _left(h: Holding, reason: str) -> ExitStep:
    """A position that stays whole, and why."""
    return ExitStep(
        key=h.key,
        asset=h.asset,
        decimals=h.decimals,
        position=h.amount,
        action="none",
        mode="left",
        amount=0,
        left=h.amount,
        reason=reason,
    )


def quoted_line(
    step: ExitStep, expected: Sequence[Expected], slippage: Slippage | None, asset_address: str, limit_bps: int
) -> ExitLine:
    """A step's quote as its line: what the exit pays in the asset (a pool's quote, else the
    quoted balance change, else the amount: a market that converts at its own rate), what the
    batch insists on, and whether it stays within the slippage limit (else not built)."""
    if step.mode == "queued":  # a queue records each request at exactly its amount; the sweep pays the balance
        return ExitLine(step=step, quoted=step.amount, fair=step.amount, min_out=step.amount, built=True)
    received = next((e.delta for e in expected if e.token.lower() == asset_address.lower() and e.delta > 0), None)
    quoted = slippage.quoted if slippage is not None else received if received is not None else step.amount
    fair = slippage.fair if slippage is not None else step.amount
    bps = slippage.bps if slippage is not None else Slippage(quoted, fair).bps
    line = ExitLine(step=step, quoted=quoted, fair=fair, min_out=max(min_delta(quoted, limit_bps), 0), slippage_bps=bps)
    if bps > limit_bps:
        return line.model_copy(
            update={
                "refusal": f"SlippageTooHigh: the exit would lose {bps} bps against fair value; the limit is {limit_bps} bps"
            }
        )
    return line.model_copy(update={"built": True})


def refused_line(step: ExitStep, error: Exception) -> ExitLine:
    """A step the market refuses now (its quote raised the protocol's named error)."""
    return ExitLine(step=step, fair=step.amount, refusal=f"{type(error).__name__}: {error}")


def line_effect(chain_id: int, line: ExitLine) -> dict[str, int]:
    """A built line's planned change for the journal: an instant exit lands idle, a queued
    one becomes requests in the queue."""
    step = line.step
    if step.mode == "queued":
        return {str(step.key): -step.amount} if step.paid_by == "claim" else {}
    return move_effect(chain_id, step.asset, str(step.key), -step.amount)


class FullExitInput(FrozenModel):
    """The full exit of these markets on one chain (the strategy's, every one of them)."""

    chain_id: int
    keys: list[AdapterKey] = Field(min_length=1)
