"""The allocation planner (floor/planning/total.py): its guarantees checked by hypothesis on random
floors, and worked examples whose figures are computed by hand in the comments.

Every property is checked against figures recomputed here from the inputs and the moves (not
from the plan's own summaries), in exact integers. Hypothesis runs derandomized (a fixed seed
derived from each test), without the example database, so a run is the same on every machine.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from floor.models import AdapterKey
from floor.operations import StrategyTarget
from floor.planning.caps import ChainCapBps, ClusterCapBps, MarketCapBps, PlanCaps, ProtocolCapBps
from floor.planning.rebalance import Holding
from floor.planning.total import (
    BPS,
    AllocationInputs,
    AllocationPlan,
    IdleBalance,
    TokenPrice,
    plan_allocation,
)

USD = 10**8  # one dollar in the accounting unit

PROPERTIES = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def key(chain_id: int, protocol: str, market: str) -> AdapterKey:
    return AdapterKey(chain_id=chain_id, protocol=protocol, market=market)


# ---------------------------------------------------------------------------- a random floor

# (chain, token, decimals, price range in accounting units per whole token)
LEGS = [
    (1, "USDC", 6, (95_000_000, 105_000_000)),
    (1, "WETH", 18, (100 * USD, 10_000 * USD)),
    (10, "USDC", 6, (95_000_000, 105_000_000)),
    (10, "WETH", 18, (100 * USD, 10_000 * USD)),
    (8453, "WBTC", 8, (10_000 * USD, 200_000 * USD)),
]
PROTOCOLS = ["aave-v3", "spark", "metamorpho"]


def _amount(decimals: int) -> st.SearchStrategy[int]:
    # zero, dust, or up to about ten million whole tokens
    return st.one_of(st.just(0), st.integers(1, 10**decimals), st.integers(0, 10 ** (decimals + 7)))


@st.composite
def floors(draw) -> AllocationInputs:
    legs = draw(st.lists(st.sampled_from(LEGS), min_size=1, max_size=len(LEGS), unique=True))
    holdings, idle, prices, keys, asset_of = [], [], [], [], {}
    for chain_id, asset, decimals, (low, high) in legs:
        present = draw(st.integers(0, 4)) > 0 or len(legs) == 1  # a leg absent: targets there cannot be met
        names = [(p, m) for p in PROTOCOLS for m in (asset, f"{asset}-vault")]
        for protocol, market in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
            k = key(chain_id, protocol, market)
            keys.append(k)
            asset_of[k] = asset
            if present and draw(st.integers(0, 3)):  # mostly held
                amount = draw(_amount(decimals))
                free = draw(st.sampled_from([amount, amount + 1, 0, amount // 2]) | st.integers(0, amount))
                holdings.append(Holding(key=k, asset=asset, decimals=decimals, amount=amount, withdrawable=free))
        if present:
            idle.append(IdleBalance(chain_id=chain_id, asset=asset, decimals=decimals, amount=draw(_amount(decimals))))
            prices.append(TokenPrice(chain_id=chain_id, asset=asset, price=draw(st.integers(low, high))))
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, unique=True))
    weights = [draw(st.integers(0, BPS)) for _ in chosen]
    if sum(weights) > BPS:  # scale down to at most 100% of the floor
        weights = [w * BPS // sum(weights) for w in weights]
    targets = [StrategyTarget(key=k, asset=asset_of[k], weight_bps=w) for k, w in zip(chosen, weights, strict=True)]
    bps = st.integers(0, BPS)
    chains = sorted({c for c, *_ in legs})
    caps = PlanCaps(
        markets=[MarketCapBps(key=k, max_bps=draw(bps)) for k in draw(st.lists(st.sampled_from(keys), unique=True))],
        protocols=[
            ProtocolCapBps(protocol=p, max_bps=draw(bps))
            for p in draw(st.lists(st.sampled_from(PROTOCOLS), unique=True))
        ],
        chains=[
            ChainCapBps(chain_id=c, max_bps=draw(bps)) for c in draw(st.lists(st.sampled_from(chains), unique=True))
        ],
        clusters=[
            ClusterCapBps(
                name=f"cluster-{i}",
                keys=draw(st.lists(st.sampled_from(keys), min_size=1, unique=True)),
                max_bps=draw(bps),
            )
            for i in range(draw(st.integers(0, 2)))
        ],
    )
    min_trade = draw(st.one_of(st.just(0), st.integers(0, 100 * USD), st.integers(0, 100_000 * USD)))
    return AllocationInputs(
        holdings=holdings, idle=idle, prices=prices, targets=targets, caps=caps, min_trade_value=min_trade
    )


# ---------------------------------------------------------------------------- recomputed figures


class Book:
    """The floor before and after a plan's moves, recomputed from the inputs alone."""

    def __init__(self, inputs: AllocationInputs, plan: AllocationPlan) -> None:
        self.inputs = inputs
        self.held = {h.key: h for h in inputs.holdings}
        self.asset = {t.key: t.asset for t in inputs.targets} | {h.key: h.asset for h in inputs.holdings}
        self.price = {(p.chain_id, p.asset): p.price for p in inputs.prices}
        self.decimals = {(b.chain_id, b.asset): b.decimals for b in inputs.idle}
        self.decimals |= {(h.key.chain_id, h.asset): h.decimals for h in inputs.holdings}
        self.idle_before = {(b.chain_id, b.asset): b.amount for b in inputs.idle}
        self.before = {k: h.amount for k, h in self.held.items()}
        self.withdrawn = dict.fromkeys(self.asset, 0)
        self.deposited = dict.fromkeys(self.asset, 0)
        for m in plan.moves:
            if m.action == "deposit":
                self.deposited[m.key] += m.amount
            else:
                self.withdrawn[m.key] += m.amount
        self.after = {k: self.before.get(k, 0) - self.withdrawn[k] + self.deposited[k] for k in self.asset}
        units: dict[tuple[int, str], int] = dict(self.idle_before)
        for h in inputs.holdings:
            units[(h.key.chain_id, h.asset)] = units.get((h.key.chain_id, h.asset), 0) + h.amount
        self.units = units
        self.total = sum(self.leg_value(leg, n) for leg, n in units.items())

    def leg_value(self, leg, units: int) -> int:
        return 0 if units == 0 else units * self.price[leg] // 10 ** self.decimals[leg]

    def value(self, k: AdapterKey, units: int) -> int:
        return self.leg_value((k.chain_id, self.asset[k]), units)

    def free(self, k: AdapterKey) -> int:
        h = self.held.get(k)
        return min(h.withdrawable, h.amount) if h else 0

    def groups(self):
        caps = self.inputs.caps
        for c in caps.markets:
            yield f"market {c.key}", c.max_bps, [k for k in self.asset if k == c.key]
        for c in caps.protocols:
            yield f"protocol {c.protocol}", c.max_bps, [k for k in self.asset if k.protocol == c.protocol]
        for c in caps.chains:
            yield f"chain {c.chain_id}", c.max_bps, [k for k in self.asset if k.chain_id == c.chain_id]
        for c in caps.clusters:
            yield f"cluster {c.name}", c.max_bps, [k for k in self.asset if k in set(c.keys)]


