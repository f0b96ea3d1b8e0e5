"""Values from feed prices: integers in USD with 8 decimals, exact, rounded down; the feed
reader's verdicts on a Chainlink feed's answers (stale, missing, zero, negative, reverting, no
contract), against a stand-in reader; the feed config's checks; the Multicall3 reader's block
number on Arbitrum and elsewhere."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from floor.calls import ReadCall, ReadResult, encode_call, selector
from floor.chain.multicall import (
    ARB_SYS,
    MulticallReader,
    ReadBatch,
    decode_aggregate3_results,
    encode_aggregate3,
)
from floor.chain.prices import decode_prices, plan_prices, price_results, read_prices
from floor.chain.private import _one_scale
from floor.chain.report import exact
from floor.config import ChainConfig
from floor.errors import PriceStale, PriceUnavailable
from floor.models import VALUE_DECIMALS, Price, value_of
from floor.readplan import ReadPlan

USD = 10**8  # Chainlink's USD feeds: 8 decimals


def price(units: int, decimals: int = 8) -> Price:
    return Price(symbol="X", price=units, decimals=decimals, block_number=1)


# ---------------------------------------------------------------------------- valuation


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


def test_a_feed_of_other_decimals_values_in_usd_with_eight():
    """Value is always USD with 8 decimals, whatever the feed's own decimals."""
    assert VALUE_DECIMALS == 8
    eighteen = price(3_000 * 10**18, decimals=18)  # $3,000 with 18 decimals
    assert value_of(10**18, 18, eighteen) == 3_000 * USD
    assert value_of(1, 18, price(123_456_789_012_345_678_901, decimals=18)) == 0  # $1.2e-16
    two = price(300_012, decimals=2)  # $3,000.12 with 2 decimals
    assert value_of(10**18, 18, two) == 3_000_12000000
    assert value_of(1, 6, price(1, decimals=0)) == 100  # $0.000001 with a price of $1 and 0 decimals


@pytest.mark.parametrize("decimals", [6, 18])
def test_large_amounts_stay_exact(decimals):
    amount = 2**128  # beyond any float's 53-bit mantissa
    p = price(312_345_678_901)  # $3,123.45678901
    assert value_of(amount, decimals, p) == math.floor(Fraction(amount * p.price, 10**decimals))
    assert value_of(amount - 1, decimals, p) <= value_of(amount, decimals, p)


@given(st.integers(0, 2**128), st.integers(0, 36), st.integers(1, 10**30), st.integers(0, 36))
def test_value_is_the_exact_quotient_rounded_down(amount, decimals, units, price_decimals):
    value = value_of(amount, decimals, price(units, price_decimals))
    exact_usd = Fraction(amount * units * 10**VALUE_DECIMALS, 10 ** (decimals + price_decimals))
    assert value <= exact_usd < value + 1


def test_the_report_shows_the_value_as_an_exact_decimal():
    value = value_of(333_333_333_333_333_333, 18, price(3_000 * USD))
    assert exact(value, VALUE_DECIMALS) == Decimal("999.99999999")
    assert format(exact(value_of(1, 18, price(3_000 * USD)), VALUE_DECIMALS), "f") == "0.00000000"


def test_a_price_is_positive():
    with pytest.raises(ValidationError):
        price(0)
    with pytest.raises(ValidationError):
        price(-1)


def test_prices_of_different_decimals_are_put_on_one_scale_exactly():
    weth = Price(symbol="WETH", price=3_000 * USD, decimals=8, block_number=1)
    usdc = Price(symbol="USDC", price=10**18, decimals=18, block_number=1)  # $1 with 18 decimals
    scaled = _one_scale({"WETH": weth, "USDC": usdc})
    assert {s: (p.price, p.decimals) for s, p in scaled.items()} == {
        "WETH": (3_000 * 10**18, 18),
        "USDC": (10**18, 18),
    }
    assert _one_scale({}) == {}


# ---------------------------------------------------------------------------- feed answers

USDC_FEED = "0x" + "11" * 20
WETH_FEED = "0x" + "22" * 20
NOW = 1_700_000_000  # the batch's block timestamp


