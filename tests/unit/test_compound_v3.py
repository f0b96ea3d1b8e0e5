"""Compound V3 (Comet): the calls and their executor rules, Comet's principal rounding and
kinked rate model against hand-computed values, APR vs APY, the pause flags honoured before
sending, COMP reward reads and claims, and Comet's errors by name."""

from __future__ import annotations

import math

import pytest
from eth_abi import decode, encode
from pydantic import TypeAdapter

from floor.adapters.base import MAX_UINT256, SECONDS_PER_YEAR, Asset, Deposit, PositionReading, Withdraw, WithdrawAll
from floor.calls import ReadResult, call, selector
from floor.chain.executor import decode_revert, named_revert
from floor.config import MarketConfig
from floor.errors import InsufficientBalance, InsufficientLiquidity
from floor.guards import Expected
from floor.models import AdapterKey
from floor.permissions import APPROVE
from floor.protocols import protocol
from floor.protocols.compound_v3 import CompoundV3Adapter, CompoundV3MarketConfig
from floor.protocols.compound_v3.adapter import (
    CLAIM,
    SUPPLY,
    TOTALS_BASIC,
    USER_BASIC,
    WITHDRAW,
    accrued_supply_index,
    principal_value_supply,
    supply_delta,
    supply_rate,
)
from floor.protocols.compound_v3.errors import CometPaused, RewardsNotConfigured, SupplyPaused, WithdrawPaused
from floor.rates import apy_from_apr, quoted_rate

USDC = Asset("USDC", "0x" + "aa" * 20, 6)
COMET, REWARDS, ME, OTHER, COMP = ("0x" + b * 20 for b in ("bb", "cc", "ee", "ff", "dd"))
KEY = AdapterKey(chain_id=1, protocol="compound-v3", market="cUSDCv3")
comet = CompoundV3Adapter(key=KEY, asset=USDC, comet=COMET, rewards=REWARDS)
YES, NO = (ReadResult(True, encode(["bool"], [v])) for v in (True, False))

# A USDC Comet's model: 5% a year at the kink (85%) on the low slope, 200% above it, per second.
LOW, HIGH, KINK = 5 * 10**16 // SECONDS_PER_YEAR, 2 * 10**18 // SECONDS_PER_YEAR, 85 * 10**16


def ok(types, *values):
    return ReadResult(True, encode(types, list(values)))


def words(data: str) -> bytes:
    return bytes.fromhex(data.removeprefix("0x"))


def totals(index: int, last: int) -> ReadResult:
    return ok([TOTALS_BASIC], (index, 10**15, 0, 0, 10**12, 6 * 10**11, last, 0))


def test_deposit_is_approve_supply_reset_and_withdraws_pay_the_executor():
    approve, supply, reset = comet.deposit_calls(1_000_000, ME)
    assert approve.target == reset.target == USDC.address and supply.target == COMET
    assert words(approve.data)[:4] == selector(APPROVE)
    assert decode(["address", "uint256"], words(approve.data)[4:]) == (COMET, 1_000_000)
    assert decode(["address", "uint256"], words(reset.data)[4:]) == (COMET, 0)
    assert words(supply.data)[:4] == selector(SUPPLY) == bytes.fromhex("f2b9fdb8")  # Comet's supply
    assert decode(["address", "uint256"], words(supply.data)[4:]) == (USDC.address, 1_000_000)

    (withdraw,) = comet.withdraw_calls(400, ME)
    assert words(withdraw.data)[:4] == selector(WITHDRAW) == bytes.fromhex("f3fef3a3")
    assert decode(["address", "uint256"], words(withdraw.data)[4:]) == (USDC.address, 400)
    (everything,) = comet.withdraw_all_calls(PositionReading(123), ME)
    assert decode(["address", "uint256"], words(everything.data)[4:]) == (USDC.address, MAX_UINT256)


def test_rules_allow_only_the_executors_own_supply_withdraw_and_claim():
    rules = comet.permissions()
    for c in [*comet.deposit_calls(5, ME), *comet.withdraw_calls(5, ME), *comet.claim_calls(ME)]:
        assert rules.refusal(c, ME) is None, c
    assert "argument 1" in rules.refusal(call(REWARDS, CLAIM, COMET, OTHER, True), ME)
    assert "not allowed" in rules.refusal(
        call(COMET, "withdrawTo(address,address,uint256)", OTHER, USDC.address, 1), ME
    )
    assert "not allowed" in rules.refusal(call(COMET, "transfer(address,uint256)", OTHER, 1), ME)
    assert "argument 0" in rules.refusal(call(USDC.address, APPROVE, OTHER, 1), ME)
    # No rewards contract configured: no claim rule, and a claim is refused by name.
    bare = CompoundV3Adapter(key=KEY, asset=USDC, comet=COMET)
    assert all(r.target != REWARDS for r in bare.permissions().rules)
    with pytest.raises(RewardsNotConfigured):
        bare.claim_calls(ME)


def test_principal_rounds_down_so_a_supply_can_show_one_unit_less():
    index = 1_000_000_123_456_789  # the supply index, 1e15 = 1
    # 1 USDC: principal floor(1e6 * 1e15 / index) = 999,999; its value floor(999,999 * index / 1e15).
    assert principal_value_supply(index, 10**6) == 999_999
    assert supply_delta(0, 10**6, index) == 999_999
    assert supply_delta(0, 10**6, 10**15) == 10**6  # at index 1 nothing is lost
    # On top of an existing principal, the balance before is rounded too.
    principal = 5_000_000_000
    before = principal * index // 10**15
    after = (before + 10**6) * 10**15 // index * index // 10**15
    assert supply_delta(principal, 10**6, index) == after - before


