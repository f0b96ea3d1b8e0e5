"""Balancer V2 through the executor on the session's chain 1: a composable stable pool over USDC
and DAI (seeded by another participant), joined with USDC and exited both ways. The Vault's
own bounds (minimumBPT, minAmountsOut) come from BalancerHelpers' queryJoin/queryExit, which
match what joinPool/exitPool then do to the base unit; a bound that cannot be met reverts the
whole batch; no allowance outlives a batch; the Python stable math agrees with the contract; and
the position is valued both ways, its exit slippage growing with size."""

from __future__ import annotations

import pytest
from eth_abi import decode
from eth_utils import to_checksum_address

from activities.chain import ChainActivities
from activities.deps import Deps
from floor.adapters.base import Deposit, Withdraw, WithdrawAll
from floor.adapters.registry import AdapterRegistry
from floor.calls import call
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.positions import read_positions
from floor.errors import InvalidAmount
from floor.guards import min_delta
from floor.messages import BuildMovesInput
from floor.models import AdapterKey
from floor.planning.rebalance import Move
from floor.protocols.balancer_v2.adapter import (
    EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT,
    EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT,
    EXIT_POOL,
    JOIN_POOL,
    join_user_data,
)
from floor.protocols.balancer_v2.errors import ExactOutExitUnsupported
from floor.protocols.balancer_v2.valuation import read_position_value
from tests.balancer_math import StablePool
from tests.integration.helpers import balance, contract, mint, positions_now, protected_calls

USDC = 10**6
BALANCER = AdapterKey(chain_id=1, protocol="balancer-v2", market="USDC-DAI stable")


@pytest.fixture
def chain1(stack, settings, web3s, signer):
    chain = settings.chain(1)
    w3 = web3s[1]
    adapter = AdapterRegistry.from_settings(settings).get(BALANCER)
    return {
        "w3": w3,
        "client": ExecutorClient(w3, 1, chain.executor, signer),
        "reader": MulticallReader(w3),
        "executor": chain.executor,
        "chain": chain,
        "adapter": adapter,
        "pool": contract(w3, "BalancerComposableStablePool", adapter.pool),
        "vault": contract(w3, "BalancerV2Vault", adapter.balancer_vault),
        "dai": next(t for t in adapter.coins if t != adapter.asset.address),
    }


def bpt_of(c, holder) -> int:
    return c["pool"].functions.balanceOf(holder).call()


def allowance(c) -> int:
    return (
        contract(c["w3"], "TestERC20", c["adapter"].asset.address)
        .functions.allowance(c["executor"], c["adapter"].balancer_vault)
        .call()
    )


def pool_model(c) -> StablePool:
    """The pool's state now, for the Python stable math."""
    adapter, pool = c["adapter"], c["pool"]
    _, balances, _ = c["vault"].functions.getPoolTokens(bytes.fromhex(adapter.pool_id[2:])).call()
    scaling = pool.functions.getScalingFactors().call()
    amp, _, _ = pool.functions.getAmplificationParameter().call()
    keep = [i for i in range(len(balances)) if i != adapter.bpt_index]
    return StablePool(
        [balances[i] for i in keep],
        [scaling[i] for i in keep],
        pool.functions.getActualSupply().call(),
        amp,
        pool.functions.getSwapFeePercentage().call(),
    )


def join(c, amount: int, slippage_bps: int = 5) -> int:
    """Mint `amount` of USDC to the executor and join with it; the BPT minted."""
    mint(c["w3"], c["adapter"].asset.address, c["executor"], amount)
    before = bpt_of(c, c["executor"])
    c["client"].execute(protected_calls(c["w3"], c["adapter"], Deposit(amount), c["executor"], slippage_bps))
    return bpt_of(c, c["executor"]) - before


def exit_quote(c, kind: int, bpt_in: int):
    adapter = c["adapter"]
    return adapter.decode_exit_quote(
        kind, c["reader"].read(adapter.exit_quote_reads(kind, bpt_in, c["executor"])).results
    )