def chain(**feeds) -> ChainConfig:
    return ChainConfig.model_validate(
        {
            "id": 1,
            "name": "ethereum",
            "rpc_urls": ["http://127.0.0.1:1"],
            "tokens": [
                {"symbol": "USDC", "address": "0x" + "aa" * 20, "decimals": 6},
                {"symbol": "WETH", "address": "0x" + "bb" * 20, "decimals": 18},
                {"symbol": "DAI", "address": "0x" + "cc" * 20, "decimals": 18},
            ],
            "price_feeds": feeds
            or {
                "USDC": {"feed": USDC_FEED, "heartbeat_s": 86_400},
                "WETH": {"feed": WETH_FEED, "heartbeat_s": 3_600},
            },
        }
    )


class Feed:
    """What one feed answers: a round (None: the call reverts; b"": no contract) and decimals."""

    def __init__(self, answer=1, updated_at=NOW, round_id=7, decimals=8, reverts=False, no_code=False):
        self.answer, self.updated_at, self.round_id = answer, updated_at, round_id
        self.decimals, self.reverts, self.no_code = decimals, reverts, no_code


class FakeReader:
    """Answers latestRoundData() and decimals() from a table of feeds. Counts batches."""

    def __init__(self, feeds: dict[str, Feed]):
        self.feeds = {a.lower(): f for a, f in feeds.items()}
        self.batches = 0

    def read(self, calls):
        self.batches += 1
        return ReadBatch([self._answer(c) for c in calls], block_number=99, timestamp=NOW, eth_calls=1)

    def _answer(self, call) -> ReadResult:
        feed = self.feeds[call.target.lower()]
        if feed.reverts:
            return ReadResult(False, b"")
        if feed.no_code:
            return ReadResult(True, b"")
        if call.data == selector("decimals()"):
            return ReadResult(True, encode(["uint8"], [feed.decimals]))
        assert call.data == selector("latestRoundData()")
        f = feed
        return ReadResult(
            True,
            encode(["uint80", "int256", "uint256", "uint256", "uint80"], [f.round_id, f.answer, 0, f.updated_at, 7]),
        )


def test_reads_every_price_in_one_batch_with_the_feeds_decimals():
    reader = FakeReader({USDC_FEED: Feed(99_990_000), WETH_FEED: Feed(3_000 * 10**18, NOW - 3_600, decimals=18)})
    prices = read_prices(reader, chain())
    assert reader.batches == 1
    assert prices == {
        "USDC": Price(
            symbol="USDC", price=99_990_000, decimals=8, block_number=99, feed=chain().price_feeds["USDC"].feed,
            updated_at=NOW, round_id=7,
        ),
        "WETH": Price(
            symbol="WETH", price=3_000 * 10**18, decimals=18, block_number=99, feed=chain().price_feeds["WETH"].feed,
            updated_at=NOW - 3_600, round_id=7,
        ),
    }  # fmt: skip
    assert value_of(2 * 10**18, 18, prices["WETH"]) == 6_000 * USD  # an answer exactly a heartbeat old is current


def test_configured_decimals_are_not_read():
    config = chain(USDC={"feed": USDC_FEED, "heartbeat_s": 60, "decimals": 6})
    plan = ReadPlan()
    assert plan_prices(plan, config, ["USDC", "USDC"]) == ["USDC"]
    assert [c.data for c in plan.calls] == [selector("latestRoundData()")]
    reader = FakeReader({USDC_FEED: Feed(1_000_000, decimals=99)})  # decimals() would be refused
    assert read_prices(reader, config)["USDC"].decimals == 6


def test_a_stale_answer_names_the_feed_the_token_and_its_age():
    reader = FakeReader({USDC_FEED: Feed(USD), WETH_FEED: Feed(3_000 * USD, updated_at=NOW - 3_601)})
    with pytest.raises(PriceStale) as raised:
        read_prices(reader, chain())
    text = str(raised.value)
    assert chain().price_feeds["WETH"].feed in text and "WETH" in text
    assert "3601 s old" in text and "heartbeat of 3600 s" in text and "block 99" in text
    assert not raised.value.retryable
    # The stale one alone: the other token is still priced.
    found = price_results(chain(), ["USDC", "WETH"], _results(reader, chain(), ["USDC", "WETH"]), _batch())
    assert isinstance(found["USDC"], Price) and isinstance(found["WETH"], PriceStale)


