"""The rebalance and capital planners: pure, exact to the base unit."""

from __future__ import annotations

from floor.models import AdapterKey
from floor.planning.capital import plan_capital
from floor.planning.rebalance import Holding, Weight, drift_bps, plan_rebalance


def k(market: str, chain_id: int = 1) -> AdapterKey:
    return AdapterKey(chain_id=chain_id, protocol="p", market=market)


def h(market: str, amount: int, withdrawable: int | None = None, **kw) -> Holding:
    w = amount if withdrawable is None else withdrawable
    return Holding(key=k(market), asset="USDC", decimals=6, amount=amount, withdrawable=w, **kw)


W = [Weight(key=k("a"), asset="USDC", weight_bps=4000), Weight(key=k("b"), asset="USDC", weight_bps=6000)]


def test_drift_in_bps_of_the_leg():
    assert drift_bps([400, 600], [4000, 6000]) == 0
    assert drift_bps([500, 500], [4000, 6000]) == 1000
    assert drift_bps([0, 0], [1, 1]) == 0


def test_within_threshold_nothing_moves():
    plan = plan_rebalance([h("a", 440), h("b", 560)], W, 500)
    assert plan.drift_bps == 400 and not plan.acts


def test_above_threshold_withdrawals_first_then_deposits_of_exactly_what_was_freed():
    plan = plan_rebalance([h("a", 700_000), h("b", 300_000)], W, 500)
    assert plan.drift_bps == 3000 and plan.acts
    assert [(m.key.market, m.action, m.amount) for m in plan.moves] == [
        ("a", "withdraw", 300_000),
        ("b", "deposit", 300_000),
    ]
    assert plan.legs[0].projected_drift_bps == 0


def test_illiquid_market_gives_what_it_can_and_says_so():
    plan = plan_rebalance([h("a", 700_000, withdrawable=100_000), h("b", 300_000)], W, 500)
    assert [(m.action, m.amount) for m in plan.moves] == [("withdraw", 100_000), ("deposit", 100_000)]
    assert "can give back 0.1 USDC of its 0.3 USDC excess" in plan.legs[0].note
    assert plan.legs[0].projected_drift_bps == 2000


def test_a_market_weighted_zero_is_drained_whole():
    weights = [*W, Weight(key=k("c"), asset="USDC", weight_bps=0)]
    plan = plan_rebalance([h("a", 400), h("b", 600), h("c", 500)], weights, 500)
    assert plan.moves[0].action == "withdraw_all" and plan.moves[0].key == k("c")
    assert sum(m.amount for m in plan.moves if m.action == "deposit") == 500


def test_capital_idle_first_then_the_most_overweight_instant_exit_then_queued():
    holdings = [h("a", 600, withdrawable=50), h("b", 400), h("q", 300, exit="queued", exit_wait_s=86_400 * 3)]
    plan = plan_capital(900, idle=100, holdings=holdings, weights=W)
    assert [(p.kind, p.key.market if p.key else None, p.amount) for p in plan.parts] == [
        ("idle", None, 100),
        ("instant", "a", 50),  # a is furthest above its weight, but only 50 can leave now
        ("instant", "b", 400),
        ("queued", "q", 300),
    ]
    assert plan.shortfall == 50 and plan.wait_s == 86_400 * 3


def test_capital_covered_by_idle_alone():
    plan = plan_capital(10, idle=100, holdings=[h("a", 5)], weights=W)
    assert [(p.kind, p.amount) for p in plan.parts] == [("idle", 10)] and plan.shortfall == 0
