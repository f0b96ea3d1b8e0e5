"""Rewards through the executor on a chain of this module's own: USDC staked in Convex (pid 0)
and in the Curve crvUSD/USDC gauge, time passes, and the harvest's activities read every
market's claimable CRV, CVX and crvUSD in one Multicall3 eth_call, then build one atomic
batch: the claims, CRV and CVX sold for USDC on the Uniswap V3 stand-ins (SwapRouter02 with
QuoterV2's quote less the tolerance as amountOutMinimum) and crvUSD through the Curve pool
(get_dy less the tolerance as min_dy). A sale whose min-out cannot be met reverts everything
(refused at estimation, or mined and reverted when the pool moves after the transaction was
signed): balances, allowances and claimable rewards are as they were. No allowance outlives
any batch. COMP from Compound V3 with no route configured is claimed and kept idle, named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from activities.deps import Deps
from activities.rewards import build_harvest, read_rewards
from floor.adapters.base import Deposit
from floor.adapters.registry import executor_permissions
from floor.calls import call
from floor.chain.errors import ExecutionReverted, TransactionFailed
from floor.chain.executor import ExecutorClient
from floor.chain.rpc import connect, request_counts
from floor.chain.signer import LocalKeySigner
from floor.config import Settings
from floor.devnet.context import TOKENS, DeployContext, Deployer
from floor.devnet.deploy import configure_executor, deploy_executor, install_multicall3
from floor.devnet.stack import fund_signer, new_operator_key
from floor.models import AdapterKey
from floor.permissions import APPROVE
from floor.protocols.compound_v3.deploy import deploy_markets as deploy_compound
from floor.protocols.convex.deploy import deploy_markets as deploy_convex
from floor.protocols.curve.deploy import deploy_markets as deploy_curve
from floor.swaps.deploy import deploy_venue
from floor.swaps.harvest import BuildHarvestInput, ReadRewardsInput
from floor.swaps.venue import EXACT_INPUT_SINGLE
from tests.integration.helpers import advance_clock, contract, freeze_clock, own_anvil, reverting

USDC_UNIT = 10**6
DAY = 24 * 3600
CONVEX = AdapterKey(chain_id=1, protocol="convex", market="crvUSD-USDC")
CURVE = AdapterKey(chain_id=1, protocol="curve", market="crvUSD-USDC")
COMET = AdapterKey(chain_id=1, protocol="compound-v3", market="cUSDCv3")


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[dict]:
    with own_anvil(tmp_path_factory, 1, "rewards") as url:
        w3 = connect([url])
        freeze_clock(w3)  # time moves only when a test moves it: a claim pays what was read
        d = Deployer(w3)
        install_multicall3(w3)
        tokens = {s: d.deploy("TestERC20", name, s, dec) for s, (name, dec) in TOKENS.items() if s != "WETH"}
        ctx = DeployContext(chain_id=1, deployer=d, tokens=tokens)
        markets = deploy_convex(ctx) + deploy_curve(ctx) + deploy_compound(ctx)
        swaps = deploy_venue(ctx, markets)
        signer = LocalKeySigner.from_private_key(new_operator_key())
        fund_signer(w3, signer.address)
        executor = deploy_executor(w3, signer.address)
        chain = {
            "id": 1,
            "name": "ethereum",
            "rpc_urls": [url],
            "executor": executor,
            "tokens": [{"symbol": s, "address": t.address, "decimals": TOKENS[s][1]} for s, t in tokens.items()],
            "markets": markets,
            "swaps": swaps,
        }
        settings = Settings(chains=[chain])
        configure_executor(w3, executor, executor_permissions(settings.chain(1)))  # valued by local feeds
        yield {
            "w3": w3,
            "d": d,
            "url": url,
            "chain": chain,
            "executor": executor,
            "signer": signer,
            "settings": settings,
            "deps": Deps(settings, signer, {1: w3}),
            "client": ExecutorClient(w3, 1, executor, signer),
            "swaps": swaps,
        }


@pytest.fixture(autouse=True)
def _isolated(env) -> Iterator[None]:
    yield from reverting(env["w3"])


def route(env, symbol: str) -> dict:
    return next(r for r in env["swaps"]["routes"] if r["symbol"] == symbol)


def erc20(env, address: str):
    return contract(env["w3"], "TestERC20", address)


def usdc(env):
    return erc20(env, env["settings"].chain(1).token("USDC").address)


def stake(env, key: AdapterKey, amount: int) -> None:
    """USDC into the market through the executor, with the adapter's own min-outs."""
    deps, ex = env["deps"], env["executor"]
    a = deps.registry.get(key)
    env["d"].send(usdc(env).functions.mint(ex, amount))
    quote = a.decode_quote(Deposit(amount), deps.chains[1].reader.read(a.quote_reads(Deposit(amount), ex)).results)
    env["client"].execute(a.protected_calls(Deposit(amount), ex, quote, 10))


