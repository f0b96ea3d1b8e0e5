"""Instant exits of staked ETH through Curve pools, through the executor, on a chain of this
module's own: stETH sold in Curve's ETH/stETH pool instead of waiting in Lido's queue, rETH sold
in an ETH/rETH pool where a burn is beyond rETH's collateral.

Each exit is quoted first (`get_dy` with the fair value in one Multicall3 batch), the batch
carries the pool's min_dy and wraps what it is sure to have been paid, the rest is wrapped
from the swap's TokenExchange event, and no allowance outlives a batch. A pool moved by
another participant past the min_dy reverts the whole batch and nothing moves. The pools'
quotes are Curve's invariant to the wei (a Python port of each pool's `get_dy` here, checked
against `tests/curve_math.py`), and an exit slips more the larger it is.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import to_checksum_address

from floor.adapters.base import Asset, Deposit, Withdraw
from floor.calls import call
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient, encode_execute
from floor.chain.multicall import MulticallReader
from floor.chain.rpc import connect
from floor.chain.signer import LocalKeySigner
from floor.devnet.context import DeployContext, Deployer
from floor.devnet.deploy import WETH_BACKING_WEI, configure_executor, deploy_executor, install_multicall3
from floor.devnet.stack import fund_signer, new_operator_key
from floor.errors import SlippageTooHigh
from floor.models import AdapterKey
from floor.permissions import PermissionSet
from floor.protocols.lido import PROTOCOL as LIDO
from floor.protocols.lido import LidoMarketConfig
from floor.protocols.lido.deploy import deploy_markets as deploy_lido
from floor.protocols.lido.instant_exit import (
    EXCHANGE,
    InstantExitQuote,
    instant_withdrawable,
    ladder_sizes,
    min_out,
    paid_by_exchange,
)
from floor.protocols.rocket_pool import PROTOCOL as ROCKET
from floor.protocols.rocket_pool import RocketPoolMarketConfig
from floor.protocols.rocket_pool.deploy import deploy_markets as deploy_rocket
from floor.protocols.rocket_pool.errors import InsufficientCollateral
from tests import curve_math
from tests.integration.helpers import contract, own_anvil, reverting

ETH = 10**18
FEE_DENOMINATOR = 10**10
A_PRECISION = 100


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[dict]:
    with own_anvil(tmp_path_factory, 1, "instant-exits") as url:
        w3 = connect([url])
        d = Deployer(w3)
        install_multicall3(w3)
        weth = d.deploy("TestWETH", "Wrapped Ether", "WETH", 18)
        w3.provider.make_request("anvil_setBalance", [weth.address, hex(WETH_BACKING_WEI)])
        context = DeployContext(chain_id=1, deployer=d, tokens={"WETH": weth})
        (lido_market,) = deploy_lido(context)
        (rocket_market,) = deploy_rocket(context)
        asset = Asset("WETH", weth.address, 18)
        lido = LIDO.adapter_for(
            AdapterKey(chain_id=1, protocol="lido", market="stETH"),
            asset,
            LidoMarketConfig.model_validate(lido_market),
        )
        rocket = ROCKET.adapter_for(
            AdapterKey(chain_id=1, protocol="rocket-pool", market="rETH"),
            asset,
            RocketPoolMarketConfig.model_validate(rocket_market),
        )
        signer = LocalKeySigner.from_private_key(new_operator_key())
        fund_signer(w3, signer.address)
        executor = deploy_executor(w3, signer.address)
        configure_executor(w3, executor, PermissionSet.union([lido.permissions(), rocket.permissions()]))
        yield {
            "w3": w3,
            "d": d,
            "weth": weth,
            "executor": executor,
            "client": ExecutorClient(w3, 1, executor, signer),
            "signer": signer,
            "reader": MulticallReader(w3),
            "lido": lido,
            "rocket": rocket,
        }


@pytest.fixture(autouse=True)
def _isolated(env) -> Iterator[None]:
    yield from reverting(env["w3"])


def steth_pool(env):
    return contract(env["w3"], "CurveStableSwapSTETH", env["lido"].instant_exit_pool)


def reth_pool(env):
    return contract(env["w3"], "CurveStableSwapRETH", env["rocket"].instant_exit_pool)


def weth_of(env, who: str) -> int:
    return env["weth"].functions.balanceOf(who).call()


def eth_of(env, who: str) -> int:
    return env["w3"].eth.get_balance(who)


def stake(env, adapter, amount: int) -> None:
    """The executor stakes `amount` of WETH in `adapter`'s protocol (its deposit, quoted and guarded)."""
    env["d"].send(env["weth"].functions.mint(env["executor"], amount))
    action = Deposit(amount)
    quote = adapter.decode_quote(action, env["reader"].read(adapter.quote_reads(action, env["executor"])).results)
    env["client"].execute(adapter.protected_calls(action, env["executor"], quote, 1))


