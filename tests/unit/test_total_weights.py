"""Strategy weights as fractions of the floor's TOTAL value, in the engine: the config's
`strategy.weights_of`, caps and minimum trade; the caps `engine_input` computes (the config's
and the risk scores'); the planner's inputs built from what `read_holdings` returns (prices
read with them); drift under total-value weights; the plan's moves as build_moves legs."""

from __future__ import annotations

import datetime as dt

import pytest

from floor.catalogue import engine_input, plan_caps
from floor.config import Settings
from floor.errors import UnknownMarket
from floor.messages import AllocateInput, Holdings, TotalAllocation
from floor.models import AdapterKey, Price
from floor.operations import AssetAmount, Catalogue, RebalanceInput, StrategyTarget
from floor.planning.caps import ChainCapBps, MarketCapBps, PlanCaps, ProtocolCapBps
from floor.planning.plan import PlanRefused, accounting_price, plan_move_legs, total_drift_bps, total_plan
from floor.planning.rebalance import Holding

USD = 10**8
TODAY = dt.date(2026, 11, 25)


def key(chain_id: int, protocol: str, market: str) -> AdapterKey:
    return AdapterKey(chain_id=chain_id, protocol=protocol, market=market)


def price(symbol: str, usd: int, decimals: int = 8) -> Price:
    return Price(symbol=symbol, price=usd * 10**decimals, decimals=decimals, block_number=1)


# ---------------------------------------------------------------------------- the scenario
# The integration tests' floor (tests/integration/test_total_allocation.py): chain 1 holds
# 800,000 USDC and 200 WETH at $3,000, chain 42161 600,000 USDC: T = $2,000,000.
MARKETS = [  # (chain, protocol, market, token, decimals, weight bps of the total)
    (1, "aave-v3", "USDC", "USDC", 6, 2_000),
    (1, "spark", "USDC", "USDC", 6, 1_000),
    (1, "aave-v3", "WETH", "WETH", 18, 1_500),
    (1, "metamorpho", "gtWETH", "WETH", 18, 1_000),
    (42161, "aave-v3", "USDC", "USDC", 6, 1_000),
    (42161, "metamorpho", "gtUSDC", "USDC", 6, 1_500),
]
TARGETS = [StrategyTarget(key=key(c, p, m), asset=a, weight_bps=w) for c, p, m, a, _, w in MARKETS]
IDLE = {(1, "USDC"): 800_000 * 10**6, (1, "WETH"): 200 * 10**18, (42161, "USDC"): 600_000 * 10**6}


def holdings(
    amounts: dict[AdapterKey, int] | None = None,
    idle: dict[tuple[int, str], int] = IDLE,
    weth_usd: int = 3_000,
    withdrawable: dict[AdapterKey, int] | None = None,
) -> list[Holdings]:
    amounts = amounts or {}
    out = []
    for chain_id in (1, 42161):
        mine = [row for row in MARKETS if row[0] == chain_id]
        out.append(
            Holdings(
                chain_id=chain_id,
                block_number=10,
                timestamp=1_700_000_000,
                holdings=[
                    Holding(
                        key=key(c, p, m),
                        asset=a,
                        decimals=d,
                        amount=amounts.get(key(c, p, m), 0),
                        withdrawable=(withdrawable or {}).get(key(c, p, m), amounts.get(key(c, p, m), 0)),
                    )
                    for c, p, m, a, d, _ in mine
                ],
                idle={a: n for (c, a), n in idle.items() if c == chain_id},
                growth={},
                prices={"USDC": price("USDC", 1)} | ({"WETH": price("WETH", weth_usd)} if chain_id == 1 else {}),
            )
        )
    return out


EXPECTED = {  # hand-computed: weight x $2,000,000 at the feed's price, rounded down
    key(1, "aave-v3", "USDC"): 400_000 * 10**6,
    key(1, "spark", "USDC"): 200_000 * 10**6,
    key(1, "aave-v3", "WETH"): 100 * 10**18,  # $300,000 / $3,000
    key(1, "metamorpho", "gtWETH"): 66_666_666_666_666_666_666,  # $200,000 / $3,000, rounded down
    key(42161, "aave-v3", "USDC"): 200_000 * 10**6,
    key(42161, "metamorpho", "gtUSDC"): 300_000 * 10**6,
}


# ---------------------------------------------------------------------------- prices


