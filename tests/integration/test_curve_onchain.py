"""Curve through the executor on a chain of this module's own: an old-style 3pool
(DAI/USDC/USDT, `uint256[3]`, a separate LP token) and a Stableswap-NG pool (USDC/crvUSD,
`uint256[]`, the pool its own LP token), each with a gauge paying CRV through the Minter.

The treasury deposits USDC single-sided with the pool's own min-out, its LP tokens staked in
the gauge in the same batch; other participants' swaps move the pool and their fees raise the
virtual price; a one-coin exit slips more the larger it is, exactly as the StableSwap
invariant says (checked against `tests/curve_math.py`, Curve's math in Python); exits in one
coin and balanced; CRV accrues and is minted. A min-out the pool cannot meet reverts the whole
batch and nothing moves. No allowance outlives a batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_abi import decode
from web3 import Web3

from floor.adapters.base import Asset, Deposit, PositionReading, RawWrites, Withdraw, WithdrawAll
from floor.calls import selector
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.rpc import connect
from floor.chain.signer import LocalKeySigner
from floor.devnet.context import TOKENS, DeployContext, Deployer
from floor.devnet.deploy import configure_executor, deploy_executor, install_multicall3
from floor.devnet.owner import as_owner
from floor.devnet.stack import fund_signer, new_operator_key
from floor.errors import InsufficientBalance
from floor.guards import min_delta
from floor.models import AdapterKey
from floor.permissions import LossBound, PermissionSet
from floor.protocols.curve import PROTOCOL, CurveAdapter, CurveMarketConfig
from floor.protocols.curve.adapter import fair_value, fee_margin
from floor.protocols.curve.deploy import CRV_PER_SECOND, REWARD_PER_WEEK, deploy_markets
from floor.protocols.curve.errors import CoinNotInPool, PositionChanged
from tests import curve_math
from tests.integration.helpers import advance_clock, contract, freeze_clock, own_anvil, reverting

USDC_UNIT = 10**6
DAY = 24 * 3600


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[dict]:
    with own_anvil(tmp_path_factory, 1, "curve") as url:
        w3 = connect([url])
        freeze_clock(w3)  # time moves only when a test moves it (`advance_clock`)
        d = Deployer(w3)
        install_multicall3(w3)
        tokens = {s: d.deploy("TestERC20", name, s, dec) for s, (name, dec) in TOKENS.items() if s != "WETH"}
        markets = deploy_markets(DeployContext(chain_id=1, deployer=d, tokens=tokens))
        signer = LocalKeySigner.from_private_key(new_operator_key())
        fund_signer(w3, signer.address)
        executor = deploy_executor(w3, signer.address)
        usdc = Asset("USDC", tokens["USDC"].address, 6)
        adapters = {}
        for m in markets:
            config = CurveMarketConfig.model_validate(m)
            adapters[config.kind] = PROTOCOL.adapter_for(
                AdapterKey(chain_id=1, protocol="curve", market=config.market), usdc, config
            )
        configure_executor(w3, executor, PermissionSet.union(a.permissions() for a in adapters.values()))
        yield {
            "w3": w3,
            "d": d,
            "tokens": tokens,
            "markets": markets,
            "executor": executor,
            "client": ExecutorClient(w3, 1, executor, signer),
            "reader": MulticallReader(w3),
            "old": adapters["old"],
            "ng": adapters["ng"],
        }


@pytest.fixture(autouse=True)
def _isolated(env) -> Iterator[None]:
    yield from reverting(env["w3"])


KINDS = ["old", "ng"]


def erc20(w3: Web3, address: str):
    return contract(w3, "TestERC20", address)


def mint(env, token: str, to: str, amount: int) -> None:
    env["d"].send(erc20(env["w3"], token).functions.mint(to, amount))


def pool_of(env, a: CurveAdapter):
    return contract(env["w3"], "CurveStableSwap3Pool" if a.kind == "old" else "CurveStableSwapNG", a.pool)


def lp_of(env, a: CurveAdapter):
    return contract(env["w3"], "CurveTokenV3" if a.kind == "old" else "CurveStableSwapNG", a.lp_token)


def gauge_of(env, a: CurveAdapter):
    return contract(env["w3"], "CurveLiquidityGaugeV5", a.gauge)


def coins_of(env, a: CurveAdapter) -> list[str]:
    pool = pool_of(env, a)
    return [pool.functions.coins(k).call() for k in range(a.n_coins)]


def math_pool(env, a: CurveAdapter) -> curve_math.Pool:
    """The pool's state, as tests/curve_math.py takes it, read from the chain now."""
    pool, w3 = pool_of(env, a), env["w3"]
    coins = coins_of(env, a)
    return curve_math.Pool(
        balances=tuple(pool.functions.balances(k).call() for k in range(a.n_coins)),
        decimals=tuple(erc20(w3, c).functions.decimals().call() for c in coins),
        amp=pool.functions.A().call(),
        fee=pool.functions.fee().call(),
        supply=lp_of(env, a).functions.totalSupply().call(),
        ng=a.kind == "ng",
        offpeg_fee_multiplier=pool.functions.offpeg_fee_multiplier().call() if a.kind == "ng" else 0,
    )