def test_kinked_supply_rate_and_its_accrual_by_hand():
    assert LOW == 1_585_489_599
    assert supply_rate(5 * 10**17, KINK, LOW, HIGH, 0) == 792_744_799  # LOW * 0.5
    at_kink = LOW * KINK // 10**18
    assert supply_rate(KINK, KINK, LOW, HIGH, 0) == at_kink
    assert supply_rate(10**18, KINK, LOW, HIGH, 0) == at_kink + HIGH * 15 * 10**16 // 10**18
    # One day at 792,744,799 / 1e18 a second: 1e15 * 792,744,799 * 86,400 / 1e18, rounded down.
    assert accrued_supply_index(10**15, 792_744_799, 86_400) == 1_000_068_493_150_633
    assert accrued_supply_index(10**15, 792_744_799, 0) == 10**15


def test_rate_snapshot_is_an_apr_per_second_and_an_accrued_index():
    model = [ok(["uint256"], v) for v in (KINK, LOW, HIGH, 0)]
    results = [totals(10**15, 1_000), ok(["uint256"], 5 * 10**17), *model]
    snap = comet.decode_rate(results, 1_000 + 86_400)
    assert snap.growth_index == 1_000_068_493_150_633 * 10**12  # 1e15 scaled to 1e27
    assert snap.quoted_apr == 792_744_799 * SECONDS_PER_YEAR / 10**18 == pytest.approx(0.025, rel=1e-8)
    rate = quoted_rate(snap)
    assert rate.apr == snap.quoted_apr
    # Compounded every second: above the APR, below continuous compounding.
    assert rate.apy == apy_from_apr(snap.quoted_apr) and rate.apr < rate.apy < math.expm1(rate.apr)


def test_quotes_are_comets_rounding_and_refuse_a_paused_market_or_a_borrow():
    index = 1_000_000_123_456_789
    deposit = [NO, ReadResult(True, b""), totals(index, 0), ok(USER_BASIC, 0, 0, 0, 0, 0)]
    assert comet.decode_quote(Deposit(10**6), deposit) == [Expected(COMET, 999_999)]
    with pytest.raises(SupplyPaused):
        comet.decode_quote(Deposit(10**6), [YES, *deposit[1:]])

    held = ok(["uint256"], 5_000)
    assert comet.decode_quote(Withdraw(5_000), [NO, held]) == [Expected(USDC.address, 5_000)]
    with pytest.raises(InsufficientBalance, match="borrow"):
        comet.decode_quote(Withdraw(5_001), [NO, held])
    with pytest.raises(WithdrawPaused):
        comet.decode_quote(Withdraw(1), [YES, held])
    assert comet.decode_quote(WithdrawAll(PositionReading(777)), [NO]) == [Expected(USDC.address, 777)]
    with pytest.raises(WithdrawPaused):
        comet.decode_quote(WithdrawAll(PositionReading(777)), [YES])
    # The deposit quote accrues the Comet inside the read batch before reading its totals.
    reads = comet.quote_reads(Deposit(1), ME)
    assert [r.data[:4] for r in reads[:3]] == [
        selector("isSupplyPaused()"),
        selector("accrueAccount(address)"),
        selector("totalsBasic()"),
    ]


def test_liquidity_is_the_comets_cash_capped_by_the_position_and_nothing_while_paused():
    position, cash = ok(["uint256"], 700), ok(["uint256"], 500)
    reading = comet.decode_liquidity([position, cash, NO])
    assert (reading.position, reading.market_available, reading.withdrawable, reading.reason) == (700, 500, 500, None)
    assert comet.decode_liquidity([position, ok(["uint256"], 10**9), NO]).withdrawable == 700
    paused = comet.decode_liquidity([position, cash, YES])
    assert paused.withdrawable == 0 and paused.reason == "withdrawals are paused on the Comet"


def test_rewards_read_and_claim():
    (owed_read,) = comet.reward_reads(ME)
    assert owed_read.target == REWARDS and owed_read.data[:4] == selector("getRewardOwed(address,address)")
    assert decode(["address", "address"], owed_read.data[4:]) == (COMET, ME)
    owed = comet.reward_owed([ok(["(address,uint256)"], (COMP, 12 * 10**18))])
    assert owed.amount == 12 * 10**18 and owed.token.lower() == COMP
    (claim,) = comet.claim_calls(ME)
    assert claim.target == REWARDS and decode(["address", "address", "bool"], words(claim.data)[4:]) == (
        COMET,
        ME,
        True,
    )


@pytest.mark.parametrize(
    ("signature", "engine_error"),
    [
        ("Paused()", CometPaused),
        ("NotCollateralized()", InsufficientBalance),
        ("BorrowTooSmall()", InsufficientBalance),
        ("TransferOutFailed()", InsufficientLiquidity),
        ("NotSupported(address)", RewardsNotConfigured),
    ],
)
def test_comets_errors_decode_by_name(signature, engine_error):
    types = ["address"] if "address" in signature else []
    data = selector(signature) + (encode(types, [COMET]) if types else b"")
    assert named_revert(data).error is engine_error
    assert engine_error.__name__ in decode_revert(data) and "Compound V3" in decode_revert(data)


def test_market_config_and_spec():
    spec = protocol("compound_v3")
    assert spec.market_config is CompoundV3MarketConfig and spec.contracts == ("Comet", "CometRewards")
    market = TypeAdapter(MarketConfig).validate_python(
        {"protocol": "compound-v3", "adapter": "compound_v3", "market": "cUSDCv3", "asset": "USDC", "comet": COMET}
    )
    assert isinstance(market, CompoundV3MarketConfig) and market.rewards is None
    adapter = spec.adapter_for(KEY, USDC, market)
    assert isinstance(adapter, CompoundV3Adapter) and adapter.comet.lower() == COMET
