"""Reconciliation's classification: interest is accrual, rounding is dust, anything else is a
discrepancy with its size; idle funds, the journal's names, and a chain that is not the one the
engine knew."""

from types import SimpleNamespace

import pytest

from floor.calls import ReadFailed
from floor.chain.marks import check_chain
from floor.chain.multicall import MulticallMissing, MulticallReader
from floor.reconcile import (
    carried_forward,
    classify,
    classify_idle,
    default_dust,
    deliveries,
    delivery_effect,
    idle_key,
    move_effect,
    parse_tx_key,
    tx_key,
)

RAY = 10**27


def test_the_cache_is_carried_forward_by_the_growth_index():
    assert carried_forward(1_000_000, RAY, RAY * 101 // 100) == 1_010_000
    assert carried_forward(1_000_000, None, RAY) == 1_000_000  # no index then: as is


def test_interest_since_the_snapshot_is_accrual_not_a_discrepancy():
    cached = 1_000_000_000
    expected = carried_forward(cached, RAY, RAY * 1_002 // 1_000)  # 0.2% interest
    assert classify(cached, expected, expected, tolerance_bps=5, dust=1) == "accrual"
    assert classify(cached, expected, expected + expected * 4 // 10_000, tolerance_bps=5, dust=1) == "accrual"
    assert classify(cached, expected, expected - expected * 6 // 10_000, tolerance_bps=5, dust=1) == "discrepancy"


def test_exact_match_rounding_dust_and_a_transfer_out():
    assert classify(500, 500, 500, tolerance_bps=5, dust=1) == "match"
    assert classify(500, 500, 499, tolerance_bps=0, dust=1) == "dust"
    assert classify(10**12, 10**12, 9 * 10**11, tolerance_bps=5, dust=10) == "discrepancy"


def test_default_dust_is_a_millionth_of_a_token():
    assert default_dust(6) == 1 and default_dust(18) == 10**12 and default_dust(0) == 1


def test_an_idle_balance_has_no_tolerance_beyond_dust_and_more_is_an_inflow():
    assert classify_idle(500, 500, dust=1) == "match"
    assert classify_idle(500, 499, dust=1) == "dust"
    assert classify_idle(500, 80_500, dust=1) == "inflow"  # a top-up, or a delivery that did not happen
    assert classify_idle(10**12, 10**12 - 10**6, dust=1) == "discrepancy"  # 1 bps is money here


def test_the_journals_names_for_idle_funds_deliveries_and_lost_transactions():
    effects = move_effect(1, "USDC", "1:aave-v3:USDC", -5) | delivery_effect(1, "USDC", "0xDe", 7)
    assert effects == {"1:aave-v3:USDC": -5, "1:idle:USDC": -7, "1:delivery:USDC:0xDe": 7}
    assert deliveries(effects) == [("USDC", "0xDe", 7)]
    assert parse_tx_key(tx_key(42161, "0xAB")) == (42161, "0xab")
    assert parse_tx_key("1:aave-v3:USDC") is None and parse_tx_key(idle_key(1, "USDC")) is None


class FakeChain:
    """A node's blocks by number (hash per number), for the chain check."""

    def __init__(self, hashes: list[str]):
        self.hashes = hashes
        self.provider = SimpleNamespace(make_request=self.request)
        self.eth = SimpleNamespace(block_number=len(hashes) - 1)

    def request(self, method, params):
        assert method == "eth_getBlockByNumber"
        n = int(params[0], 16)
        return {"result": {"number": hex(n), "hash": self.hashes[n]} if n < len(self.hashes) else None}


def mark(number: int, block_hash: str, genesis: str = "0x00"):
    return SimpleNamespace(block_number=number, block_hash=block_hash, genesis_hash=genesis)


def test_a_chain_that_is_not_the_one_the_engine_knew_is_named_in_one_line():
    known = mark(2, "0x02")
    assert check_chain(FakeChain(["0x00", "0x01", "0x02", "0x03"]), 42161, known) is None  # it grew: fine
    assert check_chain(FakeChain(["0x00"]), 42161, None) is None  # no mark yet: nothing to compare
    said = {
        "reset": check_chain(FakeChain(["0xff", "0x01"]), 42161, known),  # another genesis
        "head below": check_chain(FakeChain(["0x00", "0x01"]), 42161, known),
        "rewritten": check_chain(FakeChain(["0x00", "0x01", "0xee", "0x03"]), 42161, known),
    }
    for case, text in said.items():
        assert text and text.startswith("chain 42161 state does not match what the engine knew at block 2"), case
        assert "\n" not in text, case


def test_no_multicall3_at_the_block_is_an_error_by_name_not_a_decoding_traceback():
    w3 = SimpleNamespace(eth=SimpleNamespace(call=lambda *a: b"", get_code=lambda *a: b"", chain_id=42161))
    with pytest.raises(MulticallMissing, match=r"Multicall3 at 0x\w+ has no code on chain 42161 at block latest"):
        MulticallReader(w3).read([])
    w3.eth.get_code = lambda *a: b"\x60\x00"  # code there, an answer that does not decode: retried
    with pytest.raises(ReadFailed, match="aggregate3 of 3 reads") as found:
        MulticallReader(w3).read([])
    assert found.value.retryable and not MulticallMissing.retryable
