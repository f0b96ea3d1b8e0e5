"""Rocket Pool's adapter, pure: deposits unwrap WETH and are checked against the deposit pool
as it would check them (its address in RocketStorage, enabled, minimum, maximum with the
figure); the position is rETH at the exchange rate; a burn is bounded by rETH's collateral and
refused before sending beyond it, with what can leave now; what a burn pays is wrapped back."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from eth_utils import keccak
from hypothesis import given
from hypothesis import strategies as st

from floor.adapters.base import (
    Asset,
    Deposit,
    LiquidityReading,
    PositionReading,
    RawWrites,
    Withdraw,
    WithdrawAll,
)
from floor.calls import ReadResult, selector
from floor.chain.executor import decode_revert, named_revert
from floor.errors import InsufficientBalance
from floor.guards import ETH as ETH_TOKEN
from floor.guards import Expected
from floor.models import AdapterKey
from floor.protocols.rocket_pool.adapter import RocketPoolAdapter, burn_margin, contract_key, withdrawable_now
from floor.protocols.rocket_pool.errors import (
    BelowMinimumDeposit,
    DepositPoolFull,
    DepositPoolMoved,
    DepositsDisabled,
    InsufficientCollateral,
)

ETH = 10**18
WETH = Asset("WETH", "0x" + "aa" * 20, 18)
STORAGE, POOL, RETH, ME = "0x" + "bb" * 20, "0x" + "cc" * 20, "0x" + "dd" * 20, "0x" + "ee" * 20
rocket = RocketPoolAdapter(
    key=AdapterKey(chain_id=1, protocol="rocket-pool", market="rETH"),
    asset=WETH,
    rocket_storage=STORAGE,
    deposit_pool=POOL,
    reth=RETH,
)
RATE = 11 * ETH // 10  # 1.1 ETH per rETH


def ok(*values, types=None):
    return ReadResult(True, encode(types or ["uint256"] * len(values), list(values)))


def args(c, types):
    return decode(types, bytes.fromhex(c.data[10:]))


def test_contracts_are_found_at_rocket_storages_keys():
    assert contract_key("rocketDepositPool") == keccak(text="contract.addressrocketDepositPool")


def test_a_deposit_unwraps_weth_and_carries_the_eth_to_the_deposit_pool():
    unwrap, deposit = rocket.deposit_calls(3 * ETH, ME)
    assert (unwrap.target, unwrap.value, args(unwrap, ["uint256"])) == (WETH.address, 0, (3 * ETH,))
    assert (deposit.target, deposit.value, deposit.data) == (POOL, 3 * ETH, "0x" + selector("deposit()").hex())
    rules = rocket.permissions()
    assert rules.refusal(unwrap, ME) is None and rules.refusal(deposit, ME) is None
    assert {p.signature for p in rules.rules if p.carries_value} == {"deposit()"}  # the pool's and WETH's


def deposit_quote(amount, pool=POOL, enabled=True, minimum=ETH // 100, most=5_000 * ETH, fee=5 * 10**14, rate=RATE):
    reth_value = amount * ETH // rate
    results = [ok(pool, types=["address"]), ok(enabled, types=["bool"]), ok(minimum), ok(most), ok(fee), ok(reth_value)]
    return rocket.decode_quote(Deposit(amount), results)


def test_a_deposit_is_checked_as_the_deposit_pool_checks_it_before_sending():
    reads = rocket.quote_reads(Deposit(ETH), ME)
    assert reads[0].target == STORAGE and reads[0].data == selector("getAddress(bytes32)") + contract_key(
        "rocketDepositPool"
    )
    with pytest.raises(DepositPoolMoved, match="RocketStorage names 0x"):
        deposit_quote(ETH, pool="0x" + "99" * 20)
    with pytest.raises(DepositsDisabled):
        deposit_quote(ETH, enabled=False)
    with pytest.raises(BelowMinimumDeposit, match=f"below the minimum of {ETH // 100} wei"):
        deposit_quote(ETH // 100 - 1)
    with pytest.raises(DepositPoolFull, match=rf"above what the deposit pool takes now \({40 * ETH} wei\)"):
        deposit_quote(40 * ETH + 1, most=40 * ETH)
    (guard,) = deposit_quote(40 * ETH, most=40 * ETH)
    assert guard.token == RETH


@given(total=st.integers(10**18, 10**27), growth=st.integers(0, 10**18), amount=st.integers(10**16, 10**24))
def test_the_deposit_guard_is_at_most_the_reth_minted(total, growth, amount):
    supply = total * 10**18 // (10**18 + growth)
    fee = 5 * 10**14
    net = amount - amount * fee // ETH
    minted = net * supply // total  # rETH.mint: getRethValue(net)
    reth_value = amount * supply // total
    (guard,) = rocket.decode_quote(
        Deposit(amount),
        [ok(POOL, types=["address"]), ok(True, types=["bool"]), ok(0), ok(2**255), ok(fee), ok(reth_value)],
    )
    assert minted - 1 <= guard.delta <= minted


def withdraw_quote(amount, balance=100 * ETH, collateral=1_000 * ETH, rate=RATE):
    return rocket.decode_quote(Withdraw(amount), [ok(amount * ETH // rate), ok(balance), ok(collateral), ok(rate)])


def test_a_withdrawal_burns_the_reth_worth_it_and_wraps_exactly_the_amount():
    expected = withdraw_quote(11 * ETH)
    assert expected == [Expected(WETH.address, 11 * ETH), Expected(ETH_TOKEN, 0), Expected(RETH, -(10 * ETH + 1))]
    calls = rocket.protected_calls(Withdraw(11 * ETH), ME, expected, 50)
    starts, (burn, wrap), checks = calls[:3], calls[3:5], calls[5:]
    assert [args(c, ["address"])[0] for c in starts] == [WETH.address, ETH_TOKEN, RETH]
    assert (burn.target, args(burn, ["uint256"])) == (RETH, (10 * ETH + 1,))
    assert (wrap.target, wrap.value) == (WETH.address, 11 * ETH)
    # Exact amounts: no slippage allowance on these guards, whatever the strategy's.
    assert [args(c, ["address", "int256"]) for c in checks] == [
        (WETH.address, 11 * ETH),
        (ETH_TOKEN, 0),
        (RETH, -(10 * ETH + 1)),
    ]
    assert all(rocket.permissions().refusal(c, ME) is None for c in (burn, wrap))
    assert not isinstance(rocket, RawWrites)  # the burn comes from the exchange rate: only protected_calls


@given(total=st.integers(10**18, 10**27), growth=st.integers(0, 10**18), amount=st.integers(1, 10**24))
def test_burning_one_reth_unit_more_than_the_value_pays_at_least_the_amount(total, growth, amount):
    supply = total * 10**18 // (10**18 + growth)
    rate = ETH * total // supply  # getExchangeRate
    burnt = amount * supply // total + 1  # getRethValue(amount) + 1
    paid = burnt * total // supply  # getEthValue(burnt)
    assert amount <= paid <= amount + burn_margin(rate)


def test_a_burn_beyond_the_collateral_is_refused_before_sending_with_what_can_leave_now():
    with pytest.raises(
        InsufficientCollateral,
        match=rf"covers {15 * ETH} wei; {15 * ETH - 2} wei can be withdrawn now \(about {(15 * ETH - 2) * ETH // RATE} rETH",
    ):
        withdraw_quote(50 * ETH, collateral=15 * ETH)
    with pytest.raises(InsufficientBalance, match="are worth 110000000000000000000 wei"):
        withdraw_quote(110 * ETH + 1)
    # Everything: the whole balance, and exactly what it pays is wrapped.
    everything = WithdrawAll(PositionReading(amount=110 * ETH, shares=100 * ETH))
    assert rocket.decode_quote(everything, [ok(110 * ETH + 7), ok(200 * ETH), ok(RATE)]) == [
        Expected(WETH.address, 110 * ETH + 7),
        Expected(ETH_TOKEN, 0),
        Expected(RETH, -100 * ETH),
    ]
    with pytest.raises(InsufficientCollateral):
        rocket.decode_quote(everything, [ok(110 * ETH + 7), ok(110 * ETH), ok(RATE)])


def test_position_is_reth_at_the_exchange_rate_and_liquidity_is_bounded_by_collateral():
    assert rocket.decode_position([ok(100 * ETH + 3), ok(RATE)]) == PositionReading(
        amount=(100 * ETH + 3) * RATE // ETH, shares=100 * ETH + 3
    )
    assert rocket.decode_liquidity([ok(100 * ETH), ok(RATE), ok(1_000 * ETH)]) == LiquidityReading(
        position=110 * ETH, market_available=1_000 * ETH, withdrawable=110 * ETH
    )
    short = rocket.decode_liquidity([ok(100 * ETH), ok(RATE), ok(15 * ETH)])
    assert (short.market_available, short.withdrawable) == (15 * ETH, 15 * ETH - burn_margin(RATE))
    assert "collateral" in short.reason
    assert withdrawable_now(0, 15 * ETH, RATE) == 0
    assert (rocket.exit, rocket.yield_source) == ("instant", "exchange_rate")


def test_the_growth_index_is_the_exchange_rate_scaled_to_1e27():
    (rate_read,) = rocket.rate_reads()
    assert (rate_read.target, rate_read.data) == (RETH, selector("getExchangeRate()"))
    assert rocket.decode_rate([ok(RATE)], 1).growth_index == RATE * 10**9


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("Insufficient ETH balance for exchange", InsufficientCollateral),
        ("The deposited amount is less than the minimum deposit size", BelowMinimumDeposit),
        (
            "The deposit pool size after depositing (and matching with minipools) exceeds the maximum size",
            DepositPoolFull,
        ),
        ("The deposit pool size after depositing exceeds the maximum size", DepositPoolFull),
        ("Deposits into Rocket Pool are currently disabled", DepositsDisabled),
    ],
)
def test_rocket_pools_revert_strings_decode_to_named_errors(reason, error):
    data = selector("Error(string)") + encode(["string"], [reason])
    failed = selector("CallFailed(uint256,bytes)") + encode(["uint256", "bytes"], [0, data])
    assert named_revert(failed).error is error
    assert decode_revert(failed).startswith(f"CallFailed(call 0): {reason}: {error.__name__}, ")
    assert "(Rocket Pool error " in decode_revert(failed)