def test_accounting_price_is_usd_with_8_decimals_per_whole_token():
    assert accounting_price(price("WETH", 3_000)) == 3_000 * USD
    assert accounting_price(Price(symbol="X", price=1_5, decimals=1, block_number=1)) == 150_000_000  # $1.5
    # beyond 8 decimals: rounded down
    assert accounting_price(Price(symbol="X", price=123_456_789_012_345_678, decimals=18, block_number=1)) == 12_345_678


# ---------------------------------------------------------------------------- the plan


def test_targets_are_fractions_of_the_total_value_across_tokens_and_chains():
    plan = total_plan(holdings(), TARGETS, IDLE, PlanCaps(), 100 * USD)
    assert plan.total_value == 2_000_000 * USD
    assert {m.key: m.amount for m in plan.moves} == EXPECTED
    assert all(m.action == "deposit" for m in plan.moves)
    # 20% is not deployed: 200,000 USDC on chain 1, 100,000 on 42161, 33.33 WETH
    idle = {(i.chain_id, i.asset): i.after for i in plan.idle}
    assert idle == {
        (1, "USDC"): 200_000 * 10**6,
        (1, "WETH"): 200 * 10**18 - 100 * 10**18 - 66_666_666_666_666_666_666,
        (42161, "USDC"): 100_000 * 10**6,
    }
    assert plan.notes == []
    # drift: all idle is as far as it gets: gtUSDC's $300,000 of $2,000,000 is 1,500 bps
    assert total_drift_bps(plan) == 2_000
    assert total_drift_bps(plan, after_moves=True) == 0


def test_only_the_idle_named_counts_and_the_legs_are_build_moves_inputs():
    # An allocation of chain 1's USDC only: the other legs count towards T only if held.
    named = {(1, "USDC"): 800_000 * 10**6}
    plan = total_plan(holdings(), TARGETS, named, PlanCaps(), 0)
    assert plan.total_value == 800_000 * USD
    assert {m.key: m.amount for m in plan.moves} == {
        key(1, "aave-v3", "USDC"): 160_000 * 10**6,
        key(1, "spark", "USDC"): 80_000 * 10**6,
    }
    assert [n.kind for n in plan.notes] == ["holdings", "holdings"]  # WETH and 42161's USDC hold nothing


def test_a_protocol_cap_cuts_a_target_and_the_cut_stays_idle_noted():
    caps = PlanCaps(protocols=[ProtocolCapBps(protocol="spark", max_bps=500)])
    plan = total_plan(holdings(), TARGETS, IDLE, caps, 100 * USD)
    moves = {m.key: m.amount for m in plan.moves}
    assert moves[key(1, "spark", "USDC")] == 100_000 * 10**6
    assert {k: v for k, v in moves.items() if k.protocol != "spark"} == {
        k: v for k, v in EXPECTED.items() if k.protocol != "spark"
    }
    (note,) = plan.notes
    assert (note.kind, note.subject, note.cut_value) == ("protocol_cap", "protocol spark", 100_000 * USD)
    assert {(i.chain_id, i.asset): i.after for i in plan.idle}[(1, "USDC")] == 300_000 * 10**6


def test_a_price_move_is_drift_and_the_plan_restores_fractions_of_the_new_total():
    allocated = holdings(
        EXPECTED,
        idle={
            (c, a): n - sum(EXPECTED[k] for k in EXPECTED if (k.chain_id, _asset(k)) == (c, a))
            for (c, a), n in IDLE.items()
        },
        weth_usd=4_500,
    )
    idle = {(h.chain_id, a): n for h in allocated for a, n in h.idle.items()}
    plan = total_plan(allocated, TARGETS, idle, PlanCaps(), 100 * USD)
    # T = 800,000 + 200 x 4,500 + 600,000 = $2,300,000
    assert plan.total_value == 2_300_000 * USD
    # aave-v3 WETH holds $450,000 against $345,000: 105,000 / 2,300,000 = 456 bps
    assert total_drift_bps(plan) == 456
    moves = {(m.key, m.action): m.amount for m in plan.moves}
    weth_aave = 100 * 10**18 - 345_000 * USD * 10**18 // (4_500 * USD)
    weth_gt = 66_666_666_666_666_666_666 - 230_000 * USD * 10**18 // (4_500 * USD)
    assert moves == {
        (key(1, "aave-v3", "WETH"), "withdraw"): weth_aave,
        (key(1, "metamorpho", "gtWETH"), "withdraw"): weth_gt,
        (key(1, "aave-v3", "USDC"), "deposit"): 60_000 * 10**6,
        (key(1, "spark", "USDC"), "deposit"): 30_000 * 10**6,
        (key(42161, "aave-v3", "USDC"), "deposit"): 30_000 * 10**6,
        (key(42161, "metamorpho", "gtUSDC"), "deposit"): 45_000 * 10**6,
    }
    assert total_drift_bps(plan, after_moves=True) == 0
    legs = plan_move_legs(plan)
    assert [(leg.chain_id, leg.asset) for leg in legs] == [(1, "USDC"), (1, "WETH"), (42161, "USDC")]
    assert [m.action for m in legs[1].moves] == ["withdraw", "withdraw"]
    assert sum(len(leg.moves) for leg in legs) == 6


