"""Quoted rates from a protocol's own state where it keeps them only in events: Lido's APR
from its last oracle report's TokenRebased (Lido's formula), Rocket Pool's from the exchange
rate of its last two BalancesUpdated; the backward eth_getLogs search that finds them; APR
and APY kept apart (a report period compounds once); and the notes of markets left measured."""

from __future__ import annotations

import pytest
from eth_abi import encode

from floor.adapters.base import RAY, SECONDS_PER_YEAR, Asset, EventLog, LogQuery
from floor.calls import ReadResult, read
from floor.chain.ratelogs import last_logs, with_rate_logs
from floor.models import AdapterKey
from floor.protocols.lido.adapter import LidoAdapter
from floor.protocols.lido.rebase import TOKEN_REBASED, Rebase, rebase_quote
from floor.protocols.rocket_pool.adapter import RocketPoolAdapter, contract_key
from floor.protocols.rocket_pool.balances import BALANCES_UPDATED, BalancesUpdate, balances_quote
from floor.rates import MIN_REPORT_SPAN_S, growth_rates, quoted_rate, report_rates

ETH = 10**18
DAY = 86_400
WETH = Asset("WETH", "0x" + "aa" * 20, 18)
STETH, QUEUE, STORAGE, POOL, RETH, BALANCES = ("0x" + b * 20 for b in ("bb", "cc", "dd", "ee", "ff", "12"))
lido = LidoAdapter(AdapterKey(chain_id=1, protocol="lido", market="stETH"), WETH, STETH, QUEUE)
rocket = RocketPoolAdapter(AdapterKey(chain_id=1, protocol="rocket-pool", market="rETH"), WETH, STORAGE, POOL, RETH)


def word(n: int) -> bytes:
    return n.to_bytes(32, "big")


def rebased(timestamp: int, elapsed: int, pre: tuple[int, int], post: tuple[int, int], block: int = 1) -> EventLog:
    """TokenRebased(reportTimestamp indexed, timeElapsed, preShares, preEther, postShares, postEther, feeShares)."""
    data = encode(["uint256"] * 6, [elapsed, pre[0], pre[1], post[0], post[1], 0])
    return EventLog(block, (TOKEN_REBASED, word(timestamp)), data)


def balances_updated(slot_time: int, total_eth: int, supply: int, block: int = 1) -> EventLog:
    """BalancesUpdated(block indexed, slotTimestamp, totalEth, stakingEth, rethSupply, blockTimestamp)."""
    return EventLog(
        block, (BALANCES_UPDATED, word(block)), encode(["uint256"] * 5, [slot_time, total_eth, 0, supply, 0])
    )