def quote(env, a: CurveAdapter, action):
    return a.decode_quote(action, env["reader"].read(a.quote_reads(action, env["executor"])).results)


def run(env, a: CurveAdapter, action, slippage_bps: int = 10):
    calls = a.protected_calls(action, env["executor"], quote(env, a, action), slippage_bps)
    env["client"].execute(calls)
    return calls


def position(env, a: CurveAdapter) -> PositionReading:
    return a.decode_position(env["reader"].read(a.position_reads(env["executor"])).results)


def allowances(env, a: CurveAdapter) -> list[int]:
    """Every allowance the executor could leave behind: the coin to the pool, LP tokens to the gauge."""
    ex = env["executor"]
    return [
        erc20(env["w3"], a.asset.address).functions.allowance(ex, a.pool).call(),
        lp_of(env, a).functions.allowance(ex, a.gauge).call(),
        lp_of(env, a).functions.allowance(ex, a.pool).call(),
    ]


def holdings(env, a: CurveAdapter) -> tuple[int, int, int]:
    """(USDC, LP tokens, LP staked) of the executor."""
    ex = env["executor"]
    return (
        erc20(env["w3"], a.asset.address).functions.balanceOf(ex).call(),
        lp_of(env, a).functions.balanceOf(ex).call(),
        gauge_of(env, a).functions.balanceOf(ex).call(),
    )


def deposit(env, a: CurveAdapter, amount: int) -> None:
    mint(env, a.asset.address, env["executor"], amount)
    run(env, a, Deposit(amount))


def swap(env, a: CurveAdapter, i: int, j: int, dx: int) -> int:
    """Another participant's exchange of dx of coin i for coin j; what it received."""
    d, w3 = env["d"], env["w3"]
    pool, coin_in, coin_out = pool_of(env, a), *[coins_of(env, a)[k] for k in (i, j)]
    mint(env, coin_in, d.participant, dx)
    d.send(erc20(w3, coin_in).functions.approve(a.pool, dx), d.participant)
    before = erc20(w3, coin_out).functions.balanceOf(d.participant).call()
    d.send(pool.functions.exchange(i, j, dx, 0), d.participant)
    return erc20(w3, coin_out).functions.balanceOf(d.participant).call() - before


# ---------------------------------------------------------------------------- deposits


