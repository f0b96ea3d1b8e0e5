"""The capital planner's queued exits: only queues the engine can claim count (Lido's), and
the claim phase's workflow id follows the engine's operation number."""

from __future__ import annotations

from floor.models import AdapterKey
from floor.operations import CapitalRequest
from floor.planning.capital import CLAIMABLE_QUEUES, claim_workflow_id, plan_capital
from floor.planning.rebalance import Holding, Weight

ETH = 10**18
DAY = 86_400


def key(protocol: str, market: str) -> AdapterKey:
    return AdapterKey(chain_id=1, protocol=protocol, market=market)


AAVE, LIDO, NATIVE = key("aave-v3", "WETH"), key("lido", "stETH"), key("native-eth", "validators")


def holding(k: AdapterKey, amount: int, exit: str = "instant", wait: int = 0) -> Holding:
    withdrawable = amount if exit == "instant" else 0
    return Holding(
        key=k, asset="WETH", decimals=18, amount=amount, withdrawable=withdrawable, exit=exit, exit_wait_s=wait
    )


HOLDINGS = [
    holding(AAVE, 500 * ETH),
    holding(NATIVE, 64 * ETH, "queued", 2 * DAY),  # the shorter wait: first, if it counted
    holding(LIDO, 3_000 * ETH, "queued", 5 * DAY),
]
WEIGHTS = [Weight(key=k, asset="WETH", weight_bps=w) for k, w in ((AAVE, 2_000), (LIDO, 7_000), (NATIVE, 1_000))]


def test_native_eth_exits_are_left_out_and_lido_covers_the_queued_rest():
    plan = plan_capital(3_100 * ETH, 100 * ETH, HOLDINGS, WEIGHTS, claimable=CLAIMABLE_QUEUES)
    assert [(p.kind, p.key, p.amount) for p in plan.parts] == [
        ("idle", None, 100 * ETH),
        ("instant", AAVE, 500 * ETH),
        ("queued", LIDO, 2_500 * ETH),
    ]
    assert plan.shortfall == 0 and plan.wait_s == 5 * DAY


def test_without_the_filter_every_queue_counts_shortest_wait_first():
    plan = plan_capital(3_100 * ETH, 100 * ETH, HOLDINGS, WEIGHTS)
    assert [(p.key, p.amount) for p in plan.parts if p.kind == "queued"] == [(NATIVE, 64 * ETH), (LIDO, 2_436 * ETH)]


def test_native_eth_stake_is_not_counted_as_available():
    plan = plan_capital(3_650 * ETH, 100 * ETH, HOLDINGS, WEIGHTS, claimable=CLAIMABLE_QUEUES)
    assert plan.shortfall == 50 * ETH  # 3,600 available: idle, Aave and Lido; the validators' 64 not
    assert all(p.key != NATIVE for p in plan.parts)


def test_an_instant_only_plan_has_no_wait():
    plan = plan_capital(550 * ETH, 100 * ETH, HOLDINGS, WEIGHTS, claimable=CLAIMABLE_QUEUES)
    assert [p.kind for p in plan.parts] == ["idle", "instant"] and plan.wait_s == 0


def test_claim_workflow_id_follows_the_engines_operation_number():
    assert claim_workflow_id("engine-1/request-capital-7", "engine-1") == "engine-1/capital-claim-7"
    assert claim_workflow_id("capital-by-hand", None) == "capital-by-hand/claim"
    assert claim_workflow_id("other/request-capital-7", "engine-1") == "other/request-capital-7/claim"


def test_capital_request_defaults_deliver_whole_and_poll_hourly():
    request = CapitalRequest(chain_id=1, asset="WETH", amount=1, destination="0x" + "ab" * 20)
    assert (request.partial, request.exit_poll_s) == (False, 3600)