def test_a_join_mints_exactly_what_query_join_quoted_with_its_min_bpt_in_the_user_data(chain1):
    c, adapter, executor = chain1, chain1["adapter"], chain1["executor"]
    amount = 25_000 * USDC
    mint(c["w3"], adapter.asset.address, executor, amount)
    quote = adapter.decode_quote(
        Deposit(amount), c["reader"].read(adapter.quote_reads(Deposit(amount), executor)).results
    )
    quoted_bpt = next(e.delta for e in quote if e.token == adapter.pool)
    model = pool_model(c)
    amounts = [0, 0]
    amounts[adapter.user_index(adapter.asset_index)] = amount
    assert quoted_bpt == model.join(amounts) > 0  # the Python math, to the unit

    calls = adapter.protected_calls(Deposit(amount), executor, quote, 5)
    approve, joining, reset = calls
    assert (approve.target, reset.target, joining.target) == (
        adapter.asset.address,
        adapter.asset.address,
        adapter.balancer_vault,
    )
    _pool_id, sender, recipient, request = decode(
        ["bytes32", "address", "address", "(address[],uint256[],bytes,bool)"], bytes.fromhex(joining.data[10:])
    )
    assets, max_in, user_data, internal = request
    assert (to_checksum_address(sender), to_checksum_address(recipient), internal) == (executor, executor, False)
    assert [to_checksum_address(a) for a in assets] == list(adapter.tokens) and max_in[adapter.bpt_index] == 0
    kind, amounts_in, minimum_bpt = decode(["uint256", "uint256[]", "uint256"], user_data)
    assert (kind, list(amounts_in), minimum_bpt) == (1, amounts, min_delta(quoted_bpt, 5))

    c["client"].execute(calls)
    assert bpt_of(c, executor) == quoted_bpt
    assert balance(c["w3"], adapter.asset.address, executor) == 0 and allowance(c) == 0


def test_one_coin_exit_pays_to_the_unit_what_query_exit_quoted(chain1):
    c, adapter, executor = chain1, chain1["adapter"], chain1["executor"]
    bpt = join(c, 40_000 * USDC)
    # A part, then all that is left (WithdrawAll through protected_calls).
    part = bpt // 3
    quote = exit_quote(c, EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, part)
    assert quote.bpt_in == part and quote.amounts_out[adapter.bpt_index] == 0
    expected = quote.amounts_out[adapter.asset_index]
    assert expected == pool_model(c).exit_one(part, adapter.user_index(adapter.asset_index))
    c["client"].execute(
        adapter.exit_calls(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, part, adapter.exit_bound(quote, 5), executor)
    )
    assert balance(c["w3"], adapter.asset.address, executor) == expected
    assert balance(c["w3"], c["dai"], executor) == 0 and bpt_of(c, executor) == bpt - part

    (position,) = read_positions(c["reader"], [adapter], executor)
    assert position.shares == bpt - part
    calls = protected_calls(c["w3"], adapter, WithdrawAll(position), executor, 5)
    last = adapter.decode_quote(
        WithdrawAll(position), c["reader"].read(adapter.quote_reads(WithdrawAll(position), executor)).results
    )
    c["client"].execute(calls)
    assert bpt_of(c, executor) == 0
    assert balance(c["w3"], adapter.asset.address, executor) == expected + last[0].delta
    assert 40_000 * USDC * 9_990 // 10_000 < expected + last[0].delta < 40_000 * USDC  # swap fee and slippage
    assert allowance(c) == 0


