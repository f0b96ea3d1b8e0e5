"""Lido's adapter, pure: a deposit unwraps WETH and stakes it with the ETH carried, exits are
queue requests within the queue's bounds (chunked), pending requests decode from their three
rounds of reads, claims are chunked to the executor's calldata bound and wrapped back, and
stETH's rounding bounds the deposit guard."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode
from hypothesis import given
from hypothesis import strategies as st

from floor.adapters.base import RAY, Asset, Deposit, LiquidityReading, PositionReading, Withdraw, WithdrawAll
from floor.batching import MAX_CALL_DATA
from floor.calls import ReadResult, selector
from floor.chain.executor import decode_revert, named_revert
from floor.guards import Expected
from floor.models import AdapterKey
from floor.protocols.lido.adapter import (
    MAX_REQUEST,
    MIN_REQUEST,
    LidoAdapter,
    request_amounts,
    submit_rounding,
)
from floor.protocols.lido.errors import (
    RequestAmountTooSmall,
    StakeLimitExceeded,
    StakingPaused,
    WithdrawalsPaused,
)
from floor.protocols.lido.requests import (
    STATUS,
    Queue,
    WithdrawalRequest,
    claimable_reads,
    decode_claimable,
    decode_queue,
    decode_status,
    status_reads,
)

ETH = 10**18
WETH = Asset("WETH", "0x" + "aa" * 20, 18)
STETH, QUEUE, ME, OTHER = "0x" + "bb" * 20, "0x" + "cc" * 20, "0x" + "ee" * 20, "0x" + "11" * 20
lido = LidoAdapter(
    key=AdapterKey(chain_id=1, protocol="lido", market="stETH"), asset=WETH, steth=STETH, withdrawal_queue=QUEUE
)


def ok(*values, types=None):
    return ReadResult(True, encode(types or ["uint256"] * len(values), list(values)))


def args(c, types):
    return decode(types, bytes.fromhex(c.data[10:]))


# ---------------------------------------------------------------------------- request chunking


def test_a_2500_steth_exit_is_three_requests_of_1000_1000_and_500():
    assert request_amounts(2_500 * ETH) == [1_000 * ETH, 1_000 * ETH, 500 * ETH]
    approve, request, reset = lido.withdraw_calls(2_500 * ETH, ME)
    assert args(approve, ["address", "uint256"]) == (QUEUE, 2_500 * ETH) and approve.target == STETH
    assert request.target == QUEUE and request.data.startswith(
        "0x" + selector("requestWithdrawals(uint256[],address)").hex()
    )
    assert args(request, ["uint256[]", "address"]) == ((1_000 * ETH, 1_000 * ETH, 500 * ETH), ME)
    assert args(reset, ["address", "uint256"]) == (QUEUE, 0) and reset.target == STETH


def test_requests_stay_within_the_queues_bounds():
    assert request_amounts(MIN_REQUEST) == [MIN_REQUEST]
    assert request_amounts(MAX_REQUEST) == [MAX_REQUEST]
    # A remainder under the minimum takes what it lacks from the request before it.
    assert request_amounts(MAX_REQUEST + 50) == [MAX_REQUEST - 50, 100]
    with pytest.raises(RequestAmountTooSmall, match="99 wei of stETH is below the queue's minimum of 100 wei"):
        request_amounts(99)
    with pytest.raises(RequestAmountTooSmall):
        lido.withdraw_calls(99, ME)  # refused before anything is built, let alone sent


@given(st.integers(MIN_REQUEST, 50_000 * ETH))
def test_any_amount_splits_into_the_fewest_requests_within_bounds(amount):
    amounts = request_amounts(amount)
    assert sum(amounts) == amount
    assert all(MIN_REQUEST <= a <= MAX_REQUEST for a in amounts)
    assert len(amounts) == -(-amount // MAX_REQUEST)


def test_a_large_exit_spreads_its_requests_over_calls_within_the_calldata_bound():
    calls = lido.withdraw_calls(13_000 * ETH, ME)
    requests = [c for c in calls if c.target == QUEUE]
    assert [len(args(c, ["uint256[]", "address"])[0]) for c in requests] == [12, 1]
    assert all((len(c.data) - 2) // 2 <= MAX_CALL_DATA for c in calls)
    assert lido.withdraw_all_calls(PositionReading(amount=2_500 * ETH, shares=1), ME) == lido.withdraw_calls(
        2_500 * ETH, ME
    )


# ---------------------------------------------------------------------------- deposits


def test_a_deposit_unwraps_weth_and_submits_with_the_eth_carried():
    unwrap, submit = lido.deposit_calls(5 * ETH, ME)
    assert (unwrap.target, unwrap.value, args(unwrap, ["uint256"])) == (WETH.address, 0, (5 * ETH,))
    assert unwrap.data.startswith("0x" + selector("withdraw(uint256)").hex())
    assert (submit.target, submit.value) == (STETH, 5 * ETH)
    assert args(submit, ["address"]) == ("0x" + "00" * 20,)  # no referral


def test_the_executor_rules_allow_exactly_the_calls_lido_makes():
    rules = lido.permissions()
    calls = [
        *lido.deposit_calls(ETH, ME),
        *lido.withdraw_calls(2_500 * ETH, ME),
        *lido.claim_withdrawal_calls([1, 2], [1, 1], 3 * ETH, ME),
    ]
    assert all(rules.refusal(c, ME) is None for c in calls)
    unwrap, _submit = lido.deposit_calls(ETH, ME)
    assert "may not carry ETH" in rules.refusal(unwrap.model_copy(update={"value": 1}), ME)
    request = lido.withdraw_calls(ETH, OTHER)[1]  # requests owned by someone else
    assert "argument 1" in rules.refusal(request, ME)
    claim = lido.claim_withdrawal_calls([1], [1], ETH, ME)[0]
    assert rules.refusal(claim.model_copy(update={"value": 1}), ME).endswith("may not carry ETH")
    value_carrying = {p.signature for p in rules.rules if p.carries_value}
    assert value_carrying == {"submit(address)", "deposit()"}  # stETH's submit and WETH's wrap


def quote(amount, paused=False, limit=2**256 - 1, rate=RAY * 11 // 10):
    return lido.decode_quote(Deposit(amount), [ok(paused, types=["bool"]), ok(limit), ok(rate)])


def test_a_deposit_is_refused_by_name_while_staking_is_paused_or_above_the_stake_limit():
    assert [r.data[:4] for r in lido.quote_reads(Deposit(1), ME)] == [
        selector("isStakingPaused()"),
        selector("getCurrentStakeLimit()"),
        selector("getPooledEthByShares(uint256)"),
    ]
    with pytest.raises(StakingPaused, match="staking is paused"):
        quote(ETH, paused=True)
    with pytest.raises(StakeLimitExceeded, match=f"above Lido's current stake limit of {ETH - 1} wei"):
        quote(ETH, limit=ETH - 1)
    assert quote(ETH, limit=ETH) == [Expected(STETH, ETH - 2)]  # 1.1 ETH per share: ceil is 2


@given(
    pooled=st.integers(10**18, 10**30),
    growth=st.integers(0, 10**18),  # the share rate is 1 to 2 ETH
    held=st.integers(0, 10**27),
    amount=st.integers(1, 10**27),
)
def test_the_deposit_guard_bounds_stETHs_rounding(pooled, growth, held, amount):
    shares = pooled * 10**18 // (10**18 + growth)
    held = min(held, shares)
    rate = RAY * pooled // shares
    minted = amount * shares // pooled  # getSharesByPooledEth, rounded down
    before = held * pooled // shares
    after = (held + minted) * (pooled + amount) // (shares + minted)
    assert amount - submit_rounding(rate) <= after - before <= amount


def test_a_request_is_refused_while_the_queue_is_paused():
    assert [r.data[:4] for r in lido.quote_reads(Withdraw(ETH), ME)] == [selector("isPaused()")]
    with pytest.raises(WithdrawalsPaused):
        lido.decode_quote(Withdraw(ETH), [ok(True, types=["bool"])])
    assert lido.decode_quote(WithdrawAll(PositionReading(ETH)), [ok(False, types=["bool"])]) == []


# ---------------------------------------------------------------------------- reads


def test_position_is_the_steth_balance_with_its_shares_and_nothing_leaves_at_once():
    assert [r.data[:4] for r in lido.position_reads(ME)] == [
        selector("balanceOf(address)"),
        selector("sharesOf(address)"),
    ]
    assert lido.decode_position([ok(11 * ETH), ok(10 * ETH)]) == PositionReading(amount=11 * ETH, shares=10 * ETH)
    reading = lido.decode_liquidity([ok(11 * ETH), ok(10 * ETH)])
    assert reading == LiquidityReading(
        position=11 * ETH,
        market_available=0,
        withdrawable=0,
        reason="Lido exits only through its withdrawal queue (about 5 days)",
    )
    assert (lido.exit, lido.exit_wait_s, lido.yield_source) == ("queued", 5 * 24 * 3600, "rebase")


def test_the_growth_index_is_the_share_rate_per_1e27_shares():
    (rate_read,) = lido.rate_reads()
    assert rate_read.data == selector("getPooledEthByShares(uint256)") + encode(["uint256"], [RAY])
    assert lido.decode_rate([ok(RAY * 112 // 100)], 1_000).growth_index == RAY * 112 // 100


def test_pending_requests_decode_through_their_three_rounds():
    queue = decode_queue(lido, [ok([5, 2, 3], types=["uint256[]"]), ok(3), ok(1)])
    assert queue == Queue(ids=[2, 3, 5], last_finalized=3, last_checkpoint=1) and queue.finalized == [2, 3]
    reads = status_reads(lido, queue)
    assert reads[1].data == selector("findCheckpointHints(uint256[],uint256,uint256)") + encode(
        ["uint256[]", "uint256", "uint256"], [[2, 3], 1, 1]
    )
    statuses = [
        (ETH, ETH * 9 // 10, ME, 1, True, False),
        (2 * ETH, 2 * ETH * 9 // 10, ME, 2, True, False),
        (3 * ETH, 3 * ETH * 9 // 10, ME, 3, False, False),
    ]
    requests = decode_status(lido, queue, [ok(statuses, types=[STATUS]), ok([1, 1], types=["uint256[]"])])
    assert [(r.id, r.amount, r.finalized, r.hint) for r in requests] == [
        (2, ETH, True, 1),
        (3, 2 * ETH, True, 1),
        (5, 3 * ETH, False, 0),
    ]
    (claimable,) = claimable_reads(lido, requests)
    assert claimable.data == selector("getClaimableEther(uint256[],uint256[])") + encode(
        ["uint256[]", "uint256[]"], [[2, 3], [1, 1]]
    )
    done = decode_claimable(lido, requests, [ok([ETH, 2 * ETH - 1], types=["uint256[]"])])
    assert [r.claimable for r in done] == [ETH, 2 * ETH - 1, 0]
    # Nothing finalised: no hints to find, nothing to claim.
    waiting = Queue(ids=[7], last_finalized=3, last_checkpoint=1)
    assert len(status_reads(lido, waiting)) == 1
    assert claimable_reads(lido, [WithdrawalRequest(7, ETH, ETH, False, False)]) == []


def test_claims_are_chunked_to_the_calldata_bound_and_wrapped_back_to_weth():
    ids = list(range(1, 12))
    calls = lido.claim_withdrawal_calls(ids, [1] * 11, 11 * ETH, ME)
    claims, wrap = calls[:-1], calls[-1]
    assert [args(c, ["uint256[]", "uint256[]"])[0] for c in claims] == [(1, 2, 3, 4, 5), (6, 7, 8, 9, 10), (11,)]
    assert all((len(c.data) - 2) // 2 <= MAX_CALL_DATA for c in calls)
    assert (wrap.target, wrap.value, wrap.data) == (WETH.address, 11 * ETH, "0x" + selector("deposit()").hex())
    with pytest.raises(ValueError, match="2 requests to claim with 1 hints"):
        lido.claim_withdrawal_calls([1, 2], [1], ETH, ME)


def test_the_queues_errors_and_lidos_strings_decode_to_named_errors():
    too_small = selector("RequestAmountTooSmall(uint256)") + encode(["uint256"], [99])
    assert named_revert(too_small).error is RequestAmountTooSmall
    assert decode_revert(too_small).startswith("RequestAmountTooSmall(99): RequestAmountTooSmall, ")
    paused = selector("Error(string)") + encode(["string"], ["STAKING_PAUSED"])
    failed = selector("CallFailed(uint256,bytes)") + encode(["uint256", "bytes"], [1, paused])
    assert named_revert(failed).error is StakingPaused
    assert "(Lido error STAKING_PAUSED)" in decode_revert(failed)
    not_owner = selector("NotOwner(address,address)") + encode(["address", "address"], [OTHER, ME])
    assert named_revert(not_owner).name == "NotOwner"
