"""The pure decisions of building a chain's moves (`floor.planning.moves`): each move's action
and whether it fits, the totals, a shortfall from exits paying less, the funds check, the
order, the delivery, and the slippage refusal with its largest chunk."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from floor.adapters.base import Asset, Deposit, LiquidityReading, PositionReading, Slippage, Withdraw, WithdrawAll
from floor.config import TokenConfig
from floor.errors import BadInput, FloorError, InsufficientBalance, InsufficientLiquidity
from floor.messages import Delivery
from floor.models import AdapterKey, Call
from floor.planning.moves import (
    check_assets,
    check_destination,
    check_funds,
    chunk_candidates,
    delivery_calls,
    deposit_to_shrink,
    largest_chunk,
    move_action,
    planned_amount,
    planned_totals,
    quoted_exits,
    slippage_refusal,
    withdrawals_first,
    within_limit,
)
from floor.planning.rebalance import Move

USDC = 10**6
TOKEN = TokenConfig(symbol="USDC", address="0x" + "11" * 20, decimals=6)
ASSET = Asset(symbol="USDC", address=TOKEN.address, decimals=6)
POOL = AdapterKey(chain_id=1, protocol="curve", market="3pool")
AAVE = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
EXECUTOR = "0x" + "ee" * 20
DESTINATION = "0x" + "dd" * 20


class Refused(FloorError):
    """The market refuses to quote this amount."""


@dataclass
class FakePool:
    """An adapter whose quote (`quote`: what the read returned) is the amount the action pays;
    None: the market refuses the amount. Fair value is the amount itself."""

    key: AdapterKey = POOL
    asset: Asset = ASSET

    def slippage(self, action, quote) -> Slippage | None:
        if quote is None:
            raise Refused("no quote")
        if quote == "none":
            return None  # a market with no pool price
        return Slippage(quoted=quote, fair=action.amount)


def liquidity(withdrawable: int, reason: str | None = None) -> LiquidityReading:
    return LiquidityReading(
        position=10_000 * USDC, market_available=withdrawable, withdrawable=withdrawable, reason=reason
    )


def position(amount: int) -> PositionReading:
    return PositionReading(amount=amount)


def move(action: str, amount: int, key: AdapterKey = POOL) -> Move:
    return Move(key=key, asset="USDC", action=action, amount=amount)


def test_every_market_must_take_the_asset():
    other = FakePool(asset=Asset(symbol="DAI", address="0x" + "22" * 20, decimals=18))
    check_assets([POOL, AAVE], [FakePool(), FakePool(key=AAVE)], "USDC")
    with pytest.raises(BadInput, match=r"^1:aave-v3:USDC takes DAI, not USDC$"):
        check_assets([POOL, AAVE], [FakePool(), other], "USDC")


def test_a_deposit_is_its_amount_whatever_the_market_lets_go():
    assert move_action(move("deposit", 5 * USDC), liquidity(0), position(0), TOKEN) == Deposit(5 * USDC)


def test_a_withdrawal_fits_up_to_what_the_market_lets_go_and_carries_the_position():
    held = position(800 * USDC)
    assert move_action(move("withdraw", 500 * USDC), liquidity(500 * USDC), held, TOKEN) == Withdraw(500 * USDC, held)
    with pytest.raises(InsufficientLiquidity) as refused:
        move_action(move("withdraw", 500 * USDC + 1), liquidity(500 * USDC), held, TOKEN)
    assert str(refused.value) == (
        "1:curve:3pool: withdrawing 500.000001 USDC, the market lets the executor take 500 USDC now"
    )


def test_a_full_withdrawal_wants_the_position_as_read_not_the_planned_amount():
    held = position(1_500_500_000)
    # Planned at less than it holds now: the position decides, and names the market's reason.
    with pytest.raises(InsufficientLiquidity) as refused:
        move_action(move("withdraw_all", 1_000 * USDC), liquidity(1_000 * USDC, "the reserve is paused"), held, TOKEN)
    assert str(refused.value) == (
        "1:curve:3pool: withdrawing all 1,500.5 USDC, the market lets the executor take 1,000 USDC now"
        ": the reserve is paused"
    )
    assert move_action(move("withdraw_all", 1), liquidity(1_500_500_000), held, TOKEN) == WithdrawAll(held)


def test_totals_count_deposits_against_what_withdrawals_free_as_planned():
    actions = [Deposit(100), Withdraw(30, position(50)), WithdrawAll(position(70)), Deposit(5)]
    assert [planned_amount(a) for a in actions] == [100, 30, 70, 5]
    assert planned_totals(actions) == (105, 100)
    assert planned_totals([]) == (0, 0)


def test_quoted_exits_count_what_pools_pay_beyond_and_short_of_plan_deposits_aside():
    actions = [Deposit(100), Withdraw(30), WithdrawAll(position(70)), Withdraw(10)]
    slippages = [
        Slippage(quoted=90, fair=100),  # a deposit's slippage is not what anything frees
        Slippage(quoted=32, fair=30),  # a Balancer exit pays a little more
        Slippage(quoted=65, fair=70),  # a full exit pays below fair value
        None,  # no pool: pays as planned
    ]
    assert quoted_exits(actions, slippages) == (2 - 5, 5)


def test_the_largest_deposit_absorbs_a_shortfall_the_exits_caused():
    actions = [Deposit(40), Withdraw(100), Deposit(60), Deposit(60)]
    assert deposit_to_shrink(actions, short=5, exits_short=5) == 2  # the first of the largest
    assert deposit_to_shrink(actions, short=0, exits_short=5) is None  # nothing short
    assert deposit_to_shrink(actions, short=-3, exits_short=5) is None
    assert deposit_to_shrink(actions, short=6, exits_short=5) is None  # short beyond the exits: a real shortfall
    assert deposit_to_shrink(actions, short=60, exits_short=80) is None  # it would take the whole deposit
    assert deposit_to_shrink([Withdraw(100)], short=5, exits_short=5) is None  # no deposit


def test_funds_must_cover_deposits_and_the_delivery():
    check_funds(idle=40, freed=60, needed=90, delivery=10, token=TOKEN, account=EXECUTOR, chain_id=1)
    with pytest.raises(InsufficientBalance) as refused:
        check_funds(
            idle=40 * USDC,
            freed=60 * USDC,
            needed=90 * USDC,
            delivery=10 * USDC + 1,
            token=TOKEN,
            account=EXECUTOR,
            chain_id=1,
        )
    assert str(refused.value) == (
        f"executor {EXECUTOR} on chain 1 holds 40 USDC and the withdrawals free 60 USDC; deposits and delivery "
        "need 100.000001 USDC"
    )


def test_withdrawals_go_first_each_side_in_its_order():
    actions = [Deposit(1), Withdraw(2), Deposit(3), WithdrawAll(position(4))]
    groups = [[Call(target=EXECUTOR, data=f"0x0{i}")] for i in range(4)]
    assert withdrawals_first(groups, actions) == [groups[1], groups[3], groups[0], groups[2]]


def test_the_delivery_goes_only_to_a_listed_destination():
    (transfer,) = delivery_calls(
        Delivery(destination=DESTINATION, amount=5), [DESTINATION.upper().replace("0X", "0x")], TOKEN, 1
    )
    assert transfer.target == TOKEN.address and transfer.value == 0
    assert transfer.data == "0xa9059cbb" + "00" * 12 + "dd" * 20 + f"{5:064x}"
    with pytest.raises(BadInput, match=rf"^{DESTINATION} is not a listed destination on chain 42161$"):
        delivery_calls(Delivery(destination=DESTINATION, amount=5), ["0x" + "cc" * 20], TOKEN, 42161)
    with pytest.raises(BadInput):
        check_destination(DESTINATION, [], 1)


def test_chunks_are_halvings_of_the_amount_largest_first():
    assert [c.amount for c in chunk_candidates(Deposit(1_000))] == [500, 250, 125, 62, 31, 15, 7, 3, 1]
    assert [c.amount for c in chunk_candidates(Deposit(10**9))][-1] == 10**9 >> 10  # ten halvings at most
    assert len(chunk_candidates(Deposit(10**9))) == 10
    assert chunk_candidates(Deposit(1)) == []
    held = position(8)
    assert chunk_candidates(Withdraw(8, held)) == [Withdraw(4, held), Withdraw(2, held), Withdraw(1, held)]


def test_the_largest_chunk_is_the_first_within_the_limit_skipping_refused_quotes():
    pool = FakePool()
    candidates = chunk_candidates(Deposit(1_000))[:4]  # 500, 250, 125, 62
    # 500 refused, 250 loses 160 bps, 125 loses 80 bps, 62 loses nothing
    quotes = [None, 246, 124, 62]
    assert largest_chunk(pool, candidates, quotes, limit_bps=100) == (125, 80)
    assert largest_chunk(pool, candidates, quotes, limit_bps=160) == (250, 160)  # the limit is inclusive
    assert largest_chunk(pool, candidates, quotes, limit_bps=50) == (62, 0)
    assert largest_chunk(pool, candidates, ["none", 1, 1, 1], limit_bps=0) == (500, 0)  # no figure: within
    assert largest_chunk(pool, candidates, [None, 200, 100, 50], limit_bps=50) is None
    assert within_limit(None, 0) and within_limit(Slippage(quoted=99, fair=100), 100)
    assert not within_limit(Slippage(quoted=99, fair=100), 99)


def test_a_refusal_names_the_figures_and_the_chunk_that_fits():
    pool = FakePool()
    lost = Slippage(quoted=900 * USDC, fair=1_000 * USDC)
    refusal = slippage_refusal(pool, Withdraw(1_000 * USDC), lost, 50, (250 * USDC, 40))
    assert str(refusal) == (
        "1:curve:3pool: withdraw 1,000 USDC would lose 1000 bps against fair value (quoted 900 USDC, fair 1,000 USDC)"
        "; the limit is 50 bps per operation; 250 USDC at a time stay under it (40 bps): move it in chunks"
    )
    refusal = slippage_refusal(pool, WithdrawAll(position(1_000 * USDC)), lost, 50, None)
    assert str(refusal) == (
        "1:curve:3pool: withdrawall would lose 1000 bps against fair value (quoted 900 USDC, fair 1,000 USDC)"
        "; the limit is 50 bps per operation; no smaller chunk of it stays under the limit now"
    )