def earn(env) -> None:
    """Stake in Convex and the Curve gauge; a day passes, Convex earmarks the gauge's CRV
    (anyone may), and a second day streams a seventh of it to the reward pool's stakers."""
    stake(env, CONVEX, 300_000 * USDC_UNIT)
    stake(env, CURVE, 300_000 * USDC_UNIT)
    advance_clock(env["w3"], DAY)
    booster = contract(env["w3"], "ConvexBooster", env["deps"].registry.get(CONVEX).booster)
    env["d"].send(booster.functions.earmarkRewards(0), env["d"].participant)
    advance_clock(env["w3"], DAY)


def read(env, keys=(CONVEX, CURVE)):
    return read_rewards(env["deps"], ReadRewardsInput(chain_id=1, keys=list(keys)))


def state(env) -> dict:
    """Every balance and allowance a harvest could change, and what is claimable."""
    ex, swaps = env["executor"], env["swaps"]
    out = {"USDC": usdc(env).functions.balanceOf(ex).call()}
    for r in swaps["routes"]:
        token = erc20(env, r["token"])
        spender = swaps["router"] if "fee" in r else r["curve_pool"]
        out[r["symbol"]] = token.functions.balanceOf(ex).call()
        out[r["symbol"] + " allowance"] = token.functions.allowance(ex, spender).call()
    out["claimable"] = [(m.key, [(x.token, x.amount) for x in m.rewards]) for m in read(env).markets]
    return out


def no_allowances(env) -> None:
    ex, swaps = env["executor"], env["swaps"]
    usdc_token = usdc(env)
    deps = env["deps"]
    spenders = [swaps["router"]] + [r["curve_pool"] for r in swaps["routes"] if "curve_pool" in r]
    spenders += [deps.registry.get(k).booster for k in (CONVEX,)] + [deps.registry.get(CURVE).gauge]
    spenders += [deps.registry.get(CURVE).pool]
    for r in swaps["routes"]:
        for spender in spenders:
            assert erc20(env, r["token"]).functions.allowance(ex, spender).call() == 0, (r["symbol"], spender)
    for spender in spenders:
        assert usdc_token.functions.allowance(ex, spender).call() == 0


def pool_out(env, symbol: str, amount: int) -> int:
    """What the constant-product pool of `symbol`/USDC pays for `amount`, by Uniswap's fee rule."""
    r = route(env, symbol)
    factory = contract(
        env["w3"],
        "UniswapV3Factory",
        contract(env["w3"], "UniswapQuoterV2", env["swaps"]["quoter"]).functions.factory().call(),
    )
    pool = contract(
        env["w3"],
        "UniswapConstantProductPool",
        factory.functions.getPool(r["token"], usdc(env).address, r["fee"]).call(),
    )
    r0, r1 = pool.functions.reserve0().call(), pool.functions.reserve1().call()
    reserve_in, reserve_out = (r0, r1) if pool.functions.token0().call().lower() == r["token"].lower() else (r1, r0)
    less_fee = amount * (1_000_000 - r["fee"]) // 1_000_000
    return reserve_out * less_fee // (reserve_in + less_fee)