def test_growth_over_a_period_apr_simple_apy_compounded_per_period():
    apr, apy = growth_rates(RAY, RAY + RAY // 10_000, DAY)  # +0.01% in a day
    assert apr == pytest.approx(0.0365, rel=1e-9)
    assert apy == pytest.approx(1.0001**365 - 1, rel=1e-9) and apy > apr
    assert report_rates(RAY, 2 * RAY, MIN_REPORT_SPAN_S - 1)[:2] == (None, None)  # too close to annualise
    assert "too close" in report_rates(RAY, 2 * RAY, 60)[2]


def test_lido_apr_from_the_last_reports_token_rebased_as_lido_computes_it():
    # Mainnet: the event carries timeElapsed. 1,000 ETH on 1,000 shares to 1,000.1 ETH: +0.01% a day.
    report = Rebase.from_log(rebased(5 * DAY, DAY, (1_000 * ETH, 1_000 * ETH), (1_000 * ETH, 1_000_100 * ETH // 1_000)))
    assert (report.pre_share_rate, report.post_share_rate) == (RAY, RAY + RAY // 10_000)
    apr, apy, note = rebase_quote([report])
    assert apr == pytest.approx(0.0365, rel=1e-9) and apy == pytest.approx(1.0001**365 - 1, rel=1e-9) and note is None
    # With the fee's shares minted: Lido's formula, (post - pre) / pre x year / timeElapsed, share rates at 1e27.
    fee = Rebase.from_log(rebased(9 * DAY, DAY, (7_800_000 * ETH, 9_000_000 * ETH), (7_800_030 * ETH, 9_000_800 * ETH)))
    pre, post = 9_000_000 * ETH * RAY // (7_800_000 * ETH), 9_000_800 * ETH * RAY // (7_800_030 * ETH)
    assert rebase_quote([fee])[0] == pytest.approx((post - pre) / pre * SECONDS_PER_YEAR / DAY, rel=1e-12)


def test_lido_stand_in_reports_no_time_elapsed_so_the_previous_report_dates_it():
    first = rebased(1_000, 0, (1_000 * ETH, 1_000 * ETH), (1_000 * ETH, 1_003 * ETH))
    second = rebased(1_000 + 2 * DAY, 0, (1_000 * ETH, 1_003 * ETH), (1_000 * ETH, 1_003_200_600 * ETH // 1_000_000))
    carried = lido.with_rate_logs([first, second])
    snap = carried.decode_rate([ReadResult(True, word(RAY))], 7)
    assert snap.quoted_apr == pytest.approx(0.0002 / 2 * 365, rel=1e-6)  # +0.02% over two days
    assert snap.quoted_apy == pytest.approx(1.0002 ** (365 / 2) - 1, rel=1e-6)
    assert quoted_rate(snap).apy == snap.quoted_apy and snap.growth_index == RAY
    one = lido.with_rate_logs([first]).decode_rate([ReadResult(True, word(RAY))], 7)
    assert one.quoted_apr is None and "one Lido oracle report" in one.note
    unread = lido.decode_rate([ReadResult(True, word(RAY))], 7)
    assert unread.quoted_apr is None and "not read" in unread.note
    assert lido.rate_logs() == LogQuery(topic0=TOKEN_REBASED, count=2, address=STETH)


def test_rocket_pool_rate_between_its_last_two_balance_updates():
    supply = 1_000 * ETH
    before = balances_updated(10_000, 1_100 * ETH, supply)
    after = balances_updated(10_000 + DAY, 1_100_110 * ETH // 1_000, supply)  # 1.1 -> 1.10011: +0.01%
    updates = [BalancesUpdate.from_log(before), BalancesUpdate.from_log(after)]
    assert [u.exchange_rate for u in updates] == [11 * ETH // 10, 110_011 * ETH // 100_000]
    apr, apy, _note = balances_quote(updates)
    assert apr == pytest.approx(0.0365, rel=1e-9) and apy == pytest.approx(1.0001**365 - 1, rel=1e-9)
    snap = rocket.with_rate_logs([before, after]).decode_rate([ReadResult(True, word(11 * ETH // 10))], 3)
    assert (snap.quoted_apr, snap.quoted_apy, snap.note) == (apr, apy, None)
    assert (
        "1 Rocket Pool balances update"
        in rocket.with_rate_logs([after]).decode_rate([ReadResult(True, word(ETH))], 3).note
    )
    # Its events are the RocketNetworkBalances RocketStorage names now.
    query = rocket.rate_logs()
    assert query.address is None
    assert query.resolve == read(STORAGE, "getAddress(bytes32)", contract_key("rocketNetworkBalances"))


class FakeEth:
    """A node with some logs of one contract, answering eth_getLogs by block range."""

    def __init__(self, blocks: list[int], latest: int, fail: bool = False):
        self.blocks, self.block_number, self.fail, self.ranges = blocks, latest, fail, []

    def get_logs(self, query):
        if self.fail:
            raise ValueError("query returned more than 10000 results")
        assert query["address"].lower() == BALANCES and query["topics"] == ["0x" + BALANCES_UPDATED.hex()]
        self.ranges.append((query["fromBlock"], query["toBlock"]))
        found = [b for b in self.blocks if query["fromBlock"] <= b <= query["toBlock"]]
        return [{"blockNumber": b, "topics": [BALANCES_UPDATED, word(b)], "data": word(b) * 5} for b in found]

    def call(self, tx):
        assert tx["to"].lower() == STORAGE
        return word(int(BALANCES, 16))


class FakeWeb3:
    def __init__(self, eth):
        self.eth = eth


def test_the_last_events_are_found_backwards_in_windows():
    eth = FakeEth([5, 25_000, 99_000], latest=100_000)
    query = LogQuery(topic0=BALANCES_UPDATED, count=2, address=BALANCES)
    found = last_logs(FakeWeb3(eth), query, 100_000, chunk=10_000)
    assert [e.block_number for e in found] == [25_000, 99_000]  # oldest first
    assert eth.ranges[0] == (90_001, 100_000) and eth.ranges[-1] == (20_001, 30_000) and len(eth.ranges) == 8
    far = last_logs(FakeWeb3(FakeEth([5, 99_000], 100_000)), query, 100_000, chunk=10_000, max_blocks=50_000)
    assert [e.block_number for e in far] == [99_000]  # no further back than max_blocks


def test_rate_logs_resolve_the_contract_and_a_refusing_node_leaves_the_apy_measured():
    eth = FakeEth([7, 9], latest=10)
    (carried,) = with_rate_logs(FakeWeb3(eth), [rocket])
    assert [u.block for u in carried.balances] == [7, 9]
    (refused,) = with_rate_logs(FakeWeb3(FakeEth([7], latest=10, fail=True)), [rocket])
    assert refused is rocket and refused.balances is None