def test_balanced_exit_pays_every_coin_in_proportion_as_quoted(chain1):
    c, adapter, executor = chain1, chain1["adapter"], chain1["executor"]
    bpt = join(c, 10_000 * USDC)
    quote = exit_quote(c, EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT, bpt)
    model = pool_model(c)
    expected = quote.amounts_out
    coins = [expected[i] for i in range(len(expected)) if i != adapter.bpt_index]
    assert coins == model.exit_all(bpt) and all(a > 0 for a in coins)
    c["client"].execute(
        adapter.exit_calls(EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT, bpt, adapter.exit_bound(quote, 1), executor)
    )
    assert bpt_of(c, executor) == 0
    for token, amount in zip(adapter.tokens, expected, strict=True):
        if token != adapter.pool:
            assert balance(c["w3"], token, executor) == amount  # the DAI stays with the executor


def test_a_bound_that_cannot_be_met_reverts_the_whole_batch_and_nothing_is_lost(chain1):
    c, adapter, executor = chain1, chain1["adapter"], chain1["executor"]
    amount = 5_000 * USDC
    mint(c["w3"], adapter.asset.address, executor, amount)
    quote = adapter.decode_quote(
        Deposit(amount), c["reader"].read(adapter.quote_reads(Deposit(amount), executor)).results
    )
    quoted_bpt = quote[0].delta
    with pytest.raises(ExecutionReverted, match="BAL#208"):
        c["client"].execute(adapter.join_calls(amount, quoted_bpt + 1, executor))
    assert balance(c["w3"], adapter.asset.address, executor) == amount and bpt_of(c, executor) == 0
    assert allowance(c) == 0  # the approve was undone with the batch
    c["client"].execute(adapter.join_calls(amount, quoted_bpt, executor))  # exactly the quote: met
    assert bpt_of(c, executor) == quoted_bpt

    for kind in (EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT):
        q = exit_quote(c, kind, quoted_bpt)
        bound = [a + 1 if a else 0 for a in q.amounts_out]
        with pytest.raises(ExecutionReverted, match="BAL#505"):
            c["client"].execute(adapter.exit_calls(kind, quoted_bpt, bound, executor))
        assert bpt_of(c, executor) == quoted_bpt and balance(c["w3"], adapter.asset.address, executor) == 0
    with pytest.raises(ExecutionReverted, match="BAL#434"):  # more BPT than held
        c["client"].execute(
            adapter.exit_calls(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, quoted_bpt + 1, [0, 0, 0], executor)
        )


def test_the_executor_allows_joins_and_exits_only_for_itself(chain1):
    c, adapter, executor = chain1, chain1["adapter"], chain1["executor"]
    rules = contract(c["w3"], "FloorExecutor", executor)
    for permission in adapter.permissions().rules:
        assert rules.functions.ruleOf(*permission.pair).call() == permission.as_rule()
    bpt = join(c, 1_000 * USDC)
    outsider = c["w3"].eth.accounts[5]
    pool_id = bytes.fromhex(adapter.pool_id[2:])
    request = adapter.exit_request(EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT, bpt, [0, 0, 0])
    for sender, recipient in ((executor, outsider), (outsider, executor)):
        with pytest.raises(ExecutionReverted, match="ArgumentNotAllowed"):
            c["client"].execute([call(adapter.balancer_vault, EXIT_POOL, pool_id, sender, recipient, request)])
    join_request = adapter.join_request(1, 0)
    with pytest.raises(ExecutionReverted, match="ArgumentNotAllowed"):
        c["client"].execute([call(adapter.balancer_vault, JOIN_POOL, pool_id, executor, outsider, join_request)])
    assert bpt_of(c, executor) == bpt and bpt_of(c, outsider) == 0
    with pytest.raises(ExactOutExitUnsupported):
        adapter.quote_reads(Withdraw(1 * USDC), executor)