def test_rewards_are_read_in_one_call_claimed_and_sold_for_usdc_with_min_outs(env):
    earn(env)
    no_allowances(env)
    w3, ex = env["w3"], env["executor"]
    before = request_counts(w3)["eth_call"]
    got = read(env)
    assert request_counts(w3)["eth_call"] - before == 1  # every market's rewards: one Multicall3 eth_call
    lines = {(str(m.key), x.symbol): x.amount for m in got.markets for x in m.rewards}
    assert set(lines) == {("1:convex:crvUSD-USDC", "CRV"), ("1:convex:crvUSD-USDC", "CVX")} | {
        ("1:curve:crvUSD-USDC", "CRV"),
        ("1:curve:crvUSD-USDC", "crvUSD"),
    }
    assert all(v > 0 for v in lines.values()), lines
    assert lines["1:convex:crvUSD-USDC", "CVX"] == lines["1:convex:crvUSD-USDC", "CRV"] // 2  # cliff 500 of 1000
    crv = lines["1:convex:crvUSD-USDC", "CRV"] + lines["1:curve:crvUSD-USDC", "CRV"]

    build = build_harvest(
        env["deps"], BuildHarvestInput(chain_id=1, claim=got.markets, held=got.held, tolerance_bps=50)
    )
    assert sorted(map(str, build.claimed)) == ["1:convex:crvUSD-USDC", "1:curve:crvUSD-USDC"]
    sales = {s.symbol: s for s in build.swaps}
    assert set(sales) == {"CRV", "CVX", "crvUSD"} and not build.kept
    assert sales["CRV"].amount_in == crv  # both markets' CRV in one sale
    assert sales["CRV"].quoted == pool_out(env, "CRV", crv)  # QuoterV2 quotes the pool's constant product
    assert sales["CVX"].quoted == pool_out(env, "CVX", sales["CVX"].amount_in)
    ng = contract(w3, "CurveStableSwapNG", route(env, "crvUSD")["curve_pool"])
    assert (
        sales["crvUSD"].venue == "curve"
        and sales["crvUSD"].quoted == ng.functions.get_dy(1, 0, sales["crvUSD"].amount_in).call()
    )
    for s in sales.values():
        assert s.min_out == s.quoted * 9_950 // 10_000 > 0
    # claims first (Convex getReward, the Minter, the gauge's claim_rewards), then approve/swap/approve 0 per sale
    assert len(build.calls) == 3 + 3 * 3
    for i, s in enumerate(build.swaps):
        spender = env["swaps"]["router"] if s.venue == "uniswap" else route(env, "crvUSD")["curve_pool"]
        assert [c.target for c in build.calls[3 + 3 * i : 6 + 3 * i]] == [s.token, spender, s.token]
    usdc_before = usdc(env).functions.balanceOf(ex).call()
    assert build.base_before == {"USDC": usdc_before}

    env["client"].execute(build.calls)
    paid = usdc(env).functions.balanceOf(ex).call() - usdc_before
    assert paid == sum(s.quoted for s in sales.values())  # same state as the quotes: realised = quoted
    for symbol in ("CRV", "CVX", "crvUSD"):  # every reward sold: nothing left of them
        assert erc20(env, route(env, symbol)["token"]).functions.balanceOf(ex).call() == 0, symbol
    no_allowances(env)
    after = read(env)
    assert all(x.amount == 0 for m in after.markets for x in m.rewards)


def test_a_min_out_the_pool_cannot_meet_is_refused_and_nothing_moves(env):
    earn(env)
    got = read(env)
    build = build_harvest(env["deps"], BuildHarvestInput(chain_id=1, claim=got.markets, held=got.held, tolerance_bps=0))
    # Someone sells CVX into the pool after the quote: our CVX sale now pays less than its quote.
    d, w3 = env["d"], env["w3"]
    cvx, router = erc20(env, route(env, "CVX")["token"]), env["swaps"]["router"]
    sold = 20_000 * 10**18
    d.send(cvx.functions.approve(router, sold), d.participant)
    r = contract(w3, "UniswapSwapRouter02", router)
    d.send(
        r.functions.exactInputSingle((cvx.address, usdc(env).address, 10_000, d.participant, sold, 1, 0)), d.participant
    )
    before = state(env)
    with pytest.raises(ExecutionReverted, match="Too little received"):
        env["client"].execute(build.calls)
    assert state(env) == before  # nothing claimed, sold or approved


def test_a_pool_moved_after_signing_reverts_the_mined_batch_and_nothing_is_lost(env):
    earn(env)
    got = read(env)
    build = build_harvest(
        env["deps"], BuildHarvestInput(chain_id=1, claim=got.markets, held=got.held, tolerance_bps=10)
    )
    client, d, w3 = env["client"], env["d"], env["w3"]
    signed = client.sign(build.calls)  # estimated against the pool as quoted: it would pass
    crv = erc20(env, route(env, "CRV")["token"])
    sold = 200_000 * 10**18  # 10% of the CRV pool, sold by someone else before ours is mined
    minter = contract(w3, "CurveCRV", crv.address).functions.minter().call()
    w3.provider.make_request("anvil_impersonateAccount", [minter])
    w3.provider.make_request("anvil_setBalance", [minter, hex(10**18)])
    d.send(contract(w3, "CurveCRV", crv.address).functions.mint(d.participant, sold), minter)
    w3.provider.make_request("anvil_stopImpersonatingAccount", [minter])
    router = env["swaps"]["router"]
    d.send(crv.functions.approve(router, sold), d.participant)
    r = contract(w3, "UniswapSwapRouter02", router)
    d.send(
        r.functions.exactInputSingle((crv.address, usdc(env).address, 3000, d.participant, sold, 1, 0)), d.participant
    )
    before = state(env)
    with pytest.raises(TransactionFailed):
        client.wait(client.submit(signed), len(build.calls))
    assert state(env) == before  # the mined batch reverted whole: rewards still claimable, no allowance