@pytest.mark.parametrize(
    "feed, why",
    [
        (Feed(0), "answered 0"),
        (Feed(-5), "answered -5"),
        (Feed(3_000 * USD, updated_at=0, round_id=0), "no round yet"),
        (Feed(reverts=True), "latestRoundData\\(\\) reverted"),
        (Feed(no_code=True), "no contract at that address"),
        (Feed(3_000 * USD, decimals=37), "decimals\\(\\) is 37"),
    ],
)
def test_no_price_names_the_token_and_the_feed(feed, why):
    reader = FakeReader({USDC_FEED: Feed(USD), WETH_FEED: feed})
    with pytest.raises(PriceUnavailable, match=why) as raised:
        read_prices(reader, chain())
    assert "WETH" in str(raised.value) and chain().price_feeds["WETH"].feed in str(raised.value)
    assert not raised.value.retryable


def test_a_decimals_read_that_fails_is_no_price():
    class DecimalsRevert(FakeReader):
        def _answer(self, call):
            if call.data == selector("decimals()"):
                return ReadResult(False, b"")
            return super()._answer(call)

    with pytest.raises(PriceUnavailable, match="decimals\\(\\) reverted"):
        read_prices(DecimalsRevert({USDC_FEED: Feed(USD), WETH_FEED: Feed(USD)}), chain())


def test_every_problem_is_named_in_one_error():
    reader = FakeReader({USDC_FEED: Feed(0), WETH_FEED: Feed(USD, updated_at=NOW - 10**6)})
    with pytest.raises(PriceUnavailable) as raised:
        read_prices(reader, chain())
    assert "USDC" in str(raised.value) and "and 1 more" in str(raised.value) and "WETH" in str(raised.value)


def test_a_token_without_a_feed_is_refused_before_anything_is_sent():
    reader = FakeReader({USDC_FEED: Feed(USD), WETH_FEED: Feed(USD)})
    with pytest.raises(PriceUnavailable, match="no price feed for token 'DAI'") as raised:
        read_prices(reader, chain(), ["USDC", "DAI"])
    assert "chains.price_feeds.DAI" in str(raised.value) and reader.batches == 0


def _batch() -> ReadBatch:
    return ReadBatch([], block_number=99, timestamp=NOW, eth_calls=1)


def _results(reader, config, symbols):
    plan = ReadPlan()
    plan_prices(plan, config, symbols)
    return plan.results(reader.read(plan.calls).results)


def test_decode_prices_reads_the_callers_plan():
    """Prices share a plan (and so a batch) with the caller's own reads."""
    reader = FakeReader({USDC_FEED: Feed(USD), WETH_FEED: Feed(3_000 * USD)})
    plan = ReadPlan()
    plan.add("mine", [])
    symbols = plan_prices(plan, chain(), ["WETH", "USDC", "WETH"])
    results = plan.results(reader.read(plan.calls).results)
    assert reader.batches == 1 and symbols == ["WETH", "USDC"] and results["mine"] == []
    assert {s: p.price for s, p in decode_prices(chain(), symbols, results, _batch()).items()} == {
        "WETH": 3_000 * USD,
        "USDC": USD,
    }


# ---------------------------------------------------------------------------- config


def test_feed_config_is_checked():
    with pytest.raises(ValidationError, match="price_feeds.WBTC: no token 'WBTC' on chain 1"):
        chain(WBTC={"feed": USDC_FEED, "heartbeat_s": 60})
    with pytest.raises(ValidationError, match="heartbeat_s"):
        chain(USDC={"feed": USDC_FEED, "heartbeat_s": 0})
    with pytest.raises(ValidationError, match="also prices 'USDC'"):
        chain(USDC={"feed": USDC_FEED, "heartbeat_s": 60}, DAI={"feed": USDC_FEED, "heartbeat_s": 60})
    with pytest.raises(ValidationError, match="decimals"):
        chain(USDC={"feed": USDC_FEED, "heartbeat_s": 60, "decimals": 37})
    with pytest.raises(ValidationError, match="feed"):
        chain(USDC={"heartbeat_s": 60})


# ---------------------------------------------------------------------------- the block of a batch