def _asset(k: AdapterKey) -> str:
    return next(a for c, p, m, a, _, _ in MARKETS if key(c, p, m) == k)


def test_at_target_the_drift_is_zero_and_nothing_moves():
    after = {
        (c, a): n - sum(v for k, v in EXPECTED.items() if (k.chain_id, _asset(k)) == (c, a))
        for (c, a), n in IDLE.items()
    }
    plan = total_plan(holdings(EXPECTED, idle=after), TARGETS, after, PlanCaps(), 100 * USD)
    assert total_drift_bps(plan) == 0 and not plan.acts


def test_an_illiquid_market_is_noted_and_the_rest_still_moves():
    allocated = dict(EXPECTED.items())
    weth_aave = key(1, "aave-v3", "WETH")
    idle = {
        (c, a): n - sum(v for k, v in EXPECTED.items() if (k.chain_id, _asset(k)) == (c, a))
        for (c, a), n in IDLE.items()
    }
    plan = total_plan(
        holdings(allocated, idle=idle, weth_usd=4_500, withdrawable={weth_aave: 10**18}),
        TARGETS,
        idle,
        PlanCaps(),
        100 * USD,
    )
    assert {(m.key, m.amount) for m in plan.moves if m.key == weth_aave} == {(weth_aave, 10**18)}
    assert "liquidity" in [n.kind for n in plan.notes]


def test_a_token_without_a_price_is_refused_by_name():
    read = holdings()
    read[0] = read[0].model_copy(update={"prices": {"USDC": price("USDC", 1)}})  # no WETH price
    with pytest.raises(PlanRefused, match="no price for WETH on chain 1"):
        total_plan(read, TARGETS, IDLE, PlanCaps(), 0)


def test_the_catalogues_caps_bind_the_planner():
    caps = PlanCaps(
        markets=[MarketCapBps(key=key(1, "aave-v3", "USDC"), max_bps=1_000)],
        protocols=[ProtocolCapBps(protocol="aave-v3", max_bps=2_000, source="score")],
        chains=[ChainCapBps(chain_id=42161, max_bps=1_000)],
    )
    plan = total_plan(holdings(), TARGETS, IDLE, caps, 0)
    assert [n.subject for n in plan.notes if n.kind.endswith("_cap")] == [
        "market 1:aave-v3:USDC",
        "protocol aave-v3",
        "chain 42161",
    ]


# ---------------------------------------------------------------------------- config and engine input

ADDR = "0x" + "00" * 19


def settings(**strategy) -> Settings:
    markets = [
        {
            "protocol": "aave-v3",
            "adapter": "aave_v3",
            "market": "USDC",
            "asset": "USDC",
            "pool": ADDR + "01",
            "a_token": ADDR + "02",
        },
        {"protocol": "metamorpho", "adapter": "erc4626", "market": "steakUSDC", "asset": "USDC", "vault": ADDR + "0a"},
        {"protocol": "unscored", "adapter": "erc4626", "market": "xUSDC", "asset": "USDC", "vault": ADDR + "0b"},
    ]
    chains = [
        {
            "id": chain_id,
            "name": f"chain{chain_id}",
            "rpc_urls": ["https://rpc.example.invalid"],
            "tokens": [{"symbol": "USDC", "address": ADDR + "0c", "decimals": 6}],
            "markets": markets,
        }
        for chain_id in (1, 42161)
    ]
    targets = [
        {"chain_id": 1, "protocol": "aave-v3", "market": "USDC", "weight_bps": 3_000},
        {"chain_id": 42161, "protocol": "aave-v3", "market": "USDC", "weight_bps": 1_000},
        {"chain_id": 1, "protocol": "metamorpho", "market": "steakUSDC", "weight_bps": 2_000},
        {"chain_id": 1, "protocol": "unscored", "market": "xUSDC", "weight_bps": 1_000},
    ]
    return Settings(chains=chains, strategy={"targets": targets, **strategy})


