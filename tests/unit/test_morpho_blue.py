"""Morpho Blue: every call takes the MarketParams tuple (five static words, so onBehalf and
receiver sit at words 7 and 8 and the executor's rules scope exactly those), the accrual
maths of MorphoBalancesLib against hand-computed values, positions and liquidity from the
accrued totals, APR vs APY, quotes refusing what Morpho would, and Morpho's strings by name."""

from __future__ import annotations

import math

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from pydantic import TypeAdapter, ValidationError

from floor.adapters.base import RAY, SECONDS_PER_YEAR, Asset, Deposit, PositionReading, Withdraw, WithdrawAll
from floor.calls import ReadFailed, ReadResult, call, selector
from floor.chain.executor import decode_revert, named_revert
from floor.config import MarketConfig
from floor.errors import BadInput, InsufficientBalance, InsufficientLiquidity, InvalidAmount
from floor.guards import Expected
from floor.models import AdapterKey
from floor.permissions import APPROVE
from floor.protocols import protocol
from floor.protocols.morpho_blue import MorphoBlueAdapter, MorphoBlueMarketConfig
from floor.protocols.morpho_blue.adapter import (
    MARKET,
    SUPPLY,
    WITHDRAW,
    MarketState,
    expected_market,
    market_id,
    supply_apr,
    supply_apy,
    to_assets_down,
    to_shares_down,
    to_shares_up,
    utilization,
    w_taylor_compounded,
)
from floor.protocols.morpho_blue.errors import MarketNotCreated
from floor.protocols.morpho_blue.irm import adaptive_curve_rate
from floor.rates import apy_from_apr, quoted_rate

USDC = Asset("USDC", "0x" + "aa" * 20, 6)
MORPHO, WETH, ORACLE, IRM, ME, OTHER = ("0x" + b * 20 for b in ("bb", "cc", "dd", "ee", "11", "22"))
LLTV = 86 * 10**16
KEY = AdapterKey(chain_id=1, protocol="morpho-blue", market="USDC-WETH-86")
morpho = MorphoBlueAdapter(key=KEY, asset=USDC, morpho=MORPHO, collateral_token=WETH, oracle=ORACLE, irm=IRM, lltv=LLTV)
PARAMS = (USDC.address, WETH, ORACLE, IRM, LLTV)
PARAMS_TYPE = "(address,address,address,address,uint256)"
ACCRUED = ReadResult(True, b"")
REVERTED = ReadResult(False, b"")
# 1M USDC supplied (1e6 shares per base unit on an empty market), 400k borrowed, 10% fee.
MARKET_1M = MarketState(10**12, 10**18, 4 * 10**11, 4 * 10**17, 1_000, 10**17)


def ok(types, *values):
    return ReadResult(True, encode(types, list(values)))


def market(m: MarketState) -> ReadResult:
    return ok(["uint128"] * 6, *m.as_tuple())


def position(shares: int) -> ReadResult:
    return ok(["uint256", "uint128", "uint128"], shares, 0, 0)


def args(c, types: list[str]) -> tuple:
    return decode(types, bytes.fromhex(c.data[2:])[4:])


def test_calls_carry_the_market_params_tuple_not_an_id():
    approve, supply, reset = morpho.deposit_calls(5_000_000, ME)
    assert args(approve, ["address", "uint256"]) == (MORPHO, 5_000_000) and args(reset, ["address", "uint256"])[1] == 0
    assert approve.target == USDC.address and supply.target == MORPHO
    data = bytes.fromhex(supply.data[2:])
    # Morpho Blue's own selectors: supply 0xa99aad89, withdraw 0x5c2bea49.
    assert data[:4] == selector(SUPPLY) == bytes.fromhex("a99aad89")
    assert args(supply, [PARAMS_TYPE, "uint256", "uint256", "address", "bytes"]) == (PARAMS, 5_000_000, 0, ME, b"")
    # The first five words are the parameters themselves: an id (keccak of them) in word 0 would
    # be another function, which Morpho does not have.
    assert data[4:36] == encode(["address"], [USDC.address]) and data[4:36] != market_id(PARAMS)
    assert data[4 + 32 * 4 : 4 + 32 * 5] == encode(["uint256"], [LLTV])
    assert selector(SUPPLY) != selector("supply(bytes32,uint256,uint256,address,bytes)")

    (withdraw,) = morpho.withdraw_calls(1_234, ME)
    assert bytes.fromhex(withdraw.data[2:])[:4] == selector(WITHDRAW) == bytes.fromhex("5c2bea49")
    types = [PARAMS_TYPE, "uint256", "uint256", "address", "address"]
    assert args(withdraw, types) == (PARAMS, 1_234, 0, ME, ME)
    (everything,) = morpho.withdraw_all_calls(PositionReading(10, shares=987_654_321), ME)
    assert args(everything, types) == (PARAMS, 0, 987_654_321, ME, ME)  # by shares: no dust
    with pytest.raises(InvalidAmount):
        morpho.withdraw_all_calls(PositionReading(10, shares=0), ME)