@pytest.mark.parametrize("kind", KINDS)
def test_a_deposit_mints_what_the_invariant_says_and_stakes_it(env, kind):
    a = env[kind]
    amount = 250_000 * USDC_UNIT
    state = math_pool(env, a)
    expected_lp = curve_math.add_liquidity(state, a.amounts(amount))
    mint(env, a.asset.address, env["executor"], amount)
    q = quote(env, a, Deposit(amount))
    calls = a.protected_calls(Deposit(amount), env["executor"], q, 10)
    # approve, add_liquidity with its min-out, approve 0; approve, stake, approve 0
    add = calls[1]
    assert add.target == a.pool and add.data[2:10] == selector(a.add_liquidity_sig).hex()
    assert [c.target for c in calls] == [a.asset.address, a.pool, a.asset.address, a.lp_token, a.gauge, a.lp_token]
    env["client"].execute(calls)

    usdc, wallet, staked = holdings(env, a)
    assert usdc == 0
    assert wallet + staked == expected_lp  # to the LP base unit, by Curve's own integer math
    quoted = next(e.delta for e in q if e.token == a.lp_token)
    assert staked == quoted - (quoted * 10 + 9_999) // 10_000  # the min-out part is staked in the batch
    if kind == "ng":  # NG's calc_token_amount has the (dynamic) fee in it: the quote is the mint
        assert quoted == expected_lp
    else:  # the old pool's leaves the fee out; the adapter takes the whole swap fee off
        assert quoted < expected_lp
    assert allowances(env, a) == [0, 0, 0]

    p = position(env, a)
    price = pool_of(env, a).functions.get_virtual_price().call()
    assert p.shares == expected_lp and p.amount == fair_value(expected_lp, price, 6)
    assert price == curve_math.virtual_price(math_pool(env, a))
    # Fair value is the deposit less what the imbalance cost it (fees and the invariant's curve).
    assert amount * 9_990 // 10_000 < p.amount < amount
    # The rest of the mint is still the executor's and is staked on request.
    env["client"].execute(a.stake_calls(wallet))
    assert holdings(env, a)[1:] == (0, expected_lp) and allowances(env, a) == [0, 0, 0]


@pytest.mark.parametrize("kind", KINDS)
def test_the_adapter_uses_the_pools_own_array_type(env, kind):
    a = env[kind]
    assert a.add_liquidity_sig == (
        "add_liquidity(uint256[3],uint256)" if kind == "old" else "add_liquidity(uint256[],uint256)"
    )
    executor = contract(env["w3"], "FloorExecutor", env["executor"])
    for permission in a.permissions().rules:
        assert executor.functions.ruleOf(*permission.pair).call() == permission.as_rule()


# ---------------------------------------------------------------------------- the pool moves


@pytest.mark.parametrize("kind", KINDS)
def test_swaps_by_others_move_the_pool_and_their_fees_raise_the_virtual_price(env, kind):
    a = env[kind]
    deposit(env, a, 100_000 * USDC_UNIT)
    pool = pool_of(env, a)
    before = a.decode_rate(env["reader"].read(a.rate_reads()).results, 0)
    held_before = position(env, a)
    other = a.n_coins - 1  # USDT in 3pool, crvUSD in the NG pool
    unit_other = 10 ** erc20(env["w3"], coins_of(env, a)[other]).functions.decimals().call()

    dx = 2_000_000 * USDC_UNIT
    state = math_pool(env, a)
    quoted = pool.functions.get_dy(a.coin_index, other, dx).call()
    assert quoted == curve_math.get_dy(state, a.coin_index, other, dx)
    received = swap(env, a, a.coin_index, other, dx)
    # The old pool's get_dy takes its fee after converting to the coin's units, exchange before:
    # it may quote one unit more than it pays (so does 3pool on mainnet). NG's are the same sum.
    assert received == quoted if kind == "ng" else quoted - 1 <= received <= quoted
    # 2M of 10M (or 5M): the invariant holds the price near 1:1, with the fee on top.
    assert 0.995 * 2_000_000 < quoted / unit_other < 2_000_000
    # The pool now holds more USDC: exiting to USDC costs less; entering costs more.
    back = pool.functions.get_dy(other, a.coin_index, quoted).call()
    assert back == curve_math.get_dy(math_pool(env, a), other, a.coin_index, quoted)
    for _ in range(3):  # others trade back and forth
        swap(env, a, other, a.coin_index, quoted)
        swap(env, a, a.coin_index, other, dx)
    after = a.decode_rate(env["reader"].read(a.rate_reads()).results, 0)
    grown = position(env, a)
    assert after.growth_index > before.growth_index  # the fees the pool kept
    assert grown.shares == held_before.shares and grown.amount > held_before.amount
    assert after.growth_index == pool.functions.get_virtual_price().call() * 10**9