def quote_exit(env, adapter, amount: int, slippage_bps: int, **kwargs) -> InstantExitQuote:
    reads = adapter.instant_exit_quote_reads(amount, env["executor"])
    return adapter.decode_instant_exit_quote(amount, env["reader"].read(reads).results, slippage_bps, **kwargs)


def paid_in(env, record, pool: str) -> int:
    logs = env["w3"].eth.get_transaction_receipt(record.tx_hash)["logs"]
    return paid_by_exchange(logs, pool, env["executor"])


def participant_sells(env, pool, token, amount: int) -> None:
    """Another participant sells `amount` of coin 1 into the pool (it moves against us)."""
    d = env["d"]
    d.send(token.functions.approve(pool.address, amount), d.participant)
    d.send(pool.functions.exchange(1, 0, amount, 0), d.participant)


# ------------------------------------------------------------ the pools' math, in Python


def _solve_y(xp: list[int], x: int, d: int, amp: int) -> int:
    """StableSwapSTETH/RETH `get_y(1, 0, x, xp)` (two coins, A * A_PRECISION)."""
    n, ann = 2, amp * 2
    c = d * d // (x * n)
    c = c * d * A_PRECISION // (ann * n)
    b = x + d * A_PRECISION // ann
    y = d
    for _ in range(255):
        prev = y
        y = (y * y + c) // (2 * y + b - d)
        if abs(y - prev) <= 1:
            return y
    raise ArithmeticError("y did not converge")


