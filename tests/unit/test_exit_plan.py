"""The full-exit plan (floor.planning.exit): each position's step and its quoted line."""

from __future__ import annotations

from floor.adapters.base import Slippage
from floor.guards import Expected
from floor.models import AdapterKey
from floor.planning.exit import (
    TRANSFER_ROUNDING,
    ExitPlan,
    line_effect,
    plan_exit,
    quoted_line,
    refused_line,
    sale_tokens,
    split_sale,
)
from floor.planning.rebalance import Holding
from floor.protocols.lido.errors import WithdrawalsPaused
from floor.reconcile import idle_key

WETH = "0x" + "11" * 20
AAVE = AdapterKey(chain_id=1, protocol="aave-v3", market="WETH")
CURVE = AdapterKey(chain_id=1, protocol="curve", market="3pool")
LIDO = AdapterKey(chain_id=1, protocol="lido", market="stETH")
NATIVE = AdapterKey(chain_id=1, protocol="native-eth", market="validators")
COMET = AdapterKey(chain_id=1, protocol="compound-v3", market="cUSDCv3")


def holding(key, amount, withdrawable, exit="instant", wait=0, asset="WETH"):
    return Holding(
        key=key, asset=asset, decimals=18, amount=amount, withdrawable=withdrawable, exit=exit, exit_wait_s=wait
    )


def test_each_position_gets_its_step_instant_partial_queued_or_left_with_why():
    steps = plan_exit(
        [
            holding(AAVE, 100, 100),
            holding(CURVE, 50, 20, asset="USDC"),
            holding(LIDO, 70, 0, exit="queued", wait=432_000),
            holding(NATIVE, 32, 0, exit="queued", wait=100),
            holding(COMET, 10, 0, asset="USDC"),
            holding(AdapterKey(chain_id=1, protocol="spark", market="USDC"), 0, 0),  # nothing held
        ]
    )
    got = [(s.key, s.action, s.mode, s.amount, s.left, s.wait_s) for s in steps]
    assert got == [
        (AAVE, "withdraw_all", "instant", 100, 0, 0),
        (CURVE, "withdraw", "instant", 20, 30, 0),
        (LIDO, "request", "queued", 70, 0, 432_000),
        (NATIVE, "request", "queued", 32, 0, 100),
        (COMET, "none", "left", 0, 10, 0),
    ]
    assert "20 of 50" in steps[1].reason and "nothing" in steps[4].reason
    assert [s.paid_by for s in steps if s.mode == "queued"] == ["claim", "sweep"]


def test_a_queue_neither_claimed_nor_swept_is_left_by_hand():
    (step,) = plan_exit([holding(NATIVE, 32, 0, exit="queued")], swept=())
    assert (step.action, step.left) == ("none", 32) and "by hand" in step.reason
    # a validator's exit changes nothing the journal follows until the sweep pays it
    native = plan_exit([holding(NATIVE, 32, 0, exit="queued")])[0]
    assert line_effect(1, quoted_line(native, [], None, WETH, 50)) == {}


def test_a_sale_through_the_instant_exit_pool_takes_what_it_can_and_the_queue_the_rest():
    lido = plan_exit([holding(LIDO, 70 * 10**18, 0, exit="queued", wait=432_000)])[0]
    assert sale_tokens(lido, 70 * 10**18) == 70 * 10**18
    sale, rest = split_sale(lido, 20 * 10**18, 20 * 10**18)
    assert (sale.action, sale.mode, sale.amount, sale.tokens) == ("sell", "instant", 20 * 10**18, 20 * 10**18)
    assert (rest.action, rest.mode, rest.amount) == ("request", "queued", 50 * 10**18 - TRANSFER_ROUNDING)
    assert "the queue the rest" in rest.reason
    (whole,) = split_sale(lido, 70 * 10**18, 70 * 10**18)
    assert whole.action == "sell" and not whole.left


def test_a_sale_takes_what_reths_collateral_leaves_and_says_what_stays():
    reth = AdapterKey(chain_id=1, protocol="rocket-pool", market="rETH")
    partial = plan_exit([holding(reth, 100, 40)])[0]  # 90 rETH worth 100; the burn takes 40
    assert sale_tokens(partial, 90) == 90 * 60 // 100 - TRANSFER_ROUNDING
    burn, sale = split_sale(partial, 52, 58)
    assert (burn.action, burn.amount, burn.left) == ("withdraw", 40, 0)
    assert (sale.action, sale.amount, sale.left) == ("sell", 58, 2) and "takes 58 more" in sale.reason
    nothing = plan_exit([holding(reth, 100, 0)])[0]
    (only,) = split_sale(nothing, 88, 98)
    assert (only.action, only.amount, only.left) == ("sell", 98, 2)
    assert sale_tokens(plan_exit([holding(AAVE, 7, 7)])[0], 7) == 0  # all of it leaves by the market's exit