def plan_and_book(inputs: AllocationInputs) -> tuple[AllocationPlan, Book]:
    plan = plan_allocation(inputs)
    return plan, Book(inputs, plan)


# ---------------------------------------------------------------------------- properties


@PROPERTIES
@given(floors())
def test_no_cap_is_exceeded_after_the_moves_unless_nothing_more_can_leave(inputs):
    plan, book = plan_and_book(inputs)
    assert plan.total_value == book.total
    breaches = {n.subject: n for n in plan.notes_of("cap_breach")}
    for subject, bps, members in book.groups():
        limit = book.total * bps // BPS
        held = sum(book.value(k, book.after[k]) for k in members)
        if held * BPS <= bps * book.total:
            assert subject not in breaches
            continue
        # Over its cap: reported, nothing was added to it, and each member gave all it could
        # (or all it could give is worth less than the minimum trade).
        assert breaches[subject].cut_value == held - limit
        for k in members:
            assert book.deposited[k] == 0
            assert book.withdrawn[k] == book.free(k) or book.value(k, book.free(k)) < inputs.min_trade_value


@PROPERTIES
@given(floors())
def test_targets_respect_weights_and_every_cap_and_nothing_is_redistributed(inputs):
    plan, book = plan_and_book(inputs)
    weight = {t.key: t.weight_bps for t in inputs.targets}
    by_key = {m.key: m for m in plan.markets}
    assert set(by_key) == set(book.asset)
    for k, m in by_key.items():
        assert m.weight_value == book.total * weight.get(k, 0) // BPS
        assert m.target_value <= m.capped_value <= m.weight_value  # a cap never raises a target
        assert m.planned == book.after[k]
    for _, bps, members in book.groups():
        assert sum(by_key[k].capped_value for k in members) * BPS <= bps * book.total
    for (chain_id, asset), units in book.units.items():  # never more than the leg holds
        assert sum(m.target for m in plan.markets if (m.key.chain_id, m.asset) == (chain_id, asset)) <= units


