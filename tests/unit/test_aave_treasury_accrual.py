"""Aave V3's supply cap counts the treasury's share of the interest since the reserve's last
update: the pool adds it to `accruedToTreasury` (V3.5's `ReserveLogic._accrueToTreasury`)
before `ValidationLogic.validateSupply` checks the cap, and the engine's pre-check does the
same when the market config names the reserve's variable debt token."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from floor.adapters.base import Asset, Deposit, Withdraw
from floor.calls import ReadResult, selector
from floor.errors import BadInput
from floor.guards import Expected
from floor.models import AdapterKey
from floor.protocols.aave_v3 import PROTOCOL, AaveV3Adapter, AaveV3MarketConfig
from floor.protocols.aave_v3.errors import SupplyCapExceeded
from floor.protocols.aave_v3.reserve import RESERVE_DATA, ReserveFlags
from floor.protocols.aave_v3.wadray import RAY, a_token_balance, a_token_mint_scaled, percent_mul, treasury_accrual

USDC = Asset("USDC", "0x" + "aa" * 20, 6)
POOL, ATOKEN, DEBT, ME = (to_checksum_address("0x" + c * 20) for c in ("bb", "cc", "dd", "ee"))
KEY = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
aave = AaveV3Adapter(key=KEY, asset=USDC, pool=POOL, a_token=ATOKEN, variable_debt_token=DEBT)
blind = AaveV3Adapter(key=KEY, asset=USDC, pool=POOL, a_token=ATOKEN)  # no debt token configured


def ok(*values, types=None):
    return ReadResult(True, encode(types or ["uint256"] * len(values), list(values)))


def flags(cap: int = 0, reserve_factor: int = 0) -> ReserveFlags:
    return ReserveFlags(
        active=True, frozen=False, paused=False, decimals=6, supply_cap=cap, reserve_factor=reserve_factor
    )


def reserve_data(flags: ReserveFlags, *, borrow_index: int = RAY, accrued: int = 0, debt_token: str = DEBT):
    reserve = ((flags.bitmap(),), RAY, 0, borrow_index, 0, 0, 0, 0, ATOKEN, ATOKEN, debt_token, ATOKEN, accrued, 0, 0)
    return ok(reserve, types=[RESERVE_DATA])


def quote(adapter, amount, flags, *, index, supplied, accrued=0, borrow_index=RAY, next_borrow_index=RAY, debt=0):
    results = [reserve_data(flags, borrow_index=borrow_index, accrued=accrued), ok(index), ok(supplied)]
    if adapter.variable_debt_token is not None:
        results += [ok(next_borrow_index), ok(debt)]
    return adapter.decode_quote(Deposit(amount), results)


# ---------------------------------------------------------------------------- the reserve factor


def test_the_reserve_factor_is_bits_64_to_79_of_the_configuration():
    assert ReserveFlags.of(1_000 << 64).reserve_factor == 1_000
    assert ReserveFlags.of((2**16 - 1) << 64 | 1 << 80).reserve_factor == 2**16 - 1  # bit 80: the next field
    word = (1 << 56) | (6 << 48) | (1_500 << 64) | (10 << 116)
    assert ReserveFlags.of(word) == flags(cap=10, reserve_factor=1_500) and flags(10, 1_500).bitmap() == word
    assert ReserveFlags.of(1 << 56).reserve_factor == 0


# ---------------------------------------------------------------------------- the treasury's accrual


def test_percent_mul_rounds_half_up_as_percentage_math():
    assert percent_mul(1, 5_000) == 1  # 0.5 up
    assert percent_mul(1, 4_999) == 0
    assert percent_mul(12_345, 10_000) == 12_345
    assert percent_mul(3, 3_333) == 1  # 0.9999


def test_the_treasury_accrues_the_reserve_factors_share_of_the_debts_growth():
    # 1,000,000 scaled debt, the borrow index up 1%: 10,000 of interest, 10% of it is 1,000,
    # minted at a liquidity index of 1.25: 800 scaled aTokens.
    assert treasury_accrual(10**6, RAY, RAY * 101 // 100, 1_000, RAY * 5 // 4) == 800
    assert treasury_accrual(10**6, RAY, RAY * 101 // 100, 0, RAY) == 0  # no reserve factor
    assert treasury_accrual(0, RAY, 2 * RAY, 1_000, RAY) == 0  # no debt
    assert treasury_accrual(10**6, RAY, RAY, 1_000, RAY) == 0  # updated in this block


def test_the_treasurys_accrual_rounds_as_v35():
    # The debt's growth rounds down (3 * 0.5 = 1.5 -> 1), then 100% of it, minted down at 1.5.
    assert treasury_accrual(3, RAY, RAY * 3 // 2, 10_000, RAY) == 1
    assert treasury_accrual(7, RAY, 2 * RAY, 10_000, RAY * 3 // 2) == 4  # 7 / 1.5 = 4.67 down
    # V3.5 multiplies the scaled debt by the index's growth, rounding down, where earlier
    # versions took the difference of two debts rounded half up (1.6 -> 2 less 1.4 -> 1: 1).
    assert treasury_accrual(1, RAY * 14 // 10, RAY * 16 // 10, 10_000, RAY) == 0  # 0.2 down


# ---------------------------------------------------------------------------- the deposit quote


def test_with_its_debt_token_the_deposit_quote_reads_the_debt_in_the_same_round():
    reads = aave.quote_reads(Deposit(1), ME)
    assert [(r.target, r.data[:4]) for r in reads] == [
        (POOL, selector("getReserveData(address)")),
        (POOL, selector("getReserveNormalizedIncome(address)")),
        (ATOKEN, selector("scaledTotalSupply()")),
        (POOL, selector("getReserveNormalizedVariableDebt(address)")),
        (DEBT, selector("scaledTotalSupply()")),
    ]
    assert len(blind.quote_reads(Deposit(1), ME)) == 3 and aave.quote_reads(Withdraw(1), ME) == []


def test_a_deposit_that_fits_by_the_stored_figures_but_not_with_the_treasurys_share_is_refused():
    capped = flags(cap=10, reserve_factor=2_000)  # 10 USDC, 20% to the treasury
    index = RAY * 11 // 10
    supplied = a_token_mint_scaled(4_000_000, index)  # about 4 USDC supplied
    # 5 USDC of scaled debt, its index up 10% since the last update: 0.5 USDC of interest,
    # 0.1 USDC of it the treasury's, 90,909 scaled aTokens at 1.1.
    state = {
        "index": index,
        "supplied": supplied,
        "borrow_index": RAY,
        "next_borrow_index": RAY * 11 // 10,
        "debt": 5_000_000,
    }
    assert treasury_accrual(5_000_000, RAY, RAY * 11 // 10, 2_000, index) == 90_909
    left = 10_000_000 - a_token_balance(supplied + 90_909, index)
    assert left == 5_900_001
    assert quote(aave, left, capped, **state) == [Expected(ATOKEN, left - 2)]
    with pytest.raises(SupplyCapExceeded, match=f"supply cap of 10 whole tokens; about {left} base units are left"):
        quote(aave, left + 1, capped, **state)
    # 6,000,001 fits by the stored figures alone, as the check without the debt token sees it.
    assert quote(blind, 6_000_001, capped, index=index, supplied=supplied)
    with pytest.raises(SupplyCapExceeded):
        quote(aave, 6_000_001, capped, **state)


def test_the_stored_accrual_and_the_pending_share_both_count():
    capped = flags(cap=10, reserve_factor=10_000)
    state = {"index": RAY, "supplied": 4_000_000, "next_borrow_index": 2 * RAY, "debt": 1_000_000}
    assert quote(aave, 4_000_000, capped, accrued=1_000_000, **state)  # 4 + 1 stored + 1 pending + 4 = 10
    with pytest.raises(SupplyCapExceeded, match="about 4000000 base units are left"):
        quote(aave, 4_000_001, capped, accrued=1_000_000, **state)


def test_without_a_reserve_factor_nothing_accrues():
    capped = flags(cap=10)
    assert quote(aave, 6_000_000, capped, index=RAY, supplied=4_000_000, next_borrow_index=2 * RAY, debt=10**6)


def test_a_debt_token_the_pool_does_not_report_is_refused():
    results = [reserve_data(flags(cap=10), debt_token=ATOKEN), ok(RAY), ok(0), ok(RAY), ok(0)]
    with pytest.raises(BadInput, match="names .* as the variable debt token; the pool reports"):
        aave.decode_quote(Deposit(1_000), results)


@settings(max_examples=300, derandomize=True)
@given(
    cap=st.integers(1, 10**9),
    reserve_factor=st.integers(0, 10_000),
    index=st.integers(RAY, 3 * RAY),
    growth=st.integers(0, RAY // 2),
    borrow_index=st.integers(RAY, 3 * RAY),
    supplied=st.integers(0, 10**15),
    accrued=st.integers(0, 10**12),
    debt=st.integers(0, 10**15),
    amount=st.integers(1, 10**16),
)
def test_the_quote_refuses_exactly_what_the_pool_refuses(
    cap, reserve_factor, index, growth, borrow_index, supplied, accrued, debt, amount
):
    """The pool's order, written out: update state (accrue to the treasury), then validate."""
    capped = flags(cap=cap, reserve_factor=reserve_factor)
    next_borrow_index = borrow_index + growth
    treasury = accrued + percent_mul((debt * growth) // RAY, reserve_factor) * RAY // index
    scaled = amount * RAY // index
    refused = scaled != 0 and (supplied + scaled + treasury) * index // RAY > cap * 10**6
    state = {"index": index, "supplied": supplied, "accrued": accrued, "borrow_index": borrow_index}
    try:
        quote(aave, amount, capped, next_borrow_index=next_borrow_index, debt=debt, **state)
    except SupplyCapExceeded:
        assert refused
    except Exception as exc:  # a supply that mints nothing is refused by another name
        assert scaled == 0, exc
    else:
        assert not refused


def test_the_market_config_carries_the_debt_token_to_the_adapter():
    market = AaveV3MarketConfig(
        protocol="aave-v3", adapter="aave_v3", market="USDC", asset="USDC", pool=POOL, a_token=ATOKEN
    )
    assert market.variable_debt_token is None
    assert PROTOCOL.adapter_for(KEY, USDC, market).variable_debt_token is None
    market = market.model_copy(update={"variable_debt_token": DEBT})
    assert PROTOCOL.adapter_for(KEY, USDC, market) == aave
    loaded = AaveV3MarketConfig.model_validate(
        {
            "protocol": "aave-v3",
            "adapter": "aave_v3",
            "market": "USDC",
            "asset": "USDC",
            "pool": POOL,
            "a_token": ATOKEN,
            "variable_debt_token": DEBT.lower(),
        }
    )
    assert loaded.variable_debt_token == DEBT  # checksummed