def test_a_quoted_line_reports_the_pool_quote_its_min_out_and_refuses_past_the_limit():
    step = plan_exit([holding(CURVE, 10_000, 10_000, asset="USDC")])[0]
    ok = quoted_line(step, [Expected(WETH, 9_990)], Slippage(quoted=9_990, fair=10_000), WETH, 50)
    assert (ok.quoted, ok.fair, ok.slippage_bps, ok.min_out, ok.built) == (9_990, 10_000, 10, 9_940, True)
    bad = quoted_line(step, [], Slippage(quoted=9_900, fair=10_000), WETH, 50)
    assert not bad.built and bad.slippage_bps == 100 and "SlippageTooHigh" in bad.refusal and "50 bps" in bad.refusal


def test_a_market_at_its_own_rate_is_quoted_by_its_balance_change_and_a_queue_at_its_amount():
    step = plan_exit([holding(AAVE, 1_000, 1_000)])[0]
    line = quoted_line(step, [Expected("0x" + "22" * 20, -1_000), Expected(WETH, 999)], None, WETH, 50)
    assert (line.quoted, line.fair, line.slippage_bps, line.min_out) == (999, 1_000, 10, 994)
    queued = quoted_line(plan_exit([holding(LIDO, 5, 0, exit="queued")])[0], [], None, WETH, 50)
    assert (queued.quoted, queued.min_out, queued.built) == (5, 5, True)


def test_refused_lines_name_the_error_and_effects_follow_the_mode():
    lido = plan_exit([holding(LIDO, 5, 0, exit="queued")])[0]
    refused = refused_line(lido, WithdrawalsPaused("the queue is paused"))
    assert not refused.built and refused.refusal == "WithdrawalsPaused: the queue is paused"
    assert line_effect(1, quoted_line(lido, [], None, WETH, 50)) == {str(LIDO): -5}
    aave = quoted_line(plan_exit([holding(AAVE, 7, 7)])[0], [], None, WETH, 50)
    assert line_effect(1, aave) == {str(AAVE): -7, idle_key(1, "WETH"): 7}
    plan = ExitPlan(chain_id=1, lines=[aave, quoted_line(lido, [], None, WETH, 50), refused])
    assert plan.out() == {"WETH": 7} and plan.queued() == {"WETH": 5}


def test_a_held_queue_sends_only_the_panic_exits_intents():
    from datetime import UTC, datetime

    from floor.txqueue import next_to_send
    from tests.unit.test_txqueue import intent, pending

    now = datetime(2026, 1, 1, tzinfo=UTC)
    state = pending(intent("deposit"), intent("panic", through_hold=True))
    assert [[i.id for i in plan] for plan in next_to_send(state, now)] == [["deposit"], ["panic"]]
    state.held = "paused by oncall: exploit"
    assert [[i.id for i in plan] for plan in next_to_send(state, now)] == [["panic"]]


def test_a_panic_exit_feeds_the_operation_metrics_like_any_operation():
    from datetime import UTC, datetime, timedelta

    from floor.observations import observe_operation
    from floor.operations import ChainPart
    from floor.panic import PanicExitResult

    start = datetime(2026, 1, 1, tzinfo=UTC)
    error = "engine/panic-exit-2/chain-42161/panic-1: TransactionReverted: reverted"
    result = PanicExitResult(
        status="partial",
        summary="panic exit: ...",
        chains=[ChainPart(chain_id=1, status="done"), ChainPart(chain_id=42161, status="failed", error=error)],
    )
    seen = observe_operation("panic-exit", "engine/panic-exit-2", start, start + timedelta(seconds=9), result)
    assert (seen.kind, seen.status, seen.duration_s, seen.error_type) == (
        "panic-exit",
        "partial",
        9.0,
        "TransactionReverted",
    )
    assert [(f.chain_id, f.error_type) for f in seen.failed] == [(42161, "TransactionReverted")]