def test_a_reward_without_a_route_is_claimed_and_kept_idle_and_named(env):
    w3, ex = env["w3"], env["executor"]
    stake(env, COMET, 500_000 * USDC_UNIT)
    advance_clock(w3, 10 * DAY)
    no_comp = {**env["swaps"], "routes": [r for r in env["swaps"]["routes"] if r["symbol"] != "COMP"]}
    settings = Settings(chains=[{**env["chain"], "swaps": no_comp}])
    deps = Deps(settings, env["signer"], {1: w3})
    got = read_rewards(deps, ReadRewardsInput(chain_id=1, keys=[COMET]))
    ((owed,),) = [m.rewards for m in got.markets]
    assert owed.amount > 0 and owed.symbol == ""  # COMP: no route, so no symbol known
    build = build_harvest(deps, BuildHarvestInput(chain_id=1, claim=got.markets, held=got.held))
    assert not build.swaps and len(build.calls) == 1
    ((kept,),) = [build.kept]
    assert (kept.token, kept.amount, kept.reason) == (owed.token, owed.amount, "no swap route to USDC")
    env["client"].execute(build.calls)
    assert erc20(env, owed.token).functions.balanceOf(ex).call() >= owed.amount  # claimed, idle


def test_compound_rewards_are_sold_on_their_route_and_dust_is_not_claimed(env):
    w3, ex = env["w3"], env["executor"]
    stake(env, COMET, 500_000 * USDC_UNIT)
    advance_clock(w3, 10 * DAY)
    got = read(env, [COMET])
    ((owed,),) = [m.rewards for m in got.markets]
    assert owed.symbol == "COMP" and owed.amount > route(env, "COMP")["dust"]
    build = build_harvest(env["deps"], BuildHarvestInput(chain_id=1, claim=got.markets, held=got.held))
    ((sale,),) = [build.swaps]
    assert sale.amount_in == owed.amount and sale.min_out == sale.quoted * 9_950 // 10_000  # strategy default 50 bps
    usdc_before = usdc(env).functions.balanceOf(ex).call()
    env["client"].execute(build.calls)
    assert usdc(env).functions.balanceOf(ex).call() - usdc_before == sale.quoted
    no_allowances(env)
    # Owed below the dust threshold: nothing is built.
    dusty = {
        **env["swaps"],
        "routes": [{**r, "dust": 10**30} if r["symbol"] == "COMP" else r for r in env["swaps"]["routes"]],
    }
    deps = Deps(Settings(chains=[{**env["chain"], "swaps": dusty}]), env["signer"], {1: w3})
    advance_clock(w3, DAY)
    got = read_rewards(deps, ReadRewardsInput(chain_id=1, keys=[COMET]))
    assert got.markets[0].rewards[0].amount > 0
    assert build_harvest(deps, BuildHarvestInput(chain_id=1, claim=got.markets, held=got.held)).calls == []


def test_the_executor_refuses_a_sale_paying_anyone_else(env):
    earn(env)
    got = read(env, [CONVEX])
    build = build_harvest(env["deps"], BuildHarvestInput(chain_id=1, claim=got.markets, held=got.held))
    crv = route(env, "CRV")["token"]
    stranger = env["d"].participant
    swap = call(env["swaps"]["router"], EXACT_INPUT_SINGLE, (crv, usdc(env).address, 3000, stranger, 10**18, 1, 0))
    router = env["swaps"]["router"]
    calls = [build.calls[0], call(crv, APPROVE, router, 10**18), swap, call(crv, APPROVE, router, 0)]
    before = state(env)
    with pytest.raises(ExecutionReverted, match=r"ArgumentNotAllowed\(call 2: argument 3 is "):
        env["client"].execute(calls)
    assert state(env) == before