def test_the_default_is_total_with_score_caps_and_a_100_usd_minimum_trade():
    s = settings()
    assert s.strategy.weights_of == "total" and s.strategy.score_caps
    assert s.strategy.min_trade_usd == 100 * USD
    catalogue = engine_input(s, TODAY).catalogue
    assert catalogue.weights_of == "total" and catalogue.min_trade_value == 100 * USD
    # aave-v3 and metamorpho scored from the packaged data (tvl neutral); "unscored" has no data
    assert [(c.protocol, c.max_bps, c.source) for c in catalogue.caps.protocols] == [
        ("aave-v3", 2_000, "score"),
        ("metamorpho", 2_000, "score"),
    ]


def test_config_caps_and_the_lower_of_config_and_score_wins():
    s = settings(
        caps={
            "markets": [{"chain_id": 1, "protocol": "aave-v3", "market": "USDC", "max_bps": 1_500}],
            "protocols": {"aave-v3": 2_500, "metamorpho": 1_000, "unscored": 700},
            "chains": {"42161": 500},
        }
    )
    caps = plan_caps(s, TODAY)
    assert [(c.key, c.max_bps) for c in caps.markets] == [(key(1, "aave-v3", "USDC"), 1_500)]
    assert [(c.protocol, c.max_bps, c.source) for c in caps.protocols] == [
        ("aave-v3", 2_000, "score"),
        ("metamorpho", 1_000, "config"),
        ("unscored", 700, "config"),
    ]
    assert [(c.chain_id, c.max_bps) for c in caps.chains] == [(42161, 500)]
    no_scores = plan_caps(settings(score_caps=False, caps={"protocols": {"aave-v3": 2_500}}), TODAY)
    assert [(c.protocol, c.max_bps) for c in no_scores.protocols] == [("aave-v3", 2_500)]


def test_token_weights_carry_no_caps_and_no_minimum_trade():
    catalogue = engine_input(settings(weights_of="token", caps={"protocols": {"aave-v3": 100}}), TODAY).catalogue
    assert catalogue.weights_of == "token" and catalogue.caps == PlanCaps() and catalogue.min_trade_value == 0


def test_bad_caps_are_refused_by_name():
    with pytest.raises(Exception, match="max_bps"):
        settings(caps={"markets": [{"chain_id": 1, "protocol": "aave-v3", "market": "USDC", "max_bps": 10_001}]})
    with pytest.raises(Exception, match="duplicate cap aave-v3/USDC on chain 1"):
        settings(caps={"markets": [{"chain_id": 1, "protocol": "aave-v3", "market": "USDC", "max_bps": 1}] * 2})
    with pytest.raises(Exception, match="weights_of"):
        settings(weights_of="leg")
    with pytest.raises(UnknownMarket, match="no market aave-v3/DAI"):
        plan_caps(settings(caps={"markets": [{"chain_id": 1, "protocol": "aave-v3", "market": "DAI", "max_bps": 1}]}))


def test_inputs_written_before_the_fields_read_weights_per_token():
    """Recorded histories carry catalogues and rebalance inputs without `weights_of`."""
    catalogue = Catalogue.model_validate({"chains": [{"chain_id": 1, "tokens": {"USDC": 6}}]})
    assert catalogue.weights_of == "token" and catalogue.caps == PlanCaps()
    rebalance = RebalanceInput.model_validate({"targets": [TARGETS[0].model_dump(mode="json")]})
    assert rebalance.weights_of == "token"


def test_an_allocation_is_legs_or_a_total_never_both():
    total = TotalAllocation(amounts=[AssetAmount(chain_id=1, asset="USDC", amount=1)], targets=TARGETS)
    assert AllocateInput(total=total).legs == []
    with pytest.raises(ValueError, match="either legs or a total"):
        AllocateInput()


def test_correlated_targets_are_capped_together_and_an_unknown_protocol_alone_is_left_out():
    from floor.catalogue import cluster_caps

    caps = cluster_caps(settings())
    # Aave on both chains and MetaMorpho's USDC vault rest on enough in common (USDC, Chainlink's
    # oracles, Ethereum) to be one cluster: 6000 bps of targets, capped at 5000 together. The
    # protocol the dependency graph does not know is in none.
    (cluster,) = caps
    assert cluster.name == "correlated-1:aave-v3+metamorpho" and cluster.max_bps == 5_000
    assert {str(k) for k in cluster.keys} == {"1:aave-v3:USDC", "42161:aave-v3:USDC", "1:metamorpho:steakUSDC"}
    assert cluster_caps(settings(cluster_limit_bps=0)) == []
    # Through the engine's input they reach the planner's caps.
    assert plan_caps(settings(score_caps=False), TODAY).clusters == caps
