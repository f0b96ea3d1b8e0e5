"""Balancer V2's adapter, pure: the Vault's real call layout (joinPool/exitPool with the request
tuple, ComposableStablePool's userData kinds, the BPT among the assets but not in userData), the
bounds from a quote, the executor's rules on sender and recipient, the refusals before anything
is sent, the valuation, and the Python stable math's own properties."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode

from floor.adapters.base import Asset, Deposit, PositionReading, RawWrites, Withdraw, WithdrawAll
from floor.calls import ReadResult, selector
from floor.errors import InsufficientBalance, InvalidAmount
from floor.guards import Expected, min_delta
from floor.models import AdapterKey, Price
from floor.protocols import known_reverts, protocol
from floor.protocols.balancer_v2.adapter import (
    EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT,
    EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT,
    EXIT_POOL,
    JOIN_POOL,
    QUERY_EXIT,
    QUERY_JOIN,
    BalancerV2Adapter,
    exit_all_user_data,
    exit_one_user_data,
    fair_value,
    join_user_data,
)
from floor.protocols.balancer_v2.config import BalancerV2MarketConfig
from floor.protocols.balancer_v2.errors import (
    AssetNotInPool,
    BptOutBelowMinimum,
    ExactOutExitUnsupported,
    ExitBelowMinimum,
    PoolTokensChanged,
)
from tests import balancer_math as bm

EXECUTOR = "0x5067457698Fd6Fa1C6964e416b3f42713513B3dD"
OUTSIDER = "0x9999999999999999999999999999999999999999"
VAULT = "0xBA12222222228d8Ba445958a75a0704d566BF2C8"
HELPERS = "0x5aDDCCa35b7A0D07C74063c48700C8590E87864E"
USDC = "0x1111111111111111111111111111111111111111"
POOL = "0x2222222222222222222222222222222222222222"  # the BPT sits between the coins
DAI = "0x3333333333333333333333333333333333333333"
POOL_ID = "0x" + POOL[2:].lower() + "0000" + "00" * 10
KEY = AdapterKey(chain_id=1, protocol="balancer-v2", market="USDC-DAI")
TUPLE = "(address[],uint256[],bytes,bool)"


def adapter(asset: str = USDC, tokens=(USDC, POOL, DAI)) -> BalancerV2Adapter:
    return BalancerV2Adapter(
        key=KEY,
        asset=Asset("USDC", asset, 6),
        balancer_vault=VAULT,
        pool=POOL,
        pool_id=POOL_ID,
        helpers=HELPERS,
        tokens=tuple(tokens),
    )


def args(data: str) -> tuple:
    return decode(["bytes32", "address", "address", TUPLE], bytes.fromhex(data[10:]))


def ok(types, values) -> ReadResult:
    return ReadResult(True, encode(types, values))


def pool_tokens(tokens=(USDC, POOL, DAI)) -> ReadResult:
    return ok(["address[]", "uint256[]", "uint256"], [list(tokens), [10**12, 2**111, 10**24], 7])


def test_user_data_is_composable_stable_pools_abi_encoding():
    # JoinKind.EXACT_TOKENS_IN_FOR_BPT_OUT = 1: (kind, uint256[] amountsIn, minimumBPT)
    data = join_user_data([5, 0], 4)
    assert data == encode(["uint256", "uint256[]", "uint256"], [1, [5, 0], 4])
    assert data[:32] == (1).to_bytes(32, "big") and data[32:64] == (96).to_bytes(32, "big")
    # ExitKind.EXACT_BPT_IN_FOR_ONE_TOKEN_OUT = 0, EXACT_BPT_IN_FOR_ALL_TOKENS_OUT = 2 (the legacy
    # StablePool's EXACT_BPT_IN_FOR_TOKENS_OUT was 1: that is BPT_IN_FOR_EXACT_TOKENS_OUT here).
    assert exit_one_user_data(7, 1) == encode(["uint256"] * 3, [0, 7, 1])
    assert exit_all_user_data(7) == encode(["uint256"] * 2, [2, 7])
    assert (EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT) == (0, 2)


def test_a_join_lists_the_bpt_among_the_assets_but_not_in_the_user_data_and_resets_the_approval():
    a = adapter()
    approve, join, reset = a.join_calls(1_000_000, 990, EXECUTOR)
    assert (
        approve.data
        == "0x" + (selector("approve(address,uint256)") + encode(["address", "uint256"], [VAULT, 1_000_000])).hex()
    )
    assert (
        reset.data == "0x" + (selector("approve(address,uint256)") + encode(["address", "uint256"], [VAULT, 0])).hex()
    )
    assert join.target == VAULT and join.data[:10] == "0x" + selector(JOIN_POOL).hex()
    pool_id, sender, recipient, (assets, max_in, user_data, internal) = args(join.data)
    assert pool_id.hex() == POOL_ID[2:] and sender.lower() == recipient.lower() == EXECUTOR.lower()
    assert [x.lower() for x in assets] == [USDC.lower(), POOL.lower(), DAI.lower()]
    assert list(max_in) == [1_000_000, 0, 0] and internal is False
    assert decode(["uint256", "uint256[]", "uint256"], user_data) == (1, (1_000_000, 0), 990)
    # The asset after the BPT: its userData index skips the BPT.
    b = adapter(asset=DAI)
    *_, (_, max_in, user_data, _) = args(b.join_calls(5, 1, EXECUTOR)[1].data)
    assert list(max_in) == [0, 0, 5] and decode(["uint256", "uint256[]", "uint256"], user_data)[1] == (0, 5)
    assert (b.asset_index, b.user_index(2), b.bpt_index, b.coins) == (2, 1, 1, (USDC, DAI))


def test_exits_carry_min_amounts_out_per_registered_token():
    a = adapter()
    (one,) = a.exit_calls(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, 10**18, [990_000, 0, 0], EXECUTOR)
    _, _sender, _recipient, (_assets, mins, user_data, internal) = args(one.data)
    assert one.data[:10] == "0x" + selector(EXIT_POOL).hex() and internal is False
    assert list(mins) == [990_000, 0, 0] and decode(["uint256"] * 3, user_data) == (0, 10**18, 0)
    (everything,) = a.exit_calls(EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT, 10**18, [1, 0, 2], EXECUTOR)
    assert decode(["uint256"] * 2, args(everything.data)[3][2]) == (2, 10**18)
    with pytest.raises(InvalidAmount):
        a.exit_calls(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, 0, [0, 0, 0], EXECUTOR)
    with pytest.raises(Exception, match="3 tokens"):
        a.exit_calls(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, 1, [0, 0], EXECUTOR)
    with pytest.raises(Exception, match="not built here"):
        a.exit_calls(1, 1, [0, 0, 0], EXECUTOR)  # BPT_IN_FOR_EXACT_TOKENS_OUT: left out
    with pytest.raises(Exception, match="non-negative"):
        a.exit_calls(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, 1, [-1, 0, 0], EXECUTOR)


def test_the_executor_rules_pin_sender_and_recipient_to_itself():
    a = adapter()
    rules = a.permissions()
    join_rule = next(p for p in rules.rules if p.signature == JOIN_POOL)
    # sender, recipient; the poolId (word 0) listed; the request's (word 3) internal-balance flag 0
    assert [(r.word, r.inner) for r in join_rule.args] == [(1, 0), (2, 0), (0, 0), (3, 4)]
    for c in a.join_calls(10, 1, EXECUTOR) + a.exit_calls(0, 1, [0, 0, 0], EXECUTOR):
        assert rules.refusal(c, EXECUTOR) is None
    request = a.exit_request(0, 1, [0, 0, 0])
    from floor.calls import call

    for sender, recipient in ((EXECUTOR, OUTSIDER), (OUTSIDER, EXECUTOR)):
        bad = call(VAULT, EXIT_POOL, bytes.fromhex(POOL_ID[2:]), sender, recipient, request)
        assert "not an allowed address" in rules.refusal(bad, EXECUTOR)
        bad = call(VAULT, JOIN_POOL, bytes.fromhex(POOL_ID[2:]), sender, recipient, a.join_request(1, 0))
        assert "not an allowed address" in rules.refusal(bad, EXECUTOR)
    other_pool = call(VAULT, JOIN_POOL, b"\x11" * 32, EXECUTOR, EXECUTOR, a.join_request(1, 0))
    assert "argument 0 is 0x1111" in rules.refusal(other_pool, EXECUTOR)  # an attacker's pool
    internal = (*a.join_request(1, 0)[:3], True)
    from_internal = call(VAULT, JOIN_POOL, bytes.fromhex(POOL_ID[2:]), EXECUTOR, EXECUTOR, internal)
    assert "argument 3 (its word 3)" in rules.refusal(from_internal, EXECUTOR)
    approve_other = call(USDC, "approve(address,uint256)", OUTSIDER, 1)
    assert rules.refusal(approve_other, EXECUTOR) is not None


def test_protected_calls_put_the_quote_less_the_tolerance_in_the_vaults_own_bound():
    a = adapter()
    reads = a.quote_reads(Deposit(1_000_000), EXECUTOR)
    assert [r.target for r in reads] == [VAULT, HELPERS, a.pool] and reads[1].data[:4] == selector(QUERY_JOIN)
    assert decode(["bytes32", "address", "address", TUPLE], reads[1].data[4:])[3][1] == (1_000_000, 0, 0)
    quote = a.decode_quote(
        Deposit(1_000_000), [pool_tokens(), ok(["uint256", "uint256[]"], [998_000, [1_000_000, 0, 0]])]
    )
    assert quote == [Expected(POOL, 998_000), Expected(USDC, -1_000_000)]
    calls = a.protected_calls(Deposit(1_000_000), EXECUTOR, quote, 50)
    minimum = decode(["uint256", "uint256[]", "uint256"], args(calls[1].data)[3][2])[2]
    assert minimum == min_delta(998_000, 50) == 998_000 - 4_990
    assert all("guard" not in c.data for c in calls) and len(calls) == 3  # no balance guard

    position = PositionReading(amount=10, shares=5 * 10**17)
    reads = a.quote_reads(WithdrawAll(position), EXECUTOR)
    assert reads[1].data[:4] == selector(QUERY_EXIT)
    user_data = decode(["bytes32", "address", "address", TUPLE], reads[1].data[4:])[3][2]
    assert decode(["uint256"] * 3, user_data) == (0, 5 * 10**17, 0)
    quote = a.decode_quote(
        WithdrawAll(position), [pool_tokens(), ok(["uint256", "uint256[]"], [5 * 10**17, [499_000, 0, 0]])]
    )
    assert quote == [Expected(USDC, 499_000), Expected(POOL, -(5 * 10**17))]
    (exit_call,) = a.protected_calls(WithdrawAll(position), EXECUTOR, quote, 10)
    assert list(args(exit_call.data)[3][1]) == [min_delta(499_000, 10), 0, 0]


def test_refusals_before_anything_is_sent():
    a = adapter()
    with pytest.raises(ExactOutExitUnsupported):
        a.quote_reads(Withdraw(5), EXECUTOR)
    with pytest.raises(ExactOutExitUnsupported):
        a.protected_calls(Withdraw(5), EXECUTOR, [], 10)
    with pytest.raises(InvalidAmount):
        a.quote_reads(Deposit(0), EXECUTOR)
    with pytest.raises(InsufficientBalance, match="no BPT"):
        a.quote_reads(WithdrawAll(PositionReading(amount=0, shares=0)), EXECUTOR)
    assert not isinstance(a, RawWrites)  # a join is only built with a quoted minimumBPT
    with pytest.raises(AssetNotInPool):
        adapter(asset="0x4444444444444444444444444444444444444444")
    with pytest.raises(AssetNotInPool, match="BPT"):
        adapter(tokens=(USDC, DAI, "0x4444444444444444444444444444444444444444"))
    moved = pool_tokens((USDC, POOL, "0x4444444444444444444444444444444444444444"))
    with pytest.raises(PoolTokensChanged):
        a.decode_quote(Deposit(5), [moved, ok(["uint256", "uint256[]"], [1, [5, 0, 0]])])
    with pytest.raises(PoolTokensChanged, match="queryJoin takes"):
        a.decode_quote(Deposit(5), [pool_tokens(), ok(["uint256", "uint256[]"], [1, [4, 0, 0]])])


def test_balancer_reasons_decode_to_named_errors_and_the_market_config_validates():
    by_code = {r.code: r.error for spec, r in known_reverts() if spec.adapter == "balancer_v2"}
    assert by_code["BAL#208"] is BptOutBelowMinimum and by_code["BAL#505"] is ExitBelowMinimum
    spec = protocol("balancer_v2")
    assert spec.contracts == ("BalancerV2Vault", "BalancerComposableStablePool", "BalancerHelpers")
    market = BalancerV2MarketConfig.model_validate(
        {
            "protocol": "balancer-v2",
            "adapter": "balancer_v2",
            "market": "USDC-DAI",
            "asset": "USDC",
            "vault": VAULT,
            "pool": POOL,
            "pool_id": POOL_ID,
            "helpers": HELPERS,
            "tokens": [USDC, POOL, DAI],
        }
    )
    built = spec.adapter_for(KEY, Asset("USDC", USDC, 6), market)
    assert built.balancer_vault == VAULT and built.tokens == (USDC, POOL, DAI)
    with pytest.raises(ValueError):
        BalancerV2MarketConfig.model_validate({**market.model_dump(), "pool_id": "0x1234"})


def test_position_and_fair_value_use_the_rate_and_the_cheapest_coin():
    a = adapter()
    rate = 1_000_500_000_000_000_000  # 1.0005
    position = a.decode_position([ok(["uint256"], [2 * 10**21]), ok(["uint256"], [rate])])
    assert position == PositionReading(amount=2_001_000_000, shares=2 * 10**21)  # 2001 USDC
    usd = [
        Price(symbol="USDC", price=10**8, decimals=8, block_number=1),
        Price(symbol="DAI", price=99_900_000, decimals=8, block_number=1),
    ]
    # DAI at $0.999 (the cheapest): 2001 pool units x 0.999 / USDC's $1.
    assert fair_value(a, 2 * 10**21, rate, usd, usd[0]) == 1_998_999_000
    # Feeds of other decimals compare and convert alike.
    dai18 = Price(symbol="DAI", price=999 * 10**15, decimals=18, block_number=1)
    assert fair_value(a, 2 * 10**21, rate, [usd[0], dai18], usd[0]) == 1_998_999_000
    value = a.decode_valuation(
        2 * 10**21,
        [ok(["uint256"], [rate]), pool_tokens(), ok(["uint256", "uint256[]"], [2 * 10**21, [1_990_000_000, 0, 0]])],
        usd,
        usd[0],
    )
    assert (value.exit_value, value.fair_value, value.slippage) == (1_990_000_000, 1_998_999_000, 8_999_000)
    assert round(value.slippage_bps, 2) == 45.02


# ---------------------------------------------------------------------------- the Python stable math


def test_fixed_point_rounds_as_balancer_does():
    assert (bm.mul_down(3, 10**17), bm.mul_up(3, 10**17)) == (0, 1)
    assert (bm.div_down(1, 3), bm.div_up(1, 3)) == (333333333333333333, 333333333333333334)
    assert bm.complement(2 * 10**18) == 0 and bm.raw_div_up(0, 5) == 0 and bm.raw_div_up(6, 5) == 2


def test_stable_math_invariant_joins_and_exits_behave():
    amp = 200 * bm.AMP_PRECISION
    balanced = [10**24, 10**24]
    assert bm.calculate_invariant(amp, balanced) == 2 * 10**24  # balanced: the sum
    skewed = bm.calculate_invariant(amp, [15 * 10**23, 5 * 10**23])
    assert skewed < 2 * 10**24  # an unbalanced pool is worth less than its sum
    pool = bm.StablePool([10**12, 10**24], [10**30, 10**18], 2 * 10**24, amp, 4 * 10**14)
    assert pool.rate() == 10**18
    # A balanced join pays no fee: BPT in proportion, to the unit of rounding.
    assert pool.join([10**10, 10**22]) == 2 * 10**22
    # Single-sided, half of it is a swap: it pays the 0.04% fee on that half, and the price impact.
    single = pool.join([2 * 10**10, 0])
    assert 2 * 10**22 * (10_000 - 3) // 10_000 < single < 2 * 10**22 * (10_000 - 2) // 10_000
    # Proportional exit: exactly its share, rounded down; one-coin exit: less, more so the larger.
    assert pool.exit_all(2 * 10**22) == [10**10, 10**22]
    costs = []
    for bpt in (10**20, 10**22, 10**23, 5 * 10**23):
        paid = pool.exit_one(bpt, 0)
        costs.append((bpt // 10**12 - paid) * 10**9 // (bpt // 10**12))
    assert costs == sorted(costs) and costs[0] > 0
    with pytest.raises(AssertionError):
        bm.div_down(1, 0)


# ---------------------------------------------------------------------------- a withdrawal of an amount


def answers(a: BalancerV2Adapter, pool: bm.StablePool, reads) -> list[ReadResult]:
    """What the chain answers `quote_reads(Withdraw(...))` with on `pool`: the Vault's tokens,
    the rate, and each queryExit (EXACT_BPT_IN_FOR_ONE_TOKEN_OUT to USDC) by the stable math."""
    out = [pool_tokens(), ok(["uint256"], [pool.rate()])]
    for r in reads[2:]:
        assert r.target == HELPERS and r.data[:4] == selector(QUERY_EXIT)
        kind, bpt, index = decode(["uint256"] * 3, decode(["bytes32", "address", "address", TUPLE], r.data[4:])[3][2])
        assert (kind, index) == (EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, 0)
        out.append(ok(["uint256", "uint256[]"], [bpt, [pool.exit_one(bpt, 0), 0, 0]]))
    return out


def test_a_withdrawal_of_an_amount_burns_the_fewest_quoted_bpt_that_pay_it():
    """Exits are exact-BPT-in: the BPT at the pool's rate for the amount, and that plus each
    margin, are quoted in one batch; the fewest that pay the amount are burnt, so the exit pays
    the amount or a little more, and the Vault's bound is that quote less the tolerance."""
    a = adapter()
    pool = bm.StablePool([10**12, 10**24], [10**30, 10**18], 2 * 10**24, 200 * bm.AMP_PRECISION, 4 * 10**14)
    shares = 3 * 10**23  # 300,000 USDC at the rate (1.0)
    position = PositionReading(amount=a.at_rate(shares, pool.rate()), shares=shares)
    amount = 100_000 * 10**6
    action = Withdraw(amount, position)
    reads = a.quote_reads(action, EXECUTOR)
    probes = [decode(["uint256"] * 3, args("0x" + r.data.hex())[3][2])[1] for r in reads[2:]]
    assert probes == sorted(set(probes)) and probes[0] == 10**23 and max(probes) <= shares
    results = answers(a, pool, reads)
    paid, burnt = a.decode_quote(action, results)
    k = probes.index(-burnt.delta)
    assert paid.delta >= amount > pool.exit_one(probes[k - 1], 0)  # the fewest that pay it
    assert paid.delta - amount < amount * 2 // 10_000  # a margin's step more, at most
    s = a.slippage(action, results)
    assert (s.quoted, s.fair) == (paid.delta, a.at_rate(-burnt.delta, pool.rate())) and 0 < s.bps <= 5
    (exit_call,) = a.protected_calls(action, EXECUTOR, [paid, burnt], 10)
    _, _, _, (_, minimum, user_data, _) = args(exit_call.data)
    assert decode(["uint256"] * 3, user_data) == (EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, -burnt.delta, 0)
    assert list(minimum) == [min_delta(paid.delta, 10), 0, 0]

    # About the whole position: no probe above it pays the amount; it burns all and pays what that gives.
    whole = Withdraw(position.amount, position)
    reads = a.quote_reads(whole, EXECUTOR)
    paid, burnt = a.decode_quote(whole, answers(a, pool, reads))
    assert -burnt.delta == shares and paid.delta == pool.exit_one(shares, 0) < position.amount
    # A probe the pool cannot pay (it reverts) ends the search at the one before it.
    failing = [*answers(a, pool, a.quote_reads(action, EXECUTOR))[:3], ReadResult(False, b"")]
    assert a.decode_quote(action, failing)[1].delta == -probes[0]
    with pytest.raises(InsufficientBalance, match="no BPT"):
        a.quote_reads(Withdraw(5, PositionReading(amount=0, shares=0)), EXECUTOR)