def test_market_id_is_the_hash_of_the_encoded_params():
    assert (
        morpho.id
        == market_id(PARAMS)
        == keccak(encode(["address", "address", "address", "address", "uint256"], PARAMS))
    )
    assert morpho.params == PARAMS


def test_rules_scope_words_seven_and_eight_after_the_tuple():
    rules = morpho.permissions()
    by_signature = {r.signature: [a.word for a in r.args] for r in rules.rules}
    # onBehalf (and receiver) the executor; the MarketParams (words 0-4) hash to a listed id.
    assert by_signature[SUPPLY] == [7, 0] and by_signature[WITHDRAW] == [7, 8, 0]
    for c in [*morpho.deposit_calls(5, ME), *morpho.withdraw_calls(5, ME)]:
        assert rules.refusal(c, ME) is None, c
    to_other = call(MORPHO, WITHDRAW, PARAMS, 5, 0, ME, OTHER)
    for_other = call(MORPHO, WITHDRAW, PARAMS, 5, 0, OTHER, ME)
    supply_for_other = call(MORPHO, SUPPLY, PARAMS, 5, 0, OTHER, b"")
    assert "argument 8" in rules.refusal(to_other, ME)
    assert "argument 7" in rules.refusal(for_other, ME)
    assert "argument 7" in rules.refusal(supply_for_other, ME)
    # With the id's encoding (one word where the tuple takes five) the selector is another one.
    by_id = call(MORPHO, "withdraw(bytes32,uint256,uint256,address,address)", morpho.id, 5, 0, ME, ME)
    assert "not allowed" in rules.refusal(by_id, ME)
    assert "argument 0" in rules.refusal(call(USDC.address, APPROVE, OTHER, 1), ME)
    # An attacker's market with the same loan token (its own oracle), or a zero-IRM one.
    for params in ((PARAMS[0], PARAMS[1], OTHER, PARAMS[3], PARAMS[4]), (*PARAMS[:3], "0x" + "00" * 20, PARAMS[4])):
        assert "not an allowed id" in rules.refusal(call(MORPHO, SUPPLY, params, 5, 0, ME, b""), ME)


def test_taylor_compounding_and_accrual_by_hand():
    # x = 1e-9 a second (WAD 1e9), n = 1e6 s: 1e15 + 1e30 / 2e18 + 5e11 * 1e15 / 3e18, rounded down.
    assert w_taylor_compounded(10**9, 10**6) == 10**15 + 5 * 10**11 + 166_666_666
    accrued = expected_market(MARKET_1M, 10**9, 1_000 + 10**6)
    # Interest: 400,000e6 * 1,000,500,166,666,666 / 1e18 = 400,200,066 base units, to both totals.
    assert accrued.total_borrow_assets == 4 * 10**11 + 400_200_066
    assert accrued.total_supply_assets == 10**12 + 400_200_066
    # The fee's 10% (40,020,006) is minted as shares at the price net of the fee itself.
    fee_shares = 40_020_006 * (10**18 + 10**6) // (10**12 + 400_200_066 - 40_020_006 + 1)
    assert fee_shares == 40_005_596_781_750
    assert accrued.total_supply_shares == 10**18 + fee_shares
    assert accrued.total_borrow_shares == MARKET_1M.total_borrow_shares and accrued.last_update == 1_000 + 10**6
    assert expected_market(MARKET_1M, 10**9, 1_000) == MARKET_1M  # no time, no interest
    idle = MarketState(10**12, 10**18, 0, 0, 1_000, 0)
    assert expected_market(idle, 10**9, 10**6) == idle  # nothing borrowed, nothing accrues