def test_the_position_is_valued_both_ways_and_its_exit_slippage_grows_with_size(chain1):
    c, adapter, executor = chain1, chain1["adapter"], chain1["executor"]
    bpt = join(c, 600_000 * USDC, slippage_bps=50)
    (position,) = read_positions(c["reader"], [adapter], executor)
    rate = c["pool"].functions.getRate().call()
    assert (position.shares, position.amount) == (bpt, bpt * rate // 10**18 // 10**12)
    assert rate == pool_model(c).rate() > 10**18  # the swap fee of the single-sided join stays in the pool

    # Single-sided, the join left the pool heavy in USDC: an exit to USDC rebalances it and pays
    # more than the fair value (a negative slippage), as the stable math says.
    value = read_position_value(c["reader"], adapter, c["chain"], executor)
    assert value.bpt == bpt and value.rate == rate
    assert value.fair_value == bpt * rate // 10**18 // 10**12  # both coins at $1 on the stack's feeds
    assert value.exit_value == exit_quote(c, EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, bpt).amounts_out[adapter.asset_index]
    assert value.slippage < 0

    # Another participant brings the pool back into balance with DAI; now exiting to one coin
    # costs, and costs more per unit the larger the exit.
    participant_join(c, 600_000 * 10**18)
    rate = c["pool"].functions.getRate().call()
    value = read_position_value(c["reader"], adapter, c["chain"], executor)
    assert value.fair_value == bpt * rate // 10**18 // 10**12
    assert value.slippage > 0 and value.slippage_bps < 100
    slippages = []
    for fraction in (1_000, 100, 10, 2, 1):
        part = bpt // fraction
        paid = exit_quote(c, EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, part).amounts_out[adapter.asset_index]
        fair = part * rate // 10**18 // 10**12
        slippages.append((fair - paid) * 10**9 // fair)  # per 1e9 of the fair value
    assert slippages == sorted(slippages) and slippages[0] < slippages[-1] // 2
    assert value.slippage * 10**9 // value.fair_value == slippages[-1]


def participant_join(c, dai: int) -> None:
    """Another market participant joins with DAI alone, straight through the Vault."""
    adapter, w3, vault = c["adapter"], c["w3"], c["vault"]
    participant = w3.eth.accounts[2]
    token = contract(w3, "TestERC20", c["dai"])
    mint(w3, c["dai"], participant, dai)
    w3.eth.wait_for_transaction_receipt(
        token.functions.approve(adapter.balancer_vault, dai).transact({"from": participant})
    )
    amounts = [0] * (len(adapter.tokens) - 1)
    registered = adapter.tokens.index(c["dai"])
    amounts[adapter.user_index(registered)] = dai
    limits = [dai if i == registered else 0 for i in range(len(adapter.tokens))]
    request = (list(adapter.tokens), limits, join_user_data(amounts, 0), False)
    tx = vault.functions.joinPool(bytes.fromhex(adapter.pool_id[2:]), participant, participant, request)
    assert w3.eth.wait_for_transaction_receipt(tx.transact({"from": participant}))["status"] == 1


def test_the_python_stable_math_matches_the_pools_quotes_at_every_size(chain1):
    """queryJoin and queryExit against tests/balancer_math.py on the seeded pool, from one unit
    of USDC to most of the pool, both coins, both exits."""
    c, adapter, executor = chain1, chain1["adapter"], chain1["executor"]
    model = pool_model(c)
    supply = model.supply
    for amount in (1, 999, 1_000 * USDC, 250_000 * USDC, 900_000 * USDC):
        quote = adapter.decode_quote(
            Deposit(amount), c["reader"].read(adapter.quote_reads(Deposit(amount), executor)).results
        )
        amounts = [0, 0]
        amounts[adapter.user_index(adapter.asset_index)] = amount
        assert quote[0].delta == model.join(amounts), amount
    dai_index = adapter.user_index(adapter.tokens.index(c["dai"]))
    for bpt in (10**12, 10**18, supply // 1_000, supply // 3, supply * 9 // 10):
        one = exit_quote(c, EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, bpt)
        assert one.amounts_out[adapter.asset_index] == model.exit_one(bpt, adapter.user_index(adapter.asset_index))
        everything = exit_quote(c, EXIT_EXACT_BPT_IN_FOR_ALL_TOKENS_OUT, bpt)
        coins = [a for i, a in enumerate(everything.amounts_out) if i != adapter.bpt_index]
        assert coins == model.exit_all(bpt)
        # The DAI side of a one-coin exit too (18 decimals: no downscaling loss).
        assert model.exit_one(bpt, dai_index) > 0
    assert c["pool"].functions.getRate().call() == model.rate()


def test_a_tiny_one_coin_exit_reverts_bal_001_as_the_real_pool_does_and_is_named(chain1):
    """StableMath's `balances[i].sub(newBalance)` (FixedPoint.sub, BAL#001) where a tiny BPT
    amount rounds the new invariant back up to the old one: the quote says so by name."""
    c = chain1
    adapter = c["adapter"]
    reads = adapter.exit_quote_reads(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, 1, c["executor"])
    results = c["reader"].read(reads).results
    assert not results[1].success
    assert decode(["string"], results[1].data[4:])[0] == "BAL#001"
    with pytest.raises(InvalidAmount, match=r"queryExit: reverted BAL#001: InvalidAmount, the pool's math"):
        adapter.decode_exit_quote(EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, results)


def test_a_withdrawal_of_an_amount_burns_bpt_and_the_deposit_it_funds_takes_what_the_exit_pays(
    chain1, settings, web3s, signer
):
    """Exits are exact-BPT-in, so a planned withdrawal of an amount (a rebalance's, an
    allocation's) burns the fewest quoted BPT that pay it, and the deposit it funds goes in the
    same batch. An exit of about the whole position that pays less than planned (the pool now
    heavy in DAI) burns it all, and the deposit takes what the exit pays."""
    c, adapter, executor = chain1, chain1["adapter"], chain1["executor"]
    bpt = join(c, 40_000 * USDC)
    participant_join(c, 100_000 * 10**18)  # now an exit to USDC costs
    aave = AdapterKey(chain_id=1, protocol="aave-v3", market="USDC")
    activities = ChainActivities(Deps(settings, signer, web3s))

    def move(amount: int) -> list:
        moves = [
            Move(key=BALANCER, asset="USDC", action="withdraw", amount=amount),
            Move(key=aave, asset="USDC", action="deposit", amount=amount),
        ]
        groups = activities.build_moves(BuildMovesInput(chain_id=1, asset="USDC", moves=moves))
        c["client"].execute([step for group in groups for step in group])
        return positions_now(settings, web3s, [BALANCER, aave])

    before = positions_now(settings, web3s, [aave])[aave].amount
    after = move(10_000 * USDC)
    paid = balance(c["w3"], adapter.asset.address, executor) + 10_000 * USDC  # the rest stays idle
    assert 10_000 * USDC <= paid < 10_000 * USDC * 10_002 // 10_000  # the amount, or a margin's step more
    burnt = bpt - after[BALANCER].shares
    assert (
        exit_quote(c, EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, burnt * 9_999 // 10_000).amounts_out[adapter.asset_index]
        < 10_000 * USDC
    )  # a step fewer BPT would not have paid it
    assert after[aave].amount - before >= 10_000 * USDC - 1

    rest = after[BALANCER]
    pays = exit_quote(c, EXIT_EXACT_BPT_IN_FOR_ONE_TOKEN_OUT, rest.shares).amounts_out[adapter.asset_index]
    assert pays < rest.amount - 1  # all of it pays less than the planned amount
    last = move(rest.amount - 1)
    assert last[BALANCER].shares == 0 and balance(c["w3"], adapter.asset.address, executor) == 0
    # Exact but for Aave's interest on the position between the two reads (bounded at 100% APR).
    w3 = c["w3"]
    elapsed = (
        w3.eth.get_block(last[aave].block_number)["timestamp"] - w3.eth.get_block(after[aave].block_number)["timestamp"]
    )
    accrual = after[aave].amount * max(elapsed, 1) // 31_536_000
    assert abs(last[aave].amount - after[aave].amount - (pays + paid - 10_000 * USDC)) <= 2 + accrual
