"""Adapters are pure: their calls decode back to the intended arguments."""

import math

import pytest
from eth_abi import decode, encode

from floor.adapters.base import MAX_UINT256, RAY, Asset, Deposit, PositionReading, RateSnapshot, Withdraw, WithdrawAll
from floor.calls import ReadFailed, ReadResult, selector
from floor.errors import InsufficientLiquidity, InvalidAmount
from floor.guards import Expected
from floor.models import AdapterKey
from floor.protocols.aave_v3.adapter import AaveV3Adapter
from floor.protocols.aave_v3.reserve import RESERVE_DATA, ReserveFlags
from floor.protocols.erc4626.adapter import PRICE_SCALE, Erc4626Adapter
from floor.rates import apy_from_apr, quoted_rate, realised_rate

USDC = Asset("USDC", "0x" + "aa" * 20, 6)
POOL, ATOKEN, VAULT, ME = "0x" + "bb" * 20, "0x" + "cc" * 20, "0x" + "dd" * 20, "0x" + "ee" * 20
aave = AaveV3Adapter(
    key=AdapterKey(chain_id=1, protocol="aave-v3", market="USDC"), asset=USDC, pool=POOL, a_token=ATOKEN
)
vault = Erc4626Adapter(key=AdapterKey(chain_id=1, protocol="metamorpho", market="steakUSDC"), asset=USDC, vault=VAULT)


def args(call, types):
    return decode(types, bytes.fromhex(call.data[10:]))


def ok(*values, types=None):
    return ReadResult(True, encode(types or ["uint256"] * len(values), list(values)))


def test_aave_deposit_approves_exactly_then_resets():
    approve, supply, reset = aave.deposit_calls(5_000_000, ME)
    assert approve.target == reset.target == USDC.address
    assert args(approve, ["address", "uint256"]) == (POOL, 5_000_000)
    assert supply.target == POOL and supply.data.startswith(
        "0x" + selector("supply(address,uint256,address,uint16)").hex()
    )
    assert args(supply, ["address", "uint256", "address", "uint16"]) == (USDC.address, 5_000_000, ME, 0)
    assert args(reset, ["address", "uint256"]) == (POOL, 0)


def test_aave_withdraw_all_uses_max_uint():
    (call,) = aave.withdraw_all_calls(PositionReading(amount=7), ME)
    assert args(call, ["address", "uint256", "address"]) == (USDC.address, MAX_UINT256, ME)


@pytest.mark.parametrize("amount", [0, -1, 1.5, True])
def test_non_positive_or_non_integer_amounts_are_refused(amount):
    with pytest.raises(InvalidAmount, match="amount must be a positive integer in base units"):
        vault.deposit_calls(amount, ME)


def test_vault_withdraw_all_redeems_every_share():
    (call,) = vault.withdraw_all_calls(PositionReading(amount=10, shares=9), ME)
    assert args(call, ["uint256", "address", "address"]) == (9, ME, ME)