def test_shares_maths_with_virtual_shares():
    assert to_shares_down(1, 0, 0) == 10**6  # an empty market: one base unit is 1e6 shares
    assert to_assets_down(10**6 - 1, 0, 0) == 0
    assert to_shares_up(100, 1_000, 10**9) == -(-100 * (10**9 + 10**6) // 1_001)
    assert to_assets_down(3 * 10**17, 10**12 + 7, 10**18) == 3 * 10**17 * (10**12 + 8) // (10**18 + 10**6)


def test_position_and_liquidity_from_the_accrued_totals():
    results = [ACCRUED, market(MARKET_1M), position(3 * 10**17)]
    reading = morpho.decode_position(results)
    assert reading.shares == 3 * 10**17
    assert reading.amount == 3 * 10**17 * (10**12 + 1) // (10**18 + 10**6) == 300_000_000_000
    liquidity = morpho.decode_liquidity(results)
    assert (liquidity.position, liquidity.market_available, liquidity.withdrawable) == (
        reading.amount,
        6 * 10**11,
        reading.amount,
    )
    tight = MarketState(10**12, 10**18, 10**12 - 5_000, 0, 1_000, 0)
    assert morpho.decode_liquidity([ACCRUED, market(tight), position(3 * 10**17)]).withdrawable == 5_000
    # The reads accrue the market first, inside the batch.
    reads = morpho.position_reads(ME)
    assert reads[0].data[:4] == selector(f"accrueInterest({PARAMS_TYPE})")
    assert reads[1].data == selector("market(bytes32)") + morpho.id
    with pytest.raises(ReadFailed, match="accrueInterest"):
        morpho.decode_position([ReadResult(False, b""), *results[1:]])
    with pytest.raises(MarketNotCreated):
        morpho.decode_position([ReadResult(False, b""), market(MarketState(0, 0, 0, 0, 0, 0)), position(0)])


def test_supply_apr_and_the_index():
    rate = 3_170_979_198  # about 10% a year, per second
    apr = supply_apr(rate, MARKET_1M)
    assert utilization(MARKET_1M) == 4 * 10**17
    assert apr == pytest.approx(rate * SECONDS_PER_YEAR / 1e18 * 0.4 * 0.9, rel=1e-12)
    assert apy_from_apr(apr) > apr  # compounded per second
    snap = morpho.decode_rate([ACCRUED, market(MARKET_1M), *[REVERTED] * 3], 5_000)
    assert snap.quoted_apr is None and snap.timestamp == 5_000  # an IRM neither model knows
    assert IRM in snap.note
    assert snap.growth_index == (10**12 + 1) * RAY // (10**18 + 10**6)
    (irm_read,) = morpho.borrow_rate_reads(MARKET_1M)
    assert irm_read.target == IRM
    assert decode([PARAMS_TYPE, MARKET], irm_read.data[4:]) == (PARAMS, MARKET_1M.as_tuple())
    assert morpho.decode_borrow_rate([ok(["uint256"], rate)]) == rate


# The local stack's linear IRM: 1% a year at zero utilisation plus 20% at full, per second.
BASE, SLOPE = 10**16 // SECONDS_PER_YEAR, 2 * 10**17 // SECONDS_PER_YEAR


def test_the_quote_comes_from_the_irm_state_read_after_the_accrual_in_the_same_batch():
    reads = morpho.rate_reads()
    assert reads[:2] == morpho.tvl_reads()  # accrueInterest, then market(id)
    assert [r.target for r in reads[2:]] == [IRM] * 3
    assert reads[2].data == selector("rateAtTarget(bytes32)") + morpho.id
    assert [r.data for r in reads[3:]] == [selector("baseRatePerSecond()"), selector("slopePerSecond()")]
    # The linear IRM: base + slope x 40% = 317097919 + 2536783358 per second.
    snap = morpho.decode_rate([ACCRUED, market(MARKET_1M), REVERTED, ok(["uint256"], BASE), ok(["uint256"], SLOPE)], 9)
    rate = 2_853_881_277
    assert snap.quoted_apr == supply_apr(rate, MARKET_1M) == pytest.approx(0.0324, rel=1e-8)  # 9% x 40% x 90%
    # Morpho's supply APY: wTaylorCompounded(rate, 365 days) = 0.094171499946907941, x 0.9, x 0.4.
    assert w_taylor_compounded(rate, SECONDS_PER_YEAR) == 94_171_499_946_907_941
    assert supply_apy(rate, MARKET_1M) == 33_901_739_980_886_858
    assert snap.quoted_apy == 33_901_739_980_886_858 / 10**18 and snap.note is None
    # Taylor's three terms against e^(r t) - 1: 3e-5 apart at 9%, Morpho's own approximation.
    assert snap.quoted_apy == pytest.approx(math.expm1(rate * SECONDS_PER_YEAR / 1e18) * 0.4 * 0.9, rel=5e-5)
    assert quoted_rate(snap).apy == snap.quoted_apy  # the report shows Morpho's APY, not a re-compounded APR


def test_adaptive_curve_irm_rate_at_the_accrued_utilisation():
    # AdaptiveCurveIrm's curve, C = 4, target 90%: 1/4 of rateAtTarget at 0%, x1 at 90%, x4 at 100%.
    at_target = 10**9
    assert adaptive_curve_rate(at_target, 0, 10**12) == 250_000_000
    assert adaptive_curve_rate(at_target, 9 * 10**11, 10**12) == at_target
    assert adaptive_curve_rate(at_target, 95 * 10**10, 10**12) == 2_500_000_000  # err 0.5: (3 x 0.5 + 1)
    assert adaptive_curve_rate(at_target, 10**12, 10**12) == 4 * at_target
    assert adaptive_curve_rate(at_target, 0, 0) == 250_000_000  # an empty market: utilisation 0
    # 40%: err = -5/9 -> -555555555555555555 (towards zero), x 0.75 -> -416666666666666666, + 1.
    # Never set (0): the initial 4% a year, 1268391679 per second; x 0.583333333333333334.
    assert adaptive_curve_rate(0, 4 * 10**11, 10**12) == 1_268_391_679 * 583_333_333_333_333_334 // 10**18
    assert adaptive_curve_rate(0, 4 * 10**11, 10**12) == 739_895_146
    # Read as the batch returns it: rateAtTarget answers, the linear views revert.
    signed = ReadResult(True, encode(["int256"], [at_target]))
    snap = morpho.decode_rate([ACCRUED, market(MARKET_1M), signed, REVERTED, REVERTED], 9)
    rate = adaptive_curve_rate(at_target, 4 * 10**11, 10**12)
    assert snap.quoted_apr == supply_apr(rate, MARKET_1M) and snap.quoted_apy == supply_apy(rate, MARKET_1M) / 10**18


def test_supply_apy_is_zero_without_borrowers():
    idle = MarketState(10**12, 10**18, 0, 0, 1_000, 10**17)
    assert supply_apy(BASE, idle) == 0
    snap = morpho.decode_rate([ACCRUED, market(idle), REVERTED, ok(["uint256"], BASE), ok(["uint256"], SLOPE)], 9)
    assert snap.quoted_apr == 0 and snap.quoted_apy == 0  # quoted: nothing is lent, nothing is earned


def test_quotes_refuse_what_morpho_would():
    state = [ACCRUED, market(MARKET_1M), position(3 * 10**17)]
    held = 300_000_000_000
    assert morpho.decode_quote(Deposit(10**6), state[:2]) == [Expected(USDC.address, -(10**6))]
    full = MarketState(10**12, 10**18 * 10**7, 0, 0, 1_000, 0)  # a share worth far less than a unit
    with pytest.raises(InvalidAmount, match="mints no share"):
        morpho.decode_quote(Deposit(1), [ACCRUED, market(MarketState(10**20, 1, 0, 0, 1, 0))])
    assert morpho.decode_quote(Deposit(1), [ACCRUED, market(full)]) == [Expected(USDC.address, -1)]
    assert morpho.decode_quote(Withdraw(held), state) == [Expected(USDC.address, held)]
    with pytest.raises(InsufficientBalance):
        morpho.decode_quote(Withdraw(held + 1), state)
    lent = MarketState(10**12, 10**18, 10**12 - 1_000, 0, 1_000, 0)
    with pytest.raises(InsufficientLiquidity):
        morpho.decode_quote(Withdraw(1_001), [ACCRUED, market(lent), position(3 * 10**17)])
    everything = WithdrawAll(PositionReading(held, shares=3 * 10**17))
    assert morpho.decode_quote(everything, state) == [Expected(USDC.address, held)]
    with pytest.raises(InsufficientBalance):
        morpho.decode_quote(WithdrawAll(PositionReading(held, shares=3 * 10**17 + 1)), state)


@pytest.mark.parametrize(
    ("code", "engine_error"),
    [
        ("insufficient liquidity", InsufficientLiquidity),
        ("market not created", MarketNotCreated),
        ("inconsistent input", InvalidAmount),
        ("unauthorized", BadInput),
    ],
)
def test_morphos_strings_decode_by_name(code, engine_error):
    data = selector("Error(string)") + encode(["string"], [code])
    assert named_revert(data).error is engine_error
    assert decode_revert(data).startswith(f"{code}: {engine_error.__name__}, ") and "Morpho Blue" in decode_revert(data)


def test_market_config_and_spec():
    spec = protocol("morpho_blue")
    assert spec.market_config is MorphoBlueMarketConfig
    assert spec.contracts == ("Morpho", "MorphoLinearIrm", "MorphoFixedPriceOracle")
    fields = {"morpho": MORPHO, "collateral_token": WETH, "oracle": ORACLE, "irm": IRM, "lltv": LLTV}
    base = {"protocol": "morpho-blue", "adapter": "morpho_blue", "market": "USDC-WETH-86", "asset": "USDC"}
    config = TypeAdapter(MarketConfig).validate_python(base | fields)
    adapter = spec.adapter_for(KEY, USDC, config)
    assert isinstance(adapter, MorphoBlueAdapter) and adapter.id == morpho.id
    with pytest.raises(ValidationError):
        TypeAdapter(MarketConfig).validate_python(base | fields | {"lltv": 10**18})