def _get_d(xp: list[int], amp: int, plus_one: bool) -> int:
    """`get_D`: StableSwapSTETH divides by x * N + 1, StableSwapRETH by x * N."""
    n, s = 2, sum(xp)
    d, ann = s, amp * 2
    for _ in range(255):
        d_p = d
        for x in xp:
            d_p = d_p * d // (x * n + (1 if plus_one else 0))
        prev = d
        d = (ann * s // A_PRECISION + d_p * n) * d // ((ann - A_PRECISION) * d // A_PRECISION + (n + 1) * d_p)
        if abs(d - prev) <= 1:
            return d
    raise ArithmeticError("D did not converge")


def steth_get_dy(balances: list[int], amp: int, fee: int, dx: int) -> int:
    """StableSwapSTETH.get_dy(1, 0, dx): stETH in, ETH out."""
    d = _get_d(balances, amp, plus_one=True)
    y = _solve_y(balances, balances[1] + dx, d, amp)
    dy = balances[0] - y - 1
    return dy - fee * dy // FEE_DENOMINATOR


def reth_get_dy(balances: list[int], rate: int, amp: int, fee: int, dx: int) -> int:
    """StableSwapRETH.get_dy(1, 0, dx): rETH in at `rate`, ETH out (no `- 1`, as the original)."""
    xp = [balances[0], rate * balances[1] // ETH]
    d = _get_d(xp, amp, plus_one=False)
    y = _solve_y(xp, xp[1] + dx * rate // ETH, d, amp)
    dy = xp[0] - y
    return (dy - fee * dy // FEE_DENOMINATOR) * ETH // ETH


def steth_state(env) -> tuple[list[int], int, int]:
    pool = steth_pool(env)
    return (
        [pool.functions.balances(i).call() for i in range(2)],
        pool.functions.A_precise().call(),
        pool.functions.fee().call(),
    )


def reth_state(env) -> tuple[list[int], int, int, int]:
    pool, reth = reth_pool(env), contract(env["w3"], "RocketTokenRETH", env["rocket"].reth)
    balances = [pool.functions.balances(i).call() for i in range(2)]
    return (
        balances,
        reth.functions.getExchangeRate().call(),
        pool.functions.A_precise().call(),
        pool.functions.fee().call(),
    )


def curve_math_dy(xp: list[int], amp_precise: int, fee: int, dx_xp: int) -> int:
    """tests/curve_math.py's two-coin get_dy(1, 0) in A_PRECISION form (its NG branch with a flat fee)."""
    pool = curve_math.Pool(tuple(xp), (18, 18), amp_precise // A_PRECISION, fee, 1, ng=True)
    return curve_math.get_dy(pool, 1, 0, dx_xp)


# ------------------------------------------------------------------------------- stETH


def test_a_steth_instant_exit_is_quoted_sent_with_its_min_dy_and_wrapped_to_the_quote(env):
    w3, client, executor, lido = env["w3"], env["client"], env["executor"], env["lido"]
    steth = contract(w3, "LidoStETH", lido.steth)
    pool = steth_pool(env)
    assert pool.functions.coins(0).call() == to_checksum_address("0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE")
    stake(env, lido, 50 * ETH)
    held = steth.functions.balanceOf(executor).call()
    amount = 40 * ETH
    balances, amp, fee = steth_state(env)
    weth_before, eth_before = weth_of(env, executor), eth_of(env, executor)

    quote = quote_exit(env, lido, amount, slippage_bps=30)

    # The pool's quote is the invariant's, to the wei; stETH at a small discount to ETH.
    assert quote.quoted == steth_get_dy(balances, amp, fee, amount)
    assert quote.quoted == pool.functions.get_dy(1, 0, amount).call()
    assert quote.fair == amount  # 1:1 by Lido's accounting
    assert 0 < quote.discount_bps < 50
    assert quote.min_out == quote.quoted * (10_000 - 30) // 10_000 == min_out(quote.quoted, 30)

    calls = lido.instant_exit_calls(quote, executor)
    exchange = next(c for c in calls if c.target == pool.address)
    assert exchange.data == call(pool.address, EXCHANGE, 1, 0, amount, quote.min_out).data and exchange.value == 0
    wrap = next(c for c in calls if c.target == lido.asset.address)
    assert wrap.value == quote.min_out and [c for c in calls if c.value] == [wrap]
    record = client.execute(calls)

    paid = paid_in(env, record, pool.address)
    assert paid == quote.quoted  # the pool did not move: get_dy and exchange share their arithmetic
    assert weth_of(env, executor) - weth_before == quote.min_out
    assert eth_of(env, executor) - eth_before == quote.rest == paid - quote.min_out > 0
    # stETH's transfer moves getSharesByPooledEth(amount) shares, rounded down: 1-2 wei either way.
    assert abs(held - steth.functions.balanceOf(executor).call() - amount) <= 2
    assert steth.functions.allowance(executor, pool.address).call() == 0

    client.execute(lido.instant_exit.wrap_rest_calls(quote, paid))
    assert weth_of(env, executor) - weth_before == quote.quoted
    assert eth_of(env, executor) == eth_before


def test_a_pool_moved_within_the_slippage_pays_less_and_the_executor_wraps_what_arrived(env):
    w3, client, executor, lido = env["w3"], env["client"], env["executor"], env["lido"]
    steth = contract(w3, "LidoStETH", lido.steth)
    pool = steth_pool(env)
    stake(env, lido, 30 * ETH)
    quote = quote_exit(env, lido, 20 * ETH, slippage_bps=50)
    calls = lido.instant_exit_calls(quote, executor)

    participant_sells(env, pool, steth, 5 * ETH)  # between quote and send
    now = pool.functions.get_dy(1, 0, 20 * ETH).call()
    assert quote.min_out < now < quote.quoted
    weth_before = weth_of(env, executor)
    record = client.execute(calls)

    paid = paid_in(env, record, pool.address)
    assert paid == now  # what the pool pays at send time, not the stale quote
    assert weth_of(env, executor) - weth_before == quote.min_out
    assert eth_of(env, executor) == paid - quote.min_out
    client.execute(lido.instant_exit.wrap_rest_calls(quote, paid))
    assert weth_of(env, executor) - weth_before == paid and eth_of(env, executor) == 0
    assert steth.functions.allowance(executor, pool.address).call() == 0


def test_a_min_dy_the_moved_pool_cannot_meet_reverts_the_whole_batch_and_nothing_moves(env):
    w3, client, executor, lido = env["w3"], env["client"], env["executor"], env["lido"]
    steth = contract(w3, "LidoStETH", lido.steth)
    pool = steth_pool(env)
    stake(env, lido, 30 * ETH)
    quote = quote_exit(env, lido, 20 * ETH, slippage_bps=10)
    calls = lido.instant_exit_calls(quote, executor)

    participant_sells(env, pool, steth, 100 * ETH)  # the pool moves past 10 bps
    assert pool.functions.get_dy(1, 0, 20 * ETH).call() < quote.min_out
    before = (steth.functions.balanceOf(executor).call(), weth_of(env, executor), eth_of(env, executor))
    nonce = w3.eth.get_transaction_count(env["signer"].address)

    # Refused at the estimate with Curve's own reason, named; nothing signed or sent.
    with pytest.raises(ExecutionReverted, match="Exchange resulted in fewer coins than expected") as caught:
        client.execute(calls)
    assert caught.value.error == "SlippageExceeded"
    assert w3.eth.get_transaction_count(env["signer"].address) == nonce

    # Forced on chain anyway: the transaction reverts and the approval, swap and wrap all unwind.
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    tx = {
        "type": 2,
        "chainId": 1,
        "from": env["signer"].address,
        "to": executor,
        "data": "0x" + encode_execute(calls).hex(),
        "value": 0,
        "nonce": nonce,
        "gas": 1_000_000,
        "maxPriorityFeePerGas": 1,
        "maxFeePerGas": 2 * base_fee + 1,
    }
    signed = env["signer"].sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw), timeout=30)
    assert receipt["status"] == 0
    after = (steth.functions.balanceOf(executor).call(), weth_of(env, executor), eth_of(env, executor))
    assert after == before
    assert steth.functions.allowance(executor, pool.address).call() == 0


def test_an_exits_slippage_grows_with_its_size_as_the_invariant_says(env):
    lido, reader = env["lido"], env["reader"]
    exit_ = lido.instant_exit
    balances, amp, fee = steth_state(env)
    sizes = [1 * ETH, 10 * ETH, 50 * ETH, 100 * ETH, 200 * ETH]
    quotes = []
    for size in sizes:
        reads = exit_.ladder_reads(size)  # any reads; here get_dy(size) is the ladder's last rung
        quotes.append(exit_.decode_ladder(size, reader.read(reads).results)[-1])
    assert [q.amount for q in quotes] == sizes
    for q in quotes:
        assert q.quoted == steth_get_dy(balances, amp, fee, q.amount)
        # tests/curve_math.py's invariant agrees to a few wei (its D rounds without the +1).
        assert abs(q.quoted - curve_math_dy(balances, amp, fee, q.amount)) <= 10
    discounts = [q.discount_bps for q in quotes]
    assert discounts == sorted(discounts) and discounts[0] < discounts[-1]
    assert discounts[0] <= 30 and discounts[-1] > 100  # a small exit near the pool's price, a big one far under

    # What the pool pays now within a discount limit: the largest rung of the position's ladder.
    position = 200 * ETH
    ladder = exit_.decode_ladder(position, reader.read(exit_.ladder_reads(position)).results)
    assert [q.amount for q in ladder] == ladder_sizes(position) == [25 * ETH, 50 * ETH, 100 * ETH, 200 * ETH]
    best = instant_withdrawable(ladder, 50)
    assert best is not None and best.discount_bps <= 50 < next(q for q in ladder if q.amount > best.amount).discount_bps
    assert instant_withdrawable(ladder, 0) is None


def test_an_exit_deeper_than_the_discount_limit_is_refused_before_sending(env):
    lido = env["lido"]
    stake(env, lido, 300 * ETH)
    with pytest.raises(SlippageTooHigh, match="under fair value, above the limit of 50 bps"):
        quote_exit(env, lido, 250 * ETH, slippage_bps=10, max_discount_bps=50)


def test_the_executor_allows_the_pool_only_the_exchange_that_pays_it(env):
    w3, client, executor, lido = env["w3"], env["client"], env["executor"], env["lido"]
    pool = steth_pool(env)
    rules = contract(w3, "FloorExecutor", executor)
    for permission in lido.instant_exit.permissions().rules:
        assert rules.functions.ruleOf(*permission.pair).call() == permission.as_rule()
    env["d"].send(env["weth"].functions.mint(executor, ETH))
    client.execute([call(lido.asset.address, "withdraw(uint256)", ETH)])
    # Buying stETH with ETH would carry value: the exchange rule carries none.
    with pytest.raises(ExecutionReverted, match="ValueNotAllowed"):
        client.execute([call(pool.address, EXCHANGE, 0, 1, ETH, 0, value=ETH)])
    with pytest.raises(ExecutionReverted, match="CallNotAllowed"):  # no LP business for the executor
        client.execute([call(pool.address, "remove_liquidity(uint256,uint256[2])", 1, [0, 0])])


# -------------------------------------------------------------------------------- rETH


def test_an_reth_exit_beyond_the_collateral_goes_through_the_pool_with_its_quote(env):
    w3, client, executor, rocket, reader = env["w3"], env["client"], env["executor"], env["rocket"], env["reader"]
    reth = contract(w3, "RocketTokenRETH", rocket.reth)
    deposit_pool = contract(w3, "RocketDepositPool", rocket.deposit_pool)
    pool = reth_pool(env)
    stake(env, rocket, 30 * ETH)
    # Minipools join the queue: the deposit pool's ETH is theirs, not excess backing burns.
    in_pool = deposit_pool.functions.getBalance().call()
    minipools = (in_pool - 5 * ETH) // (31 * ETH)
    queued = [to_checksum_address(f"0x{i + 1:040x}") for i in range(minipools)]
    env["d"].send(deposit_pool.functions.enqueueMinipools(queued))
    held = reth.functions.balanceOf(executor).call()
    position = reth.functions.getEthValue(held).call()
    assert reth.functions.getTotalCollateral().call() < position

    with pytest.raises(InsufficientCollateral, match="can be withdrawn now"):  # the burn is refused
        action = Withdraw(position)
        rocket.decode_quote(action, reader.read(rocket.quote_reads(action, executor)).results)

    balances, rate, amp, fee = reth_state(env)
    weth_before = weth_of(env, executor)
    quote = quote_exit(env, rocket, held, slippage_bps=30, max_discount_bps=50)
    assert quote.fair == position  # rETH at getEthValue, read in the same batch
    assert quote.quoted == reth_get_dy(balances, rate, amp, fee, held) == pool.functions.get_dy(1, 0, held).call()
    xp = [balances[0], rate * balances[1] // ETH]
    assert abs(quote.quoted - curve_math_dy(xp, amp, fee, held * rate // ETH)) <= 10
    assert 0 < quote.discount_bps <= 50

    record = client.execute(rocket.instant_exit_calls(quote, executor))
    paid = paid_in(env, record, pool.address)
    # StableSwapRETH's exchange takes the `- 1` its get_dy leaves out: a wei or two under the quote.
    assert quote.min_out <= paid <= quote.quoted and quote.quoted - paid <= 2
    assert weth_of(env, executor) - weth_before == quote.min_out
    client.execute(rocket.instant_exit.wrap_rest_calls(quote, paid))
    assert weth_of(env, executor) - weth_before == paid and eth_of(env, executor) == 0
    assert reth.functions.balanceOf(executor).call() == 0
    assert reth.functions.allowance(executor, pool.address).call() == 0
