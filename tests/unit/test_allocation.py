import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from floor.messages import AllocateInput
from floor.models import AdapterKey
from floor.planning.allocation import (
    AllocationLeg,
    AllocationTarget,
    plan_leg,
    split_by_weight,
)


@given(st.integers(0, 10**30), st.lists(st.integers(0, 10_000), min_size=1, max_size=12).filter(lambda w: sum(w) > 0))
def test_split_is_exact_and_proportional(amount, weights):
    shares = split_by_weight(amount, weights)
    assert sum(shares) == amount
    total = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        assert abs(share * total - amount * weight) < total  # off by less than one base unit
        if weight == 0:
            assert share == 0


def test_split_remainder_goes_to_largest_fractions_first():
    assert split_by_weight(10, [1, 1, 1]) == [4, 3, 3]
    assert split_by_weight(5, [1, 3]) == [1, 4]


def key(market: str, chain_id: int = 1) -> AdapterKey:
    return AdapterKey(chain_id=chain_id, protocol="aave-v3", market=market)


def test_plan_leg_drops_zero_deposits():
    leg = AllocationLeg(
        chain_id=1,
        asset="USDC",
        amount=3,
        targets=[AllocationTarget(key=key("A"), weight_bps=1), AllocationTarget(key=key("B"), weight_bps=10_000)],
    )
    assert [(d.key.market, d.amount) for d in plan_leg(leg)] == [("B", 3)]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": 0}, "amount must be positive"),
        ({"targets": [AllocationTarget(key=key("A", chain_id=10), weight_bps=1)]}, "is not on chain 1"),
        ({"targets": [AllocationTarget(key=key("A"), weight_bps=0)]}, "add up to zero"),
        ({"targets": [AllocationTarget(key=key("A"), weight_bps=1)] * 2}, "appears twice"),
    ],
)
def test_bad_legs_are_refused_with_the_reason(change, message):
    fields = {
        "chain_id": 1,
        "asset": "USDC",
        "amount": 10,
        "targets": [AllocationTarget(key=key("A"), weight_bps=1)],
    } | change
    with pytest.raises(ValidationError, match=message):
        AllocationLeg(**fields)


def test_amounts_travel_as_strings_in_json():
    leg = AllocationLeg(
        chain_id=1, asset="WETH", amount=500 * 10**18, targets=[AllocationTarget(key=key("WETH"), weight_bps=1)]
    )
    payload = AllocateInput(legs=[leg]).model_dump_json()
    assert '"amount":"500000000000000000000"' in payload
    assert AllocateInput.model_validate_json(payload).legs[0].amount == 500 * 10**18


def test_two_legs_for_one_token_are_refused():
    leg = AllocationLeg(chain_id=1, asset="USDC", amount=1, targets=[AllocationTarget(key=key("A"), weight_bps=1)])
    with pytest.raises(ValidationError, match="two legs for USDC on chain 1"):
        AllocateInput(legs=[leg, leg])


def test_legs_from_strategy_groups_by_chain_and_token():
    from floor.planning.allocation import legs_from_strategy

    targets = [
        (key("USDC"), "USDC", 1_200),
        (key("WETH"), "WETH", 1_800),
        (key("steakUSDC"), "USDC", 600),
        (key("USDC", chain_id=42161), "USDC", 1_000),
    ]
    legs = legs_from_strategy(targets, {(1, "USDC"): 900, (1, "WETH"): 5, (42161, "USDC"): 0})
    assert [(leg.chain_id, leg.asset, leg.amount) for leg in legs] == [(1, "USDC", 900), (1, "WETH", 5)]
    assert [(d.key.market, d.amount) for d in plan_leg(legs[0])] == [("USDC", 600), ("steakUSDC", 300)]
    with pytest.raises(ValueError, match="no target for DAI on chain 1"):
        legs_from_strategy(targets, {(1, "DAI"): 1})


def test_deposit_outcomes_compare_planned_with_position_change():
    from floor.models import Position
    from floor.planning.allocation import PlannedDeposit, deposit_outcomes

    def position(market: str, amount: int) -> Position:
        return Position(
            key=key(market), asset="USDC", asset_address="0x" + "11" * 20, decimals=6, amount=amount, block_number=1
        )

    planned = [PlannedDeposit(key=key("A"), amount=100), PlannedDeposit(key=key("B"), amount=50)]
    outcomes = deposit_outcomes(planned, [position("A", 10)], [position("A", 110), position("B", 49)])
    assert [(o.key.market, o.realised, o.shortfall) for o in outcomes] == [("A", 100, 0), ("B", 49, 1)]