# ---------------------------------------------------------------------------- exits


@pytest.mark.parametrize("kind", KINDS)
def test_a_one_coin_exit_slips_more_the_larger_it_is_as_the_invariant_says(env, kind):
    a = env[kind]
    pool = pool_of(env, a)
    state = math_pool(env, a)
    price = pool.functions.get_virtual_price().call()
    slippages = []
    coin_share = state.supply // a.n_coins  # LP tokens worth about the pool's USDC
    sizes = [coin_share * f // 1000 for f in (1, 300, 600, 900, 1200)]
    for lp in sizes:
        on_chain = a.decode_exit_value(env["reader"].read(a.exit_value_reads(lp)).results)
        dy, fee = curve_math.calc_withdraw_one_coin(state, lp, a.coin_index)
        assert on_chain == dy, (lp, on_chain, dy)  # to the base unit
        assert fee > 0
        fair = fair_value(lp, price, 6)
        slippages.append((fair - on_chain) / fair)
    # Flat near the peg, then steep as the exit drains the pool's USDC: StableSwap's shape.
    assert slippages == sorted(slippages) and len(set(slippages)) == len(slippages)
    assert slippages[0] < 0.0001  # a small exit of a balanced pool pays 1:1 less half the fee
    assert slippages[-1] > 100 * slippages[0] and slippages[-1] > 0.05
    assert on_chain < state.balances[a.coin_index]  # even past its value in USDC, never all of it
    if kind == "ng":
        # Off peg NG charges more than the base fee: without the dynamic fee the math would
        # quote more than the pool pays for a large exit.
        flat = curve_math.Pool(**{**state.__dict__, "offpeg_fee_multiplier": 0})
        assert curve_math.calc_withdraw_one_coin(flat, sizes[-1], a.coin_index)[0] > on_chain


@pytest.mark.parametrize("kind", KINDS)
def test_withdraw_an_amount_then_everything_in_one_coin(env, kind):
    a = env[kind]
    deposit(env, a, 300_000 * USDC_UNIT)
    held = position(env, a)
    _, wallet, staked = holdings(env, a)
    assert wallet > 0 and staked > 0

    take = 120_000 * USDC_UNIT
    q = quote(env, a, Withdraw(take))
    calls = a.protected_calls(Withdraw(take), env["executor"], q, 10)
    burn = -sum(e.delta for e in q if e.token in (a.lp_token, a.gauge))
    unstake = -next(e.delta for e in q if e.token == a.gauge)
    assert unstake == burn - wallet > 0  # the executor's own LP tokens first, then the gauge's
    state = math_pool(env, a)
    paid_quote = curve_math.calc_withdraw_one_coin(state, burn, a.coin_index)[0]
    assert burn == curve_math.min_burn(state, take, a.coin_index)  # the fewest LP tokens that pay it
    assert next(e.delta for e in q if e.token == a.asset.address) == paid_quote  # quoted to the unit
    env["client"].execute(calls)
    usdc, wallet2, staked2 = holdings(env, a)
    assert usdc == paid_quote and take <= usdc <= take + 1  # the amount, to the coin's unit
    assert (wallet2, staked2) == (0, staked - unstake)
    assert allowances(env, a) == [0, 0, 0]

    rest = position(env, a)
    assert rest.shares == held.shares - burn
    exit_value = a.decode_exit_value(env["reader"].read(a.exit_value_reads(rest.shares)).results)
    assert exit_value < rest.amount  # the exit slips under the fair value
    reads = env["reader"].read(a.quote_reads(WithdrawAll(rest), env["executor"])).results
    slipped = a.slippage(WithdrawAll(rest), reads)  # what the engine's slippage limit is checked on
    assert (slipped.quoted, slipped.fair) == (exit_value, rest.amount) and slipped.bps >= 1
    run(env, a, WithdrawAll(rest))
    usdc2, wallet3, staked3 = holdings(env, a)
    assert (wallet3, staked3) == (0, 0) and usdc2 - usdc == exit_value
    assert position(env, a) == PositionReading(amount=0, shares=0)
    assert allowances(env, a) == [0, 0, 0]


def exit_in_the_coin(env, a: CurveAdapter, take: int) -> dict:
    """Quote and run a one-coin exit of `take`: what it burnt and paid against its quote,
    the fewest LP tokens that pay `take` and what the former sizing (calc_token_amount plus
    the whole swap fee and a unit) would have burnt and paid, from the state before it."""
    ex, state = env["executor"], math_pool(env, a)
    reads = env["reader"].read(a.quote_reads(Withdraw(take), ex)).results
    q = a.decode_quote(Withdraw(take), reads)
    slipped = a.slippage(Withdraw(take), reads)
    calls = a.protected_calls(Withdraw(take), ex, q, 10)
    needed = contract(env["w3"], "CurveStableSwap3Pool" if a.kind == "old" else "CurveStableSwapNG", a.pool)
    needed = needed.functions.calc_token_amount(a.amounts(take), False).call()
    former = needed + fee_margin(needed, state.fee) + 1
    usdc, wallet, staked = holdings(env, a)
    env["client"].execute(calls)
    usdc2, wallet2, staked2 = holdings(env, a)
    return {
        "burn": wallet + staked - wallet2 - staked2,
        "quoted_burn": -sum(e.delta for e in q if e.token in (a.lp_token, a.gauge)),
        "paid": usdc2 - usdc,
        "quoted": next(e.delta for e in q if e.token == a.asset.address),
        "min_amount": decode(["uint256", "int128", "uint256"], bytes.fromhex(calls[-1].data[10:]))[2],
        "slippage": slipped,
        "fewest": curve_math.min_burn(state, take, a.coin_index),
        "former_burn": former,
        "former_paid": curve_math.calc_withdraw_one_coin(state, former, a.coin_index)[0],
        "fee": state.fee,
    }


@pytest.mark.parametrize("kind", KINDS)
def test_an_exit_in_the_coin_burns_the_fewest_lp_tokens_and_pays_its_quote_to_the_unit(env, kind):
    a = env[kind]
    deposit(env, a, 300_000 * USDC_UNIT)
    take = 120_000 * USDC_UNIT
    price = pool_of(env, a).functions.get_virtual_price().call()
    got = exit_in_the_coin(env, a, take)
    assert got["burn"] == got["quoted_burn"] == got["fewest"]  # the pool's own math, to the LP base unit
    assert got["paid"] == got["quoted"] and take <= got["paid"] <= take + 1
    assert got["min_amount"] == min_delta(got["quoted"], 10)  # the bound is on the exact quote
    # The engine's slippage figure is the same exit: what it pays against the burn's fair value.
    assert (got["slippage"].quoted, got["slippage"].fair) == (got["paid"], fair_value(got["burn"], price, 6))
    saved = got["former_burn"] - got["burn"]
    if kind == "ng":
        # NG's calc_token_amount has the fee in it already: the former margin burnt one whole
        # swap fee more than needed (1 bp on this 1 bp pool).
        assert saved >= fee_margin(got["burn"], got["fee"]) * 99 // 100
    else:  # the old pool's leaves it out; the one-coin fee is about half the swap fee
        assert fee_margin(got["burn"], got["fee"]) * 2 // 10 < saved < fee_margin(got["burn"], got["fee"])


@pytest.mark.parametrize("kind", KINDS)
def test_an_exit_near_a_drain_does_not_over_promise(env, kind):
    """Others have bought most of the pool's USDC; the treasury then takes most of what is
    left. On the old pool the one-coin fee on so lopsided a pool is more than the whole swap
    fee the former sizing added: that burn paid less than the amount quoted."""
    a = env[kind]
    deposit(env, a, 3_000_000 * USDC_UNIT)
    # So lopsided an exit loses percents against fair value (the engine's slippage limit
    # refuses it first): the owner opens the executor's loss bound for it.
    executor = contract(env["w3"], "FloorExecutor", env["executor"])
    as_owner(env["w3"], env["executor"], [executor.functions.setLossBound(LossBound(10_000, 10**9, 10**9).as_tuple())])
    other = a.n_coins - 1
    unit_other = 10 ** erc20(env["w3"], coins_of(env, a)[other]).functions.decimals().call()
    in_pool = math_pool(env, a).balances[a.coin_index]
    swap(env, a, other, a.coin_index, in_pool * 95 // 100 // USDC_UNIT * unit_other)
    take = math_pool(env, a).balances[a.coin_index] * 95 // 100
    got = exit_in_the_coin(env, a, take)
    if kind == "old":  # the former quote over-promised by about 0.29 bp
        assert 0.25 < (take - got["former_paid"]) * 10_000 / take < 0.35
    assert got["burn"] == got["fewest"] and got["paid"] == got["quoted"] >= take
    assert got["slippage"].quoted == got["paid"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_balanced_exit_is_not_allowed(env, kind):
    """The balanced remove_liquidity pays coins the executor does not value (a loss it could
    not see): its rule is not configured, so only the market's own coin comes out."""
    a = env[kind]
    deposit(env, a, 50_000 * USDC_UNIT)
    _, wallet, staked = holdings(env, a)
    burn = wallet + staked
    quoted = a.decode_balanced_quote(burn, env["reader"].read(a.balanced_quote_reads()).results)
    assert all(q > 0 for q in quoted) and len(quoted) == len(coins_of(env, a))
    with pytest.raises(ExecutionReverted, match=r"CallNotAllowed\(call \d+: target"):
        env["client"].execute(a.balanced_exit_calls(burn, staked, quoted, 0))


# ---------------------------------------------------------------------------- CRV


@pytest.mark.parametrize("kind", KINDS)
def test_the_gauge_accrues_crv_and_the_minter_pays_it(env, kind):
    a = env[kind]
    w3, ex = env["w3"], env["executor"]
    deposit(env, a, 500_000 * USDC_UNIT)
    gauge = gauge_of(env, a)
    crv = contract(w3, "CurveCRV", a.crv)
    staked = gauge.functions.balanceOf(ex).call()
    working, supply = gauge.functions.working_balances(ex).call(), gauge.functions.working_supply().call()
    assert working == staked * 40 // 100  # no veCRV: 40% of the stake

    def accrued(seconds: int) -> int:
        """LiquidityGaugeV5's integral over `seconds` at the gauge's rate, for this working balance."""
        return working * (CRV_PER_SECOND * 10**18 * seconds // supply) // 10**18

    advance_clock(w3, DAY)
    rewards = a.curve_rewards(env["reader"].read(a.reward_reads(ex)).results)
    assert rewards.crv == accrued(DAY)  # exactly: the chain's clock moves only with `advance`
    if kind == "ng":  # the NG gauge also streams crvUSD over the whole stake (not the working one)
        ((token, extra),) = rewards.tokens
        rate = REWARD_PER_WEEK // (7 * DAY)
        total = gauge.functions.totalSupply().call()
        assert extra == staked * (DAY * rate * 10**18 // total) // 10**18
    else:
        assert rewards.tokens == ()
    env["client"].execute(a.claim_calls(ex))
    if kind == "ng":
        paid = erc20(w3, token).functions.balanceOf(ex).call()
        assert paid == extra == gauge.functions.claimed_reward(ex, token).call()
    minted = crv.functions.balanceOf(ex).call()
    assert minted == rewards.crv == gauge.functions.integrate_fraction(ex).call()
    minter = contract(w3, "CurveMinter", a.minter)
    assert minter.functions.minted(ex, a.gauge).call() == minted
    assert a.curve_rewards(env["reader"].read(a.reward_reads(ex)).results).crv == 0
    advance_clock(w3, 600)
    env["client"].execute(a.claim_calls(ex))  # a second mint pays only what accrued since
    second = crv.functions.balanceOf(ex).call() - minted
    assert second > 0 and abs(second - accrued(600)) <= 1  # the integral rounds at each checkpoint
    assert minted + second == minter.functions.minted(ex, a.gauge).call()
    assert allowances(env, a) == [0, 0, 0]


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("kind", KINDS)
def test_a_min_out_the_pool_cannot_meet_reverts_the_batch_and_nothing_moves(env, kind):
    a = env[kind]
    ex = env["executor"]
    amount = 400_000 * USDC_UNIT
    mint(env, a.asset.address, ex, amount)
    q = quote(env, a, Deposit(amount))
    calls = a.protected_calls(Deposit(amount), ex, q, 10)
    # Another participant buys most of the pool's other coin with USDC first: USDC, now
    # plentiful in the pool, mints fewer LP tokens than quoted, by more than 10 bps.
    other = math_pool(env, a).xp[a.n_coins - 1] // 10**12  # in USDC's units
    swap(env, a, a.coin_index, a.n_coins - 1, other * 95 // 100)
    before = (holdings(env, a), allowances(env, a))
    with pytest.raises(ExecutionReverted, match="Slippage screwed you") as raised:
        env["client"].execute(calls)
    assert raised.value.error == "SlippageExceeded"
    assert (holdings(env, a), allowances(env, a)) == before == ((amount, 0, 0), [0, 0, 0])

    # An exit whose min-out the pool cannot meet: the gauge's withdrawal is undone with it.
    run(env, a, Deposit(amount), slippage_bps=100)
    p = position(env, a)
    q = quote(env, a, WithdrawAll(p))
    calls = a.protected_calls(WithdrawAll(p), ex, q, 0)
    # Someone buys USDC from the pool first: a one-coin USDC exit now pays a little less,
    # and a zero-slippage bound breaks.
    decimals = erc20(env["w3"], coins_of(env, a)[a.n_coins - 1]).functions.decimals().call()
    swap(env, a, a.n_coins - 1, a.coin_index, 1_000 * 10**decimals)
    before = (holdings(env, a), allowances(env, a))
    with pytest.raises(ExecutionReverted, match="Not enough coins removed") as raised:
        env["client"].execute(calls)
    assert raised.value.error == "SlippageExceeded"
    assert (holdings(env, a), allowances(env, a)) == before


def test_refusals_before_anything_is_sent(env):
    a = env["old"]
    assert not isinstance(a, RawWrites)  # every write carries the pool's min-out, from a quote
    # A market whose coin index is not its asset's coin in the pool.
    wrong = CurveAdapter(**{**a.__dict__, "coin_index": 2})
    with pytest.raises(CoinNotInPool, match="USDC"):
        quote(env, wrong, Deposit(USDC_UNIT))
    with pytest.raises(InsufficientBalance, match="LP tokens"):
        quote(env, a, Withdraw(USDC_UNIT))
    deposit(env, a, 10_000 * USDC_UNIT)
    p = position(env, a)
    with pytest.raises(PositionChanged):
        quote(env, a, WithdrawAll(PositionReading(amount=p.amount, shares=p.shares - 1)))
    with pytest.raises(InsufficientBalance, match="LP tokens"):
        quote(env, a, Withdraw(20_000 * USDC_UNIT))
