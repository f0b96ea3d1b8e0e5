"""Values from oracle prices: integers, exact, rounded down; and the price reader's verdicts on
an oracle's answers, against a stand-in reader."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from eth_abi import decode, encode
from hypothesis import given
from hypothesis import strategies as st

from floor.calls import ReadResult, selector
from floor.chain.multicall import ReadBatch
from floor.chain.prices import read_prices
from floor.config import TokenConfig
from floor.errors import PriceUnavailable
from floor.models import Price, value_of

USD = 10**8  # Aave's USD BASE_CURRENCY_UNIT


def price(usd_units: int) -> Price:
    return Price(symbol="X", price=usd_units, unit=USD, block_number=1)


def test_six_decimals_exact():
    usdc = price(99_980_000)  # $0.9998
    assert value_of(1_000_000, 6, usdc) == 99_980_000  # 1 USDC
    assert value_of(1, 6, usdc) == 99  # 0.000001 USDC is $0.0000009998: 99.98 units, rounded down
    assert value_of(12_345_678_901, 6, usdc) == 1_234_320_976_521  # $12,343.2097652198 -> .20976521


def test_eighteen_decimals_exact():
    weth = price(3_000 * USD)
    assert value_of(10**18, 18, weth) == 3_000 * USD
    assert value_of(500 * 10**18, 18, weth) == 1_500_000 * USD
    assert value_of(1, 18, weth) == 0  # 1 wei is $3e-15: below the unit, rounded down
    assert value_of(333_333_333_333_333_333, 18, weth) == 99_999_999_999  # $999.99999999, not $1,000


@pytest.mark.parametrize("decimals", [6, 18])
def test_large_amounts_stay_exact(decimals):
    amount = 2**128  # beyond any float's 53-bit mantissa
    p = price(312_345_678_901)  # $3,123.45678901
    assert value_of(amount, decimals, p) == math.floor(Fraction(amount * p.price, 10**decimals))
    assert value_of(amount - 1, decimals, p) <= value_of(amount, decimals, p)


@given(st.integers(0, 2**128), st.integers(0, 36), st.integers(1, 10**20))
def test_value_is_the_exact_quotient_rounded_down(amount, decimals, usd_units):
    value = value_of(amount, decimals, price(usd_units))
    exact = Fraction(amount * usd_units, 10**decimals)
    assert value <= exact < value + 1


TOKENS = [
    TokenConfig(symbol="USDC", address="0x" + "11" * 20, decimals=6),
    TokenConfig(symbol="WETH", address="0x" + "22" * 20, decimals=18),
]
ORACLE = "0x" + "33" * 20


class FakeReader:
    """Answers the oracle's views from a table; None is a revert. Counts batches."""

    def __init__(self, prices: dict[str, int | None]):
        self.prices = {a.lower(): p for a, p in prices.items()}
        self.batches = 0

    def read(self, calls):
        self.batches += 1
        return ReadBatch([self._answer(c) for c in calls], block_number=7, timestamp=0, eth_calls=1)

    def _answer(self, call) -> ReadResult:
        if call.data[:4] == selector("BASE_CURRENCY_UNIT()"):
            return ReadResult(True, encode(["uint256"], [USD]))
        (asset,) = decode(["address"], call.data[4:])
        answer = self.prices[asset.lower()]
        return ReadResult(False, b"") if answer is None else ReadResult(True, encode(["uint256"], [answer]))


def test_reads_every_price_in_one_batch():
    reader = FakeReader({TOKENS[0].address: 100_000_000, TOKENS[1].address: 3_000 * USD})
    prices = read_prices(reader, ORACLE, TOKENS)
    assert reader.batches == 1
    assert prices == {
        "USDC": Price(symbol="USDC", price=100_000_000, unit=USD, block_number=7),
        "WETH": Price(symbol="WETH", price=3_000 * USD, unit=USD, block_number=7),
    }


@pytest.mark.parametrize("answer, why", [(0, "answered 0"), (None, "reverted")])
def test_no_price_names_the_token_and_the_oracle(answer, why):
    reader = FakeReader({TOKENS[0].address: 100_000_000, TOKENS[1].address: answer})
    with pytest.raises(PriceUnavailable, match=why) as raised:
        read_prices(reader, ORACLE, TOKENS)
    assert "WETH" in str(raised.value) and ORACLE in str(raised.value)
    assert not raised.value.retryable
