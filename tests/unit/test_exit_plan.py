"""The full-exit plan (floor.planning.exit): each position's step and its quoted line."""

from __future__ import annotations

from floor.adapters.base import Slippage
from floor.guards import Expected
from floor.models import AdapterKey
from floor.planning.exit import ExitPlan, line_effect, plan_exit, quoted_line, refused_line
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
        (NATIVE, "none", "left", 0, 32, 0),
        (COMET, "none", "left", 0, 10, 0),
    ]
    assert "20 of 50" in steps[1].reason and "by hand" in steps[3].reason and "nothing" in steps[4].reason


def test_a_queue_the_engine_cannot_claim_is_left_unless_named_claimable():
    (step,) = plan_exit([holding(NATIVE, 32, 0, exit="queued")], claimable={"native-eth"})
    assert step.action == "request"


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