@PROPERTIES
@given(floors())
def test_each_chain_and_token_is_conserved_to_the_base_unit(inputs):
    plan, book = plan_and_book(inputs)
    idle_after = {(i.chain_id, i.asset): i.after for i in plan.idle}
    assert set(idle_after) == set(book.units)
    for leg, units in book.units.items():
        members = [k for k in book.asset if (k.chain_id, book.asset[k]) == leg]
        withdrawn = sum(book.withdrawn[k] for k in members)
        deposited = sum(book.deposited[k] for k in members)
        assert idle_after[leg] - book.idle_before.get(leg, 0) == withdrawn - deposited
        assert idle_after[leg] >= 0
        assert idle_after[leg] + sum(book.after[k] for k in members) == units
    for m in plan.moves:  # no move leaves its chain and token
        assert m.asset == book.asset[m.key]


@PROPERTIES
@given(floors())
def test_moves_respect_the_minimum_trade_liquidity_and_order(inputs):
    plan, book = plan_and_book(inputs)
    seen = set()
    for m in plan.moves:
        assert m.amount > 0
        assert m.value == book.value(m.key, m.amount) >= inputs.min_trade_value
        assert m.key not in seen  # one move per market: never both a deposit and a withdrawal
        seen.add(m.key)
        if m.action != "deposit":
            assert m.amount <= book.free(m.key)
            assert (m.action == "withdraw_all") == (m.amount == book.before[m.key])
    legs = [(m.key.chain_id, m.asset) for m in plan.moves]
    assert legs == sorted(legs)  # grouped per leg, in order
    for leg in set(legs):
        actions = [m.action == "deposit" for m in plan.moves if (m.key.chain_id, m.asset) == leg]
        assert actions == sorted(actions)  # withdrawals before deposits


@PROPERTIES
@given(floors())
def test_liquid_markets_without_a_minimum_trade_land_exactly_on_target(inputs):
    liquid = [h.model_copy(update={"withdrawable": h.amount}) for h in inputs.holdings]
    inputs = inputs.model_copy(update={"holdings": liquid, "min_trade_value": 0})
    plan, _book = plan_and_book(inputs)
    assert not plan.notes_of("cap_breach") and not plan.notes_of("cap_repair")
    assert all(m.planned == m.target for m in plan.markets)