def test_vault_position_is_exact_when_liquidity_covers_it():
    reading = vault.decode_position([ok(900), ok(900), ok(1_000), ok(PRICE_SCALE * 10 // 9)])
    assert reading == PositionReading(amount=1_000, shares=900)


def test_vault_position_falls_back_to_the_share_price_when_liquidity_is_short():
    # maxRedeem 100 < 900 shares: maxWithdraw is capped, so the value comes from the price.
    reading = vault.decode_position([ok(900), ok(100), ok(111), ok(PRICE_SCALE * 10 // 9)])
    assert reading.amount == 999  # 900 * 1.111..., rounded down


def test_a_failed_read_names_what_failed():
    with pytest.raises(ReadFailed, match="1:aave-v3:USDC aToken.balanceOf: call reverted"):
        aave.decode_position([ReadResult(False, b"")])


def test_aave_rate_is_an_apr_turned_into_an_apy():
    reserve = ((0,), RAY, RAY * 5 // 100, RAY, 0, 0, 0, 0, ATOKEN, ATOKEN, ATOKEN, ATOKEN, 0, 0, 0)
    snapshot = aave.decode_rate([ok(reserve, types=[RESERVE_DATA]), ok(RAY)], timestamp=100)
    rate = quoted_rate(snapshot)
    assert rate.apr == pytest.approx(0.05)
    assert rate.apy == pytest.approx(math.exp(0.05) - 1, rel=1e-6)  # per-second compounding


def test_realised_rate_from_two_snapshots():
    year = 365 * 24 * 3600
    rate = realised_rate(RateSnapshot(0, RAY), RateSnapshot(year // 2, RAY * 102 // 100))
    assert rate.apr == pytest.approx(0.04)
    assert rate.apy == pytest.approx(1.02**2 - 1)
    with pytest.raises(ValueError, match="ordered in time"):
        realised_rate(RateSnapshot(5, RAY), RateSnapshot(5, RAY))


def test_apy_exceeds_apr_for_positive_rates():
    assert apy_from_apr(0.1, 12) == pytest.approx((1 + 0.1 / 12) ** 12 - 1)
    assert apy_from_apr(0.1) > 0.1


ACTIONS = [Deposit(5), Withdraw(5), WithdrawAll(PositionReading(amount=5, shares=4))]


@pytest.mark.parametrize("adapter", [aave, vault], ids=["aave", "vault"])
def test_the_declared_rules_allow_every_call_the_adapter_makes(adapter):
    rules = adapter.permissions()
    for action in ACTIONS:
        for call in adapter.action_calls(action, ME):
            assert rules.refusal(call, ME) is None, (action, call)


@pytest.mark.parametrize("adapter", [aave, vault], ids=["aave", "vault"])
def test_the_declared_rules_refuse_the_same_calls_paying_someone_else(adapter):
    # One call per action names its beneficiary: supply/deposit, withdraw, withdraw-all/redeem.
    """Each receiver, beneficiary or spender argument is scoped: swap it and the rule refuses."""
    rules = adapter.permissions()
    stranger = "0x" + "66" * 20
    refused = 0
    for action in ACTIONS:
        for mine, theirs in zip(adapter.action_calls(action, ME), adapter.action_calls(action, stranger), strict=True):
            if mine != theirs:
                assert "not an allowed address" in rules.refusal(theirs, ME), theirs
                refused += 1
    assert refused == len(ACTIONS)
    approve_attacker = "0x095ea7b3" + "00" * 12 + "66" * 20 + "00" * 32
    assert "not an allowed address" in rules.refusal(
        adapter.deposit_calls(1, ME)[0].model_copy(update={"data": approve_attacker}), ME
    )


ACTIVE = ReserveFlags(active=True, frozen=False, paused=False, decimals=6, supply_cap=0)


def reserve_data(flags: ReserveFlags = ACTIVE, accrued: int = 0):
    reserve = ((flags.bitmap(),), RAY, 0, RAY, 0, 0, 0, 0, ATOKEN, ATOKEN, ATOKEN, ATOKEN, accrued, 0, 0)
    return ok(reserve, types=[RESERVE_DATA])


def test_aave_quotes_allow_for_its_index_rounding_and_pay_withdrawals_in_full():
    (deposit,) = aave.decode_quote(Deposit(1_000), [reserve_data(), ok(RAY * 3 // 2), ok(0)])
    assert deposit == Expected(ATOKEN, 1_000 - 2)  # index 1.5: up to ceil(1.5) units of rounding
    assert aave.decode_quote(Withdraw(70), []) == [Expected(USDC.address, 70)]
    assert aave.decode_quote(WithdrawAll(PositionReading(amount=90)), []) == [Expected(USDC.address, 90)]


def test_vault_quotes_come_from_its_previews():
    assert vault.quote_reads(Deposit(10), ME)[0].data[:4] == selector("previewDeposit(uint256)")
    assert vault.quote_reads(Deposit(10), ME)[1].data[:4] == selector("maxDeposit(address)")
    assert vault.decode_quote(Deposit(10), [ok(9), ok(MAX_UINT256), ok(RAY)]) == [Expected(VAULT, 9)]
    # A withdrawal must pay the assets and burn no more shares than previewed.
    assert vault.quote_reads(Withdraw(10), ME)[1].data[:4] == selector("maxWithdraw(address)")
    assert vault.decode_quote(Withdraw(10), [ok(11), ok(10)]) == [Expected(USDC.address, 10), Expected(VAULT, -11)]
    assert vault.quote_reads(WithdrawAll(PositionReading(10, 9)), ME)[0].data[:4] == selector("previewRedeem(uint256)")
    assert vault.quote_reads(WithdrawAll(PositionReading(10, 9)), ME)[1].data[:4] == selector("maxRedeem(address)")
    assert vault.decode_quote(WithdrawAll(PositionReading(10, 9)), [ok(10), ok(9)]) == [Expected(USDC.address, 10)]


def test_vault_quotes_refuse_what_the_vault_cannot_pay_out_now():
    # The previews ignore liquidity; maxWithdraw and maxRedeem (MetaMorpho's markets) do not.
    with pytest.raises(InsufficientLiquidity, match="the vault lets the executor take 9 now"):
        vault.decode_quote(Withdraw(10), [ok(11), ok(9)])
    with pytest.raises(InsufficientLiquidity, match="redeem 8 now"):
        vault.decode_quote(WithdrawAll(PositionReading(10, 9)), [ok(10), ok(8)])


def test_a_deposit_into_an_inflated_vault_is_refused_and_never_guarded_on_zero_shares():
    # Offset 0, inflated: 1 share is worth 1.5 of the deposit's size; a smaller deposit mints none.
    with pytest.raises(InvalidAmount, match="mints no share"):
        vault.decode_quote(Deposit(1_000_000), [ok(0), ok(MAX_UINT256), ok(RAY * 1_500_000)])
    # One share for 1,000,000 units worth 750,000: a loss `slippage` reports (the engine refuses it).
    quote = [ok(1), ok(MAX_UINT256), ok(RAY * 750_000)]
    assert vault.slippage(Deposit(1_000_000), quote).bps == 2_500
    assert vault.slippage(Deposit(1_000), [ok(1_000), ok(MAX_UINT256), ok(RAY)]).bps == 0
    # The guard's bound is at least one share, whatever the tolerance.
    calls = vault.protected_calls(Deposit(1_000_000), ME, vault.decode_quote(Deposit(1_000_000), quote), 50)
    assert args(calls[-1], ["address", "int256"]) == (VAULT, 1)


def test_protected_calls_wrap_the_action_in_balance_guards():
    calls = vault.protected_calls(Deposit(1_000), ME, [Expected(VAULT, 1_000)], slippage_bps=50)
    assert [c.target for c in calls] == [ME, USDC.address, VAULT, USDC.address, ME]
    assert calls[0].data[:10] == "0x" + selector("guardStart(address)").hex()
    assert args(calls[-1], ["address", "int256"]) == (VAULT, 995)
