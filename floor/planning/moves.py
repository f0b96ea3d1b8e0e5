"""The decisions of building a chain's moves (`activities.chain.build_moves`), as pure functions.

The activity reads the chain (balances, liquidity, positions, quotes) and hands the readings
here: which action each move is and whether the market lets it go now, what the withdrawals
free and the deposits take, how a shortfall from exits paying less than planned is absorbed,
whether the executor holds enough, the order (withdrawals first) and the delivery. Also the
slippage refusal and the largest chunk of an action that stays under the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from floor.adapters.base import (
    Action,
    Adapter,
    Deposit,
    LiquidityReading,
    PositionReading,
    Slippage,
    Withdraw,
    WithdrawAll,
)
from floor.calls import ReadResult, call
from floor.errors import BadInput, FloorError, InsufficientBalance, InsufficientLiquidity, SlippageTooHigh
from floor.models import AdapterKey, Call, units
from floor.permissions import TRANSFER

if TYPE_CHECKING:
    from floor.config import TokenConfig
    from floor.messages import Delivery
    from floor.planning.rebalance import Move

CHUNK_HALVINGS = 10  # the largest-chunk search quotes the amount halved 1..10 times


def check_assets(keys: Sequence[AdapterKey], adapters: Sequence[Adapter], asset: str) -> None:
    """Every market named takes `asset`."""
    for key, adapter in zip(keys, adapters, strict=True):
        if adapter.asset.symbol != asset:
            raise BadInput(f"{key} takes {adapter.asset.symbol}, not {asset}")


def move_action(move: Move, liquidity: LiquidityReading, position: PositionReading, token: TokenConfig) -> Action:
    """The action of one move, refused when a withdrawal wants more than the market lets the
    executor take now (a full withdrawal wants the position as read)."""
    if move.action == "deposit":
        return Deposit(move.amount)
    wanted = move.amount if move.action == "withdraw" else position.amount
    if wanted > liquidity.withdrawable:
        why = f": {liquidity.reason}" if liquidity.reason else ""
        what = units(wanted, token.decimals, token.symbol)
        raise InsufficientLiquidity(
            f"{move.key}: withdrawing {'' if move.action == 'withdraw' else 'all '}{what}, "
            f"the market lets the executor take {units(liquidity.withdrawable, token.decimals, token.symbol)}"
            f" now{why}"
        )
    return Withdraw(move.amount, position) if move.action == "withdraw" else WithdrawAll(position)


def planned_amount(action: Action) -> int:
    """What an action moves as planned: a full withdrawal, the position as read."""
    return action.position.amount if isinstance(action, WithdrawAll) else action.amount


def planned_totals(actions: Sequence[Action]) -> tuple[int, int]:
    """(what the deposits take, what the withdrawals free), as planned."""
    needed = sum(a.amount for a in actions if isinstance(a, Deposit))
    freed = sum(planned_amount(a) for a in actions if not isinstance(a, Deposit))
    return needed, freed


def quoted_exits(actions: Sequence[Action], slippages: Sequence[Slippage | None]) -> tuple[int, int]:
    """(what the quoted exits pay beyond plan (negative: less), what they pay short of it).

    A pool's exit pays its quote, not the amount planned: a Balancer exit burns whole BPT (the
    amount or a little more), a full exit pays below fair value."""
    change, short = 0, 0
    for action, slippage in zip(actions, slippages, strict=True):
        if slippage is not None and not isinstance(action, Deposit):
            planned = planned_amount(action)
            change += slippage.quoted - planned
            short += max(planned - slippage.quoted, 0)
    return change, short


def deposit_to_shrink(actions: Sequence[Action], short: int, exits_short: int) -> int | None:
    """When the exits paying less than planned leave the moves `short`, the largest deposit
    (the first of equals) takes what they give: its index, if it is larger than the shortfall."""
    if not 0 < short <= exits_short:
        return None
    deposits = {i: a.amount for i, a in enumerate(actions) if isinstance(a, Deposit)}
    j = max(deposits, key=deposits.__getitem__, default=None)
    if j is not None and deposits[j] > short:
        return j
    return None


def check_funds(
    idle: int, freed: int, needed: int, delivery: int, token: TokenConfig, account: str, chain_id: int
) -> None:
    """Deposits and the delivery fit the idle balance plus what the withdrawals free."""
    if idle + freed < needed + delivery:
        raise InsufficientBalance(
            f"executor {account} on chain {chain_id} holds {units(idle, token.decimals, token.symbol)} "
            f"and the withdrawals free {units(freed, token.decimals, token.symbol)}; deposits and delivery need "
            f"{units(needed + delivery, token.decimals, token.symbol)}"
        )


def withdrawals_first(groups: Sequence[list[Call]], actions: Sequence[Action]) -> list[list[Call]]:
    """The groups with withdrawals first (in their order), so deposits and the delivery spend
    what they freed."""
    order = sorted(range(len(groups)), key=lambda i: isinstance(actions[i], Deposit))
    return [groups[i] for i in order]


def check_destination(destination: str, destinations: Sequence[str], chain_id: int) -> None:
    if destination.lower() not in [d.lower() for d in destinations]:
        raise BadInput(f"{destination} is not a listed destination on chain {chain_id}")


def delivery_calls(deliver: Delivery, destinations: Sequence[str], token: TokenConfig, chain_id: int) -> list[Call]:
    """The transfer to a listed destination."""
    check_destination(deliver.destination, destinations, chain_id)
    return [call(token.address, TRANSFER, deliver.destination, deliver.amount)]


def within_limit(slippage: Slippage | None, limit_bps: int) -> bool:
    return slippage is None or slippage.bps <= limit_bps


def chunk_candidates(action: Deposit | Withdraw) -> list[Deposit | Withdraw]:
    """The action at halvings of its amount, largest first (none of nothing)."""
    sizes = [action.amount >> k for k in range(1, CHUNK_HALVINGS + 1) if action.amount >> k > 0]
    return [replace(action, amount=size) for size in sizes]


def largest_chunk(
    adapter: Adapter,
    candidates: Sequence[Deposit | Withdraw],
    quotes: Sequence[Sequence[ReadResult]],
    limit_bps: int,
) -> tuple[int, int] | None:
    """The first candidate (largest first) whose quote stays within the limit, with its bps; a
    candidate the market refuses is skipped."""
    for candidate, quote in zip(candidates, quotes, strict=True):
        try:
            slippage = adapter.slippage(candidate, quote)
        except FloorError:
            continue
        if within_limit(slippage, limit_bps):
            return candidate.amount, slippage.bps if slippage else 0
    return None


def slippage_refusal(
    adapter: Adapter, action: Action, slippage: Slippage, limit_bps: int, chunk: tuple[int, int] | None
) -> SlippageTooHigh:
    """The refusal of an action quoted past the limit, naming the figures and the largest
    chunk that stays under it (None: no smaller chunk does)."""
    what = type(action).__name__.lower()
    amount = getattr(action, "amount", None)
    asset = adapter.asset

    def human(n: int) -> str:
        return units(n, asset.decimals, asset.symbol)

    message = (
        f"{adapter.key}: {what} {'' if amount is None else f'{human(amount)} '}would lose "
        f"{slippage.bps} bps against fair value (quoted {human(slippage.quoted)}, fair {human(slippage.fair)})"
        f"; the limit is {limit_bps} bps per operation"
    )
    if chunk is not None:
        size, bps = chunk
        message += f"; {human(size)} at a time stay under it ({bps} bps): move it in chunks"
    else:
        message += "; no smaller chunk of it stays under the limit now"
    return SlippageTooHigh(message)