@PROPERTIES
@given(floors(), st.data())
def test_a_floor_at_its_targets_plans_nothing(inputs, data):
    first = plan_allocation(inputs)
    # Put each market at its target or below it by less than the minimum trade; the rest idle.
    holdings, placed = [], {}
    for m in first.markets:
        if m.decimals is None:
            continue
        leg = (m.key.chain_id, m.asset)
        price = next(p.price for p in inputs.prices if (p.chain_id, p.asset) == leg)
        below = max(-(-inputs.min_trade_value * 10**m.decimals // price) - 1, 0)  # worth < min trade
        amount = m.target - data.draw(st.integers(0, min(below, m.target)))
        free = data.draw(st.integers(0, amount))
        holdings.append(Holding(key=m.key, asset=m.asset, decimals=m.decimals, amount=amount, withdrawable=free))
        placed[leg] = placed.get(leg, 0) + amount
    units = Book(inputs, first).units  # per leg, the same before and after any moves
    idle = [
        b.model_copy(update={"amount": units[(b.chain_id, b.asset)] - placed.get((b.chain_id, b.asset), 0)})
        for b in inputs.idle
    ]
    again = plan_allocation(inputs.model_copy(update={"holdings": holdings, "idle": idle}))
    assert again.total_value == first.total_value
    assert [m.target for m in again.markets] == [m.target for m in first.markets]
    assert again.moves == []


@PROPERTIES
@given(floors(), st.randoms(use_true_random=False))
def test_the_plan_is_deterministic_and_ignores_the_order_of_the_inputs(inputs, rnd):
    def shuffled(items):
        items = list(items)
        rnd.shuffle(items)
        return items

    caps = inputs.caps
    permuted = AllocationInputs(
        holdings=shuffled(inputs.holdings),
        idle=shuffled(inputs.idle),
        prices=shuffled(inputs.prices),
        targets=shuffled(inputs.targets),
        caps=PlanCaps(
            markets=shuffled(caps.markets),
            protocols=shuffled(caps.protocols),
            chains=shuffled(caps.chains),
            clusters=shuffled(c.model_copy(update={"keys": shuffled(c.keys)}) for c in caps.clusters),
        ),
        min_trade_value=inputs.min_trade_value,
    )
    plan = plan_allocation(inputs)
    assert plan_allocation(inputs) == plan
    assert plan_allocation(permuted) == plan
    # and through JSON, as it would cross a Temporal payload
    assert plan_allocation(AllocationInputs.model_validate_json(inputs.model_dump_json())) == plan


# ---------------------------------------------------------------------------- worked examples

C1_USDC = key(1, "aave-v3", "USDC")
C1_WETH = key(1, "spark", "WETH")
C10_WETH = key(10, "aave-v3", "WETH")
USDC, WETH = 10**6, 10**18


def prices() -> list[TokenPrice]:
    # USDC $1.00000000, WETH $3,000.00000000 on both chains
    return [
        TokenPrice(chain_id=c, asset=a, price=p) for c in (1, 10) for a, p in (("USDC", USD), ("WETH", 3_000 * USD))
    ]


def million(**kw) -> AllocationInputs:
    """$1,000,000: 500,000 USDC and 50 WETH ($150,000) on chain 1, 50,000 USDC and 100 WETH
    ($300,000) on chain 10, all idle; targets 50/30/20: USDC on chain 1, WETH on chain 10,
    WETH on chain 1."""
    return AllocationInputs(
        idle=[
            IdleBalance(chain_id=1, asset="USDC", decimals=6, amount=500_000 * USDC),
            IdleBalance(chain_id=1, asset="WETH", decimals=18, amount=50 * WETH),
            IdleBalance(chain_id=10, asset="USDC", decimals=6, amount=50_000 * USDC),
            IdleBalance(chain_id=10, asset="WETH", decimals=18, amount=100 * WETH),
        ],
        prices=prices(),
        targets=[
            StrategyTarget(key=C1_USDC, asset="USDC", weight_bps=5_000),
            StrategyTarget(key=C10_WETH, asset="WETH", weight_bps=3_000),
            StrategyTarget(key=C1_WETH, asset="WETH", weight_bps=2_000),
        ],
        **kw,
    )


def moves(plan: AllocationPlan) -> list[tuple[str, str, int]]:
    return [(str(m.key), m.action, m.amount) for m in plan.moves]


def idle(plan: AllocationPlan) -> dict[str, int]:
    return {f"{i.chain_id}:{i.asset}": i.after for i in plan.idle}


def test_a_million_across_two_tokens_and_two_chains():
    plan = plan_allocation(million())
    assert plan.total_value == 1_000_000 * USD
    # 50% = $500,000 = all of chain 1's USDC; 30% = $300,000 = 100 WETH, all of chain 10's WETH;
    # 20% = $200,000 = 66.67 WETH but chain 1 holds 50 WETH ($150,000): short $50,000.
    assert moves(plan) == [
        ("1:aave-v3:USDC", "deposit", 500_000 * USDC),
        ("1:spark:WETH", "deposit", 50 * WETH),
        ("10:aave-v3:WETH", "deposit", 100 * WETH),
    ]
    assert idle(plan) == {"1:USDC": 0, "1:WETH": 0, "10:USDC": 50_000 * USDC, "10:WETH": 0}  # no target: idle
    (short,) = plan.notes
    assert (short.kind, short.subject, short.limit_value, short.wanted_value, short.cut_value) == (
        "holdings",
        "1:WETH",
        150_000 * USD,
        200_000 * USD,
        50_000 * USD,
    )
    # 200,000e8 * 1e18 // 3,000e8 = 66,666,666,666,666,666,666 wei wanted, 50e18 held
    assert "short 16.666666666666666666 WETH" in short.text


def test_caps_cut_targets_and_the_cut_stays_idle():
    caps = PlanCaps(
        protocols=[ProtocolCapBps(protocol="aave-v3", max_bps=6_000)], chains=[ChainCapBps(chain_id=10, max_bps=2_000)]
    )
    plan = plan_allocation(million(caps=caps))
    # aave-v3 wants 50% + 30% = $800,000, capped at $600,000: cut 5:3 -> $375,000 and $225,000.
    # Chain 10 then wants $225,000, capped at $200,000 -> 200,000e8 * 1e18 // 3,000e8 wei.
    assert moves(plan) == [
        ("1:aave-v3:USDC", "deposit", 375_000 * USDC),
        ("1:spark:WETH", "deposit", 50 * WETH),
        ("10:aave-v3:WETH", "deposit", 66_666_666_666_666_666_666),
    ]
    assert idle(plan) == {
        "1:USDC": 125_000 * USDC,
        "1:WETH": 0,
        "10:USDC": 50_000 * USDC,
        "10:WETH": 33_333_333_333_333_333_334,
    }
    protocol, chain, short = plan.notes
    assert (protocol.kind, protocol.subject, protocol.limit_value, protocol.cut_value) == (
        "protocol_cap",
        "protocol aave-v3",
        600_000 * USD,
        200_000 * USD,
    )
    assert "1:aave-v3:USDC -$125,000.00; 10:aave-v3:WETH -$75,000.00" in protocol.text
    assert (chain.kind, chain.subject, chain.wanted_value, chain.cut_value) == (
        "chain_cap",
        "chain 10",
        225_000 * USD,
        25_000 * USD,
    )
    assert short.kind == "holdings"
    by_key = {m.key: m for m in plan.markets}
    assert by_key[C10_WETH].capped_value == 200_000 * USD
    assert by_key[C10_WETH].target_value == 19_999_999_999_999  # 66.67 WETH is a hair under $200,000


def test_a_cluster_cut_is_in_proportion_with_the_remainder_to_the_largest_fraction():
    cluster = ClusterCapBps(name="weth", keys=[C10_WETH, C1_WETH], max_bps=3_333)
    plan = plan_allocation(million(caps=PlanCaps(clusters=[cluster])))
    # Limit 1e14 * 3,333 // 10,000 = 33,330,000,000,000 ($333,300); wanted 30,000,000,000,000 (10)
    # and 20,000,000,000,000 (1), sum 5e13: shares 19,998,000,000,000 and 13,332,000,000,000
    # exactly (3:2), no remainder.
    by_key = {m.key: m for m in plan.markets}
    assert by_key[C10_WETH].capped_value == 19_998_000_000_000
    assert by_key[C1_WETH].capped_value == 13_332_000_000_000
    # 13,332,000,000,000 * 1e18 // 3,000e8 = 44.44 WETH, within chain 1's 50 WETH: no shortfall
    assert by_key[C1_WETH].target == 44_440_000_000_000_000_000
    assert [n.kind for n in plan.notes] == ["cluster_cap"]


def test_weights_are_fractions_of_the_whole_floor_not_of_one_token():
    # A single 60% target over USDC markets places 60% of the floor, not all of its USDC.
    inputs = AllocationInputs(
        idle=[IdleBalance(chain_id=1, asset="USDC", decimals=6, amount=1_000_000 * USDC)],
        prices=[TokenPrice(chain_id=1, asset="USDC", price=USD)],
        targets=[StrategyTarget(key=C1_USDC, asset="USDC", weight_bps=6_000)],
    )
    plan = plan_allocation(inputs)
    assert moves(plan) == [("1:aave-v3:USDC", "deposit", 600_000 * USDC)]
    assert idle(plan) == {"1:USDC": 400_000 * USDC}


A = key(1, "aave-v3", "USDC")
B = key(1, "metamorpho", "steakUSDC")
S = key(1, "spark", "USDC")


def usdc(holdings: dict[AdapterKey, tuple[int, int]], idle_usdc: int, weights: dict[AdapterKey, int], **kw):
    """One chain, USDC at exactly $1: holdings as {market: (amount, withdrawable)} in whole USDC."""
    return AllocationInputs(
        holdings=[
            Holding(key=k, asset="USDC", decimals=6, amount=a * USDC, withdrawable=w * USDC)
            for k, (a, w) in holdings.items()
        ],
        idle=[IdleBalance(chain_id=1, asset="USDC", decimals=6, amount=idle_usdc * USDC)],
        prices=[TokenPrice(chain_id=1, asset="USDC", price=USD)],
        targets=[StrategyTarget(key=k, asset="USDC", weight_bps=w) for k, w in weights.items()],
        **kw,
    )


def test_rebalance_within_a_leg_withdraws_what_can_leave_then_deposits():
    # $1,000,000: A 700,000 (150,000 can leave now), B 250,000, idle 50,000; targets A 50%, B 40%.
    inputs = usdc(
        {A: (700_000, 150_000), B: (250_000, 250_000)}, 50_000, {A: 5_000, B: 4_000}, min_trade_value=1_000 * USD
    )
    plan = plan_allocation(inputs)
    # A should give back 200,000, can give 150,000; B needs 150,000 of the 200,000 now free.
    assert moves(plan) == [
        ("1:aave-v3:USDC", "withdraw", 150_000 * USDC),
        ("1:metamorpho:steakUSDC", "deposit", 150_000 * USDC),
    ]
    assert idle(plan) == {"1:USDC": 50_000 * USDC}
    (liquidity,) = plan.notes
    assert (liquidity.kind, liquidity.limit_value, liquidity.wanted_value, liquidity.cut_value) == (
        "liquidity",
        150_000 * USD,
        200_000 * USD,
        50_000 * USD,
    )


def test_an_illiquid_market_above_its_cap_is_reported_as_a_breach():
    inputs = usdc(
        {A: (700_000, 150_000), B: (250_000, 250_000)},
        50_000,
        {A: 5_000, B: 4_000},
        caps=PlanCaps(markets=[MarketCapBps(key=A, max_bps=5_000)]),
        min_trade_value=1_000 * USD,
    )
    plan = plan_allocation(inputs)
    # Same moves; A ends at 550,000 against a cap of $500,000 and has nothing more to give.
    assert moves(plan)[0] == ("1:aave-v3:USDC", "withdraw", 150_000 * USDC)
    (breach,) = plan.notes_of("cap_breach")
    assert (breach.subject, breach.limit_value, breach.wanted_value, breach.cut_value) == (
        "market 1:aave-v3:USDC",
        500_000 * USD,
        550_000 * USD,
        50_000 * USD,
    )


def test_a_cap_exceeded_by_stuck_funds_gets_no_deposit():
    # A holds 600,000 and none can leave; S (spark) targets 20% from 400,000 idle; the cluster
    # {A, S} may hold 50% ($500,000). Targets (30% + 20%) fit the cluster, but A is stuck 300,000
    # above its own: S's 200,000 deposit would take the cluster to $800,000, so it is dropped,
    # and the cluster stays $100,000 over: a breach.
    cluster = ClusterCapBps(name="usdc-lenders", keys=[A, S], max_bps=5_000)
    inputs = usdc({A: (600_000, 0)}, 400_000, {A: 3_000, S: 2_000}, caps=PlanCaps(clusters=[cluster]))
    plan = plan_allocation(inputs)
    assert moves(plan) == []
    assert idle(plan) == {"1:USDC": 400_000 * USDC}
    assert [n.kind for n in plan.notes] == ["liquidity", "cap_repair", "cap_breach"]
    repair, breach = plan.notes[1:]
    assert repair.markets == [S] and "deposit into 1:spark:USDC 200,000 USDC -> 0 USDC" in repair.text
    assert (breach.wanted_value, breach.cut_value) == (600_000 * USD, 100_000 * USD)


def test_a_cap_exceeded_by_less_than_the_minimum_trade_withdraws_the_minimum_trade():
    # A targets 50% = $500,000 and is capped there; it holds 500,400: its 400 excess is below the
    # $1,000 minimum trade, so the withdrawal is raised to 1,000 USDC to respect the cap.
    inputs = usdc(
        {A: (500_400, 500_400)},
        499_600,
        {A: 5_000},
        caps=PlanCaps(markets=[MarketCapBps(key=A, max_bps=5_000)]),
        min_trade_value=1_000 * USD,
    )
    plan = plan_allocation(inputs)
    assert moves(plan) == [("1:aave-v3:USDC", "withdraw", 1_000 * USDC)]
    assert idle(plan) == {"1:USDC": 500_600 * USDC}
    assert [n.kind for n in plan.notes] == ["min_trade", "cap_repair"]


def test_within_the_minimum_trade_nothing_moves():
    # A at its 500,000 target, B 500 short of its 400,000: below the $1,000 minimum trade.
    inputs = usdc(
        {A: (500_000, 500_000), B: (399_500, 399_500)}, 100_500, {A: 5_000, B: 4_000}, min_trade_value=1_000 * USD
    )
    plan = plan_allocation(inputs)
    assert moves(plan) == []
    (skipped,) = plan.notes
    assert (skipped.kind, skipped.wanted_value, skipped.markets) == ("min_trade", 500 * USD, [B])


def test_a_held_market_without_a_target_is_emptied_whole():
    inputs = usdc({A: (400_000, 400_000), S: (10_000, 10_000)}, 590_000, {A: 4_000})
    plan = plan_allocation(inputs)
    assert moves(plan) == [("1:spark:USDC", "withdraw_all", 10_000 * USDC)]
    assert plan.moves[0].as_move().action == "withdraw_all"


def test_inputs_that_cannot_be_planned_are_refused_by_name():
    with pytest.raises(ValidationError, match="weights sum to 10001 bps"):
        usdc({}, 1, {A: 5_000, B: 5_001})
    with pytest.raises(ValidationError, match="no price for WETH on chain 1"):
        AllocationInputs(idle=[IdleBalance(chain_id=1, asset="WETH", decimals=18, amount=1)])
    with pytest.raises(ValidationError, match="has 18 decimals, elsewhere 6"):
        AllocationInputs(
            holdings=[Holding(key=A, asset="USDC", decimals=6, amount=1, withdrawable=1)],
            idle=[IdleBalance(chain_id=1, asset="USDC", decimals=18, amount=1)],
            prices=[TokenPrice(chain_id=1, asset="USDC", price=USD)],
        )
    with pytest.raises(ValidationError, match="protocol cap spark appears twice"):
        AllocationInputs(caps=PlanCaps(protocols=[ProtocolCapBps(protocol="spark", max_bps=1)] * 2))


def test_a_market_taking_whole_lots_gets_whole_validators_and_the_rest_stays_idle():
    """Native ETH stakes 32 ETH per validator: a target worth 100 ETH deposits 96, notes the 4."""
    eth = 10**18
    native = AdapterKey(chain_id=1, protocol="native-eth", market="validators")
    lido = AdapterKey(chain_id=1, protocol="lido", market="stETH")
    inputs = AllocationInputs(
        idle=[IdleBalance(chain_id=1, asset="WETH", decimals=18, amount=200 * eth)],
        prices=[TokenPrice(chain_id=1, asset="WETH", price=3_000 * 10**8)],
        targets=[
            StrategyTarget(key=native, asset="WETH", weight_bps=5_000, lot=32 * eth),
            StrategyTarget(key=lido, asset="WETH", weight_bps=5_000),
        ],
    )
    plan = plan_allocation(inputs)
    deposits = {m.key: m.amount for m in plan.moves_of(1, "WETH") if m.action == "deposit"}
    assert deposits == {native: 96 * eth, lido: 100 * eth}
    (note,) = plan.notes_of("lot")
    assert note.markets == [native] and "4 WETH (" in note.text
    with pytest.raises(ValidationError):
        StrategyTarget(key=native, asset="WETH", weight_bps=1, lot=0)