class FakeEth:
    """Answers aggregate3 eth_calls: block reads from `block`, others echo their calldata;
    ArbSys' answer when `arb_block` is set, else no code at 0x64."""

    def __init__(self, block: int, timestamp: int, arb_block: int | None = None):
        self.block, self.timestamp, self.arb_block = block, timestamp, arb_block
        self.calls: list = []

    def call(self, tx, block_identifier):
        self.calls.append(block_identifier)
        (triples,) = decode(["(address,bool,bytes)[]"], bytes(tx["data"])[4:])
        out = []
        for target, _, data in triples:
            if target.lower() == ARB_SYS.lower():
                found = b"" if self.arb_block is None else encode(["uint256"], [self.arb_block])
            elif data == selector("getBlockNumber()"):
                found = encode(["uint256"], [self.block])
            elif data == selector("getCurrentBlockTimestamp()"):
                found = encode(["uint256"], [self.timestamp])
            else:
                found = data
            out.append((True, found))
        return encode(["(bool,bytes)[]"], [out])


class FakeWeb3:
    def __init__(self, eth):
        self.eth = eth


def _reads(n):
    return [ReadCall("0x" + "44" * 20, i.to_bytes(4, "big")) for i in range(n)]


def test_one_batch_is_one_eth_call_with_its_block():
    eth = FakeEth(block=123, timestamp=NOW)
    batch = MulticallReader(FakeWeb3(eth)).read(_reads(5))
    assert (batch.block_number, batch.timestamp, batch.eth_calls) == (123, NOW, 1) and eth.calls == ["latest"]
    assert [r.data for r in batch.results] == [i.to_bytes(4, "big") for i in range(5)]


def test_on_arbitrum_the_block_is_arbsys_not_the_l1_number():
    eth = FakeEth(block=21_000_000, timestamp=NOW, arb_block=300_000_000)  # block.number is L1's there
    assert MulticallReader(FakeWeb3(eth)).read(_reads(1)).block_number == 300_000_000


def test_later_chunks_are_pinned_to_the_first_chunks_block():
    eth = FakeEth(block=123, timestamp=NOW)
    reader = MulticallReader(FakeWeb3(eth), gas_cap=1_000_000, gas_per_read=100_000)  # 10 reads a chunk
    batch = reader.read(_reads(25))  # 7 in the first chunk (beside the 3 block reads), then 10 and 8
    assert batch.eth_calls == 3 and eth.calls == ["latest", 123, 123]
    assert [r.data for r in batch.results] == [i.to_bytes(4, "big") for i in range(25)]


def test_a_read_at_a_block_checks_it_ran_there():
    assert MulticallReader(FakeWeb3(FakeEth(block=50, timestamp=NOW))).read(_reads(1), block=50).block_number == 50
    with pytest.raises(ValueError, match="asked for block 49, the eth_call ran at block 50"):
        MulticallReader(FakeWeb3(FakeEth(block=50, timestamp=NOW))).read(_reads(1), block=49)


# ---------------------------------------------------------------------------- aggregate3's ABI, by hand

_calls = st.lists(
    st.builds(
        ReadCall,
        st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),  # target
        st.binary(max_size=100),  # calldata
        st.booleans(),  # allow_failure
    ),
    max_size=8,
)


@given(_calls)
def test_aggregate3_calldata_is_eth_abis(calls):
    triples = [(to_checksum_address(c.target), c.allow_failure, c.data) for c in calls]
    assert encode_aggregate3(calls) == encode_call("aggregate3((address,bool,bytes)[])", triples)


@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=100)), max_size=8))
def test_aggregate3_results_decode_as_eth_abi(pairs):
    raw = encode(["(bool,bytes)[]"], [pairs])
    assert decode_aggregate3_results(raw, len(pairs)) == [ReadResult(ok, data) for ok, data in pairs]


def test_malformed_aggregate3_results_are_refused():

    raw = encode(["(bool,bytes)[]"], [[(True, b"\x01" * 40)]])
    with pytest.raises(DecodingError, match="past the end"):
        decode_aggregate3_results(b"", 0)  # no Multicall3 at that block: no data at all
    with pytest.raises(DecodingError, match="1 results for 2 reads"):
        decode_aggregate3_results(raw, 2)
    with pytest.raises(DecodingError, match="past the end"):
        decode_aggregate3_results(raw[:-32], 1)  # return data cut short
    bad_bool = bytearray(raw)
    bad_bool[4 * 32 - 1] = 2  # the tuple's success word
    with pytest.raises(DecodingError, match="not a bool"):
        decode_aggregate3_results(bytes(bad_bool), 1)
    with pytest.raises(ValueError, match="not an address"):
        encode_aggregate3([ReadCall("0x1234", b"")])
