"""Convex through the executor on a chain of this module's own, over the local Curve
deployment's Stableswap-NG crvUSD/USDC pool (pid 0): USDC in single-sided with the pool's
min-out and the LP tokens deposited through the Booster with stake = true in one batch; the
Booster stakes them in Curve's gauge; `earmarkRewards` moves the gauge's CRV, less Convex's
fees, into the reward pool, which streams it; `getReward` pays the CRV and has CVX minted at
the rate ConvexToken's cliffs give; `withdrawAndUnwrap` and a one-coin exit bring the USDC
back. No allowance outlives a batch; a min-out the pool cannot meet reverts everything."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from floor.adapters.base import Asset, Deposit, PositionReading, Withdraw, WithdrawAll
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.chain.multicall import MulticallReader
from floor.chain.rpc import connect
from floor.chain.signer import LocalKeySigner
from floor.devnet.context import TOKENS, DeployContext, Deployer
from floor.devnet.deploy import configure_executor, deploy_executor, install_multicall3
from floor.devnet.stack import fund_signer, new_operator_key
from floor.models import AdapterKey
from floor.protocols.convex import PROTOCOL, ConvexAdapter, ConvexMarketConfig
from floor.protocols.convex.adapter import cvx_minted
from floor.protocols.convex.deploy import CVX_PREMINE
from floor.protocols.convex.deploy import deploy_markets as deploy_convex
from floor.protocols.convex.errors import PoolMismatch, PoolShutdown
from floor.protocols.curve.adapter import fair_value
from floor.protocols.curve.deploy import deploy_markets as deploy_curve
from tests import curve_math
from tests.integration.helpers import advance_clock, contract, freeze_clock, own_anvil, reverting

USDC_UNIT = 10**6
DAY = 24 * 3600


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[dict]:
    with own_anvil(tmp_path_factory, 1, "convex") as url:
        w3 = connect([url])
        freeze_clock(w3)  # time moves only when a test moves it (`advance_clock`)
        d = Deployer(w3)
        install_multicall3(w3)
        tokens = {s: d.deploy("TestERC20", name, s, dec) for s, (name, dec) in TOKENS.items() if s != "WETH"}
        ctx = DeployContext(chain_id=1, deployer=d, tokens=tokens)
        (market,) = deploy_convex(ctx)  # Convex's hook first, as the packages' name order has it
        curve = {m["market"]: m for m in deploy_curve(ctx)}
        assert curve["crvUSD-USDC"]["pool"] == market["pool"]  # one Curve deployment, shared
        signer = LocalKeySigner.from_private_key(new_operator_key())
        fund_signer(w3, signer.address)
        executor = deploy_executor(w3, signer.address)
        usdc = Asset("USDC", tokens["USDC"].address, 6)
        config = ConvexMarketConfig.model_validate(market)
        adapter = PROTOCOL.adapter_for(AdapterKey(chain_id=1, protocol="convex", market=config.market), usdc, config)
        configure_executor(w3, executor, adapter.permissions())
        yield {
            "w3": w3,
            "d": d,
            "executor": executor,
            "client": ExecutorClient(w3, 1, executor, signer),
            "reader": MulticallReader(w3),
            "a": adapter,
            "gauge": curve["crvUSD-USDC"]["gauge"],
        }


@pytest.fixture(autouse=True)
def _isolated(env) -> Iterator[None]:
    yield from reverting(env["w3"])


def c(env, name: str, address: str):
    return contract(env["w3"], name, address)


def usdc(env):
    return c(env, "TestERC20", env["a"].asset.address)


def pool(env):
    return c(env, "CurveStableSwapNG", env["a"].pool)


def booster(env):
    return c(env, "ConvexBooster", env["a"].booster)


def rewards(env):
    return c(env, "ConvexBaseRewardPool", env["a"].reward_pool)


def math_pool(env) -> curve_math.Pool:
    p = pool(env)
    return curve_math.Pool(
        balances=tuple(p.functions.balances(k).call() for k in range(2)),
        decimals=(6, 18),
        amp=p.functions.A().call(),
        fee=p.functions.fee().call(),
        supply=p.functions.totalSupply().call(),
        ng=True,
        offpeg_fee_multiplier=p.functions.offpeg_fee_multiplier().call(),
    )


def quote(env, action):
    a = env["a"]
    return a.decode_quote(action, env["reader"].read(a.quote_reads(action, env["executor"])).results)


def position(env) -> PositionReading:
    a = env["a"]
    return a.decode_position(env["reader"].read(a.position_reads(env["executor"])).results)


def allowances(env) -> list[int]:
    a, ex = env["a"], env["executor"]
    return [usdc(env).functions.allowance(ex, a.pool).call(), pool(env).functions.allowance(ex, a.booster).call()]


def deposit(env, amount: int, slippage_bps: int = 10) -> None:
    a, ex = env["a"], env["executor"]
    env["d"].send(usdc(env).functions.mint(ex, amount))
    env["client"].execute(a.protected_calls(Deposit(amount), ex, quote(env, Deposit(amount)), slippage_bps))


def test_a_deposit_goes_through_the_booster_into_the_gauge_and_is_staked_for_the_executor(env):
    a, ex = env["a"], env["executor"]
    gauge = c(env, "CurveLiquidityGaugeV5", env["gauge"])
    proxy = booster(env).functions.staker().call()
    in_gauge = gauge.functions.balanceOf(proxy).call()
    amount = 200_000 * USDC_UNIT
    minted = curve_math.add_liquidity(math_pool(env), [amount, 0])
    q = quote(env, Deposit(amount))
    assert next(e.delta for e in q if e.token == a.lp_token) == minted  # NG's quote is the mint
    deposit(env, amount)

    staked = rewards(env).functions.balanceOf(ex).call()
    assert staked == minted - (minted * 10 + 9_999) // 10_000  # the min-out part, through the Booster
    assert gauge.functions.balanceOf(proxy).call() == in_gauge + staked  # Convex's proxy staked it in Curve's gauge
    assert pool(env).functions.balanceOf(ex).call() == minted - staked  # the rest stays, counted in the position
    p = position(env)
    assert p.shares == minted
    assert p.amount == fair_value(minted, pool(env).functions.get_virtual_price().call(), 6)
    assert usdc(env).functions.balanceOf(ex).call() == 0 and allowances(env) == [0, 0]
    lptoken, token, gauge_addr, crv_rewards, _stash, shutdown = booster(env).functions.poolInfo(a.pid).call()
    assert (lptoken, gauge_addr, crv_rewards, shutdown) == (a.lp_token, env["gauge"], a.reward_pool, False)
    deposit_token = c(env, "ConvexDepositToken", token)
    assert deposit_token.functions.balanceOf(a.reward_pool).call() == rewards(env).functions.totalSupply().call()
    executor = c(env, "FloorExecutor", ex)
    for permission in a.permissions().rules:
        assert executor.functions.ruleOf(*permission.pair).call() == permission.as_rule()


def test_crv_is_earmarked_streamed_and_paid_with_cvx_at_the_cliff_rate(env):
    a, ex, d = env["a"], env["executor"], env["d"]
    w3 = env["w3"]
    deposit(env, 500_000 * USDC_UNIT)
    crv, cvx = c(env, "CurveCRV", a.crv), c(env, "ConvexToken", a.cvx)
    assert rewards(env).functions.earned(ex).call() == 0

    advance_clock(w3, DAY)  # the gauge accrues CRV to Convex's voter proxy
    caller_before = crv.functions.balanceOf(d.participant).call()
    d.send(booster(env).functions.earmarkRewards(a.pid), d.participant)
    queued = rewards(env).functions.currentRewards().call()
    receiver_and_caller = crv.functions.balanceOf(d.participant).call() - caller_before  # fees: 10% + 4.5% + 0.5%
    claimed = queued + receiver_and_caller
    assert receiver_and_caller == claimed * 1000 // 10_000 + claimed * 450 // 10_000 + claimed * 50 // 10_000
    assert rewards(env).functions.rewardRate().call() == queued // (7 * DAY)

    advance_clock(w3, DAY)  # the reward pool streams a seventh of it
    balance, total = rewards(env).functions.balanceOf(ex).call(), rewards(env).functions.totalSupply().call()
    got = a.convex_rewards(env["reader"].read(a.reward_reads(ex)).results)
    assert got.crv == balance * (DAY * (queued // (7 * DAY)) * 10**18 // total) // 10**18  # StakingRewards' sums
    assert got.crv == pytest.approx(queued / 7 * balance / total, rel=1e-6)
    supply = cvx.functions.totalSupply().call()
    assert supply == CVX_PREMINE and got.cvx == got.crv * 500 // 1000  # cliff 500 of 1000: half a CVX per CRV

    env["client"].execute(a.claim_calls(ex))
    paid = crv.functions.balanceOf(ex).call()
    assert paid == got.crv  # the chain's clock moves only with `advance`
    assert cvx.functions.balanceOf(ex).call() == got.cvx == cvx_minted(paid, supply, 10**23, 1000, 10**26)
    assert rewards(env).functions.earned(ex).call() == 0


def test_withdraw_and_unwrap_then_a_one_coin_exit_brings_the_usdc_back(env):
    a, ex = env["a"], env["executor"]
    deposit(env, 300_000 * USDC_UNIT)
    # An amount first: the fewest LP tokens that pay it (Curve's own math), out of the reward
    # pool, paying its quote to the unit.
    take, state = 100_000 * USDC_UNIT, math_pool(env)
    q = quote(env, Withdraw(take))
    burn = -sum(e.delta for e in q if e.token in (a.lp_token, a.reward_pool))
    assert burn == curve_math.min_burn(state, take, a.coin_index)
    env["client"].execute(a.protected_calls(Withdraw(take), ex, q, 10))
    paid = curve_math.calc_withdraw_one_coin(state, burn, a.coin_index)[0]
    assert usdc(env).functions.balanceOf(ex).call() == paid == next(e.delta for e in q if e.token == a.asset.address)
    assert take <= paid <= take + 1
    first = paid
    p = position(env)
    wallet = pool(env).functions.balanceOf(ex).call()
    staked = rewards(env).functions.balanceOf(ex).call()
    q = quote(env, WithdrawAll(p))
    calls = a.protected_calls(WithdrawAll(p), ex, q, 10)
    assert [(x.target, x.data[2:10]) for x in calls] == [
        (a.reward_pool, "c32e7202"),  # withdrawAndUnwrap(uint256,bool)
        (a.pool, "1a4d01d2"),  # remove_liquidity_one_coin(uint256,int128,uint256)
    ]
    paid = curve_math.calc_withdraw_one_coin(math_pool(env), wallet + staked, a.coin_index)[0]
    env["client"].execute(calls)
    got = usdc(env).functions.balanceOf(ex).call() - first
    assert got == paid == next(e.delta for e in q if e.token == a.asset.address)
    assert 300_000 * USDC_UNIT * 9_990 // 10_000 < first + paid < 300_000 * USDC_UNIT
    assert rewards(env).functions.balanceOf(ex).call() == 0 and pool(env).functions.balanceOf(ex).call() == 0
    assert position(env) == PositionReading(amount=0, shares=0) and allowances(env) == [0, 0]


def test_refusals_and_a_min_out_that_reverts_everything(env):
    a, ex, d = env["a"], env["executor"], env["d"]
    amount = 400_000 * USDC_UNIT
    wrong = ConvexAdapter(**{**a.__dict__, "reward_pool": env["gauge"]})
    with pytest.raises(PoolMismatch, match="pid 0"):
        wrong.decode_quote(Deposit(amount), env["reader"].read(wrong.quote_reads(Deposit(amount), ex)).results)

    d.send(usdc(env).functions.mint(ex, amount))
    calls = a.protected_calls(Deposit(amount), ex, quote(env, Deposit(amount)), 10)
    # Someone buys most of the pool's crvUSD with USDC first: USDC mints fewer LP tokens.
    crvusd = pool(env).functions.coins(1).call()
    dx = math_pool(env).balances[1] // 10**12 * 95 // 100
    d.send(usdc(env).functions.mint(d.participant, dx))
    d.send(usdc(env).functions.approve(a.pool, dx), d.participant)
    d.send(pool(env).functions.exchange(0, 1, dx, 0), d.participant)
    assert c(env, "TestERC20", crvusd).functions.balanceOf(d.participant).call() > 0
    before = (usdc(env).functions.balanceOf(ex).call(), position(env), allowances(env))
    with pytest.raises(ExecutionReverted, match="Slippage screwed you") as raised:
        env["client"].execute(calls)
    assert raised.value.error == "SlippageExceeded"
    assert (usdc(env).functions.balanceOf(ex).call(), position(env), allowances(env)) == before
    assert before[0] == amount and before[1].shares == 0

    d.send(booster(env).functions.shutdownPool(a.pid))
    with pytest.raises(PoolShutdown, match="shut down"):
        quote(env, Deposit(amount))
