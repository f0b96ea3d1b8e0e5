"""An attacker holding the engine's operator key, on the demo stack: every route that moved value
out before (an attacker's Morpho market, Balancer pool and swap route, a min-out of 0 under a
sandwich, guards left out, a deposit into an inflated vault, a front-run validator deposit) is
refused by the executor itself, and lossy batches stop at the window's budget."""

from __future__ import annotations

import time

import pytest
from eth_account import Account

from floor.adapters.base import Deposit
from floor.adapters.registry import AdapterRegistry, executor_setup
from floor.calls import call
from floor.chain.errors import ExecutionReverted
from floor.chain.executor import ExecutorClient
from floor.devnet.context import Deployer
from floor.devnet.deploy import configure_executor
from floor.devnet.owner import as_owner
from floor.devnet.stack import GUARDIAN_ACCOUNT, anvil_account_key
from floor.permissions import (
    SET_LISTED,
    SET_LOSS_BOUND,
    ExecutorSetup,
    LossBound,
)
from floor.protocols.erc4626.adapter import Erc4626Adapter
from floor.protocols.native_eth import deposit_data as dd
from floor.protocols.native_eth.adapter import DEPOSIT, deposits_list
from floor.protocols.native_eth.attestation import sign
from floor.swaps.venue import EXACT_INPUT_SINGLE
from tests.integration.helpers import balance, contract, mint, protected_calls

APPROVE = "approve(address,uint256)"
ETHER = 10**18


@pytest.fixture
def env(settings, web3s, signer):
    chain, w3 = settings.chain(1), web3s[1]
    adapters = AdapterRegistry.from_settings(settings).on_chain(1)
    return {
        "chain": chain,
        "w3": w3,
        "client": ExecutorClient(w3, 1, chain.executor, signer),
        "d": Deployer(w3),
        "by_adapter": {type(a).__name__: a for a in adapters},
        "adapters": adapters,
        "me": chain.executor,
    }


def refused(env, calls, match: str) -> None:
    with pytest.raises(ExecutionReverted, match=match):
        env["client"].execute(calls)


def owner_send(env, c) -> None:
    as_owner(env["w3"], env["me"], [c])


def test_an_attackers_morpho_market_and_a_zero_irm_one_are_refused(env):
    m, d, me = env["by_adapter"]["MorphoBlueAdapter"], env["d"], env["me"]
    mint(env["w3"], m.asset.address, me, 1_000 * 10**m.asset.decimals)
    # The attacker's market: the same loan token, its own oracle pricing its collateral sky-high.
    oracle = d.deploy("MorphoFixedPriceOracle", d.participant, 10**60)
    theirs = (m.asset.address, m.collateral_token, oracle.address, m.irm, m.lltv)
    d.send(contract(env["w3"], "Morpho", m.morpho).functions.createMarket(theirs), d.participant)
    zero_irm = (m.asset.address, m.collateral_token, m.oracle, "0x" + "00" * 20, m.lltv)
    for params in (theirs, zero_irm):
        supply = call(
            m.morpho,
            "supply((address,address,address,address,uint256),uint256,uint256,address,bytes)",
            params,
            10**8,
            0,
            me,
            b"",
        )
        refused(
            env, [call(m.asset.address, APPROVE, m.morpho, 10**8), supply], r"ArgumentNotAllowed\(call 1: argument 0"
        )
    # The treasury's own market still works.
    assert env["client"].execute(protected_calls(env["w3"], m, Deposit(10**8), me)).status == 1


def test_an_attackers_balancer_pool_id_and_internal_balances_are_refused(env):
    b, me = env["by_adapter"]["BalancerV2Adapter"], env["me"]
    request = b.join_request(10**6, 0)
    join = "joinPool(bytes32,address,address,(address[],uint256[],bytes,bool))"
    attackers_pool = call(b.balancer_vault, join, b"\x42" * 32, me, me, request)
    refused(env, [attackers_pool], r"ArgumentNotAllowed\(call 0: argument 0 is 0x4242")
    internal = call(b.balancer_vault, join, bytes.fromhex(b.pool_id[2:]), me, me, (*request[:3], True))
    refused(env, [internal], r"ArgumentNotAllowed\(call 0: argument 3")


def test_a_reward_sale_to_an_attackers_token_or_pool_is_refused(env):
    chain, me, d = env["chain"], env["me"], env["d"]
    swaps = chain.swaps
    route = next(r for r in swaps.routes if r.venue == "uniswap")
    junk = d.deploy("TestERC20", "Attacker", "ATK", 18)
    usdc = chain.token("USDC").address
    # The attacker's pool: the reward token against its own token, at the route's fee tier.
    factory = contract(
        env["w3"],
        "UniswapV3Factory",
        contract(env["w3"], "UniswapSwapRouter02", swaps.router).functions.factory().call(),
    )
    d.send(factory.functions.createPool(route.token, junk.address, route.fee), d.participant)
    for token_out, fee in ((junk.address, route.fee), (usdc, 500)):
        swap = call(swaps.router, EXACT_INPUT_SINGLE, (route.token, token_out, fee, me, 10**18, 0, 0))
        refused(
            env, [call(route.token, APPROVE, swaps.router, 10**18), swap], r"ArgumentNotAllowed\(call 1: argument 0"
        )


def _steth_position(env, amount: int):
    lido = env["by_adapter"]["LidoAdapter"]
    mint(env["w3"], lido.asset.address, env["me"], amount)
    env["client"].execute(protected_calls(env["w3"], lido, Deposit(amount), env["me"]))
    return lido


def test_a_sandwiched_instant_exit_with_a_min_out_of_0_is_refused(env):
    lido, w3, d, me = _steth_position(env, 100 * ETHER), env["w3"], env["d"], env["me"]
    pool = lido.instant_exit_pool
    held = balance(w3, lido.steth, me)
    # The front of the sandwich: the attacker dumps stETH into the pool.
    steth = contract(w3, "LidoStETH", lido.steth)
    d.send(steth.functions.approve(pool, 2**256 - 1), d.participant)
    curve = contract(w3, "CurveStableSwapSTETH", pool)
    d.send(curve.functions.exchange(1, 0, 250 * ETHER, 0), d.participant)
    sale = [call(lido.steth, APPROVE, pool, held), call(pool, "exchange(int128,int128,uint256,uint256)", 1, 0, held, 0)]
    refused(env, sale, r"LossTooHigh")  # no balance guard in the batch: the bound is the executor's own
    assert balance(w3, lido.steth, me) == held


def test_lossy_batches_stop_at_the_windows_budget(env):
    lido, w3, me = _steth_position(env, 50 * ETHER), env["w3"], env["me"]
    pool = lido.instant_exit_pool
    # The owner's bound for this test: 1.5% a batch, no floor, a $100 budget a week.
    owner_send(env, call(me, SET_LOSS_BOUND, LossBound(150, 0, 100).as_tuple()))
    executor = contract(w3, "FloorExecutor", me)
    sold = 0
    with pytest.raises(ExecutionReverted, match=r"LossBudgetExceeded"):
        for _ in range(20):  # each sale of 1 stETH loses its discount to ETH and the fee, some dollars
            sale = [
                call(lido.steth, APPROVE, pool, ETHER),
                call(pool, "exchange(int128,int128,uint256,uint256)", 1, 0, ETHER, 0),
            ]
            env["client"].execute(sale)
            sold += 1
    assert sold >= 1
    assert 0 < executor.functions.windowLoss().call() <= 100 * 10**18


@pytest.mark.parametrize("shape", ["no guards", "a second guardStart", "a check of another token"])
def test_a_deposit_into_an_inflated_vault_is_refused_whatever_the_guards(env, shape):
    w3, d, me, chain = env["w3"], env["d"], env["me"], env["chain"]
    usdc = chain.token("USDC")
    vault = d.deploy("ERC4626Vault", usdc.address, "Inflated", "INF", d.admin)
    # The attacker holds the only share and donates a million USDC: 500,000 now mints 0 shares.
    mint(w3, usdc.address, d.participant, 1_000_001 * 10**6)
    token = contract(w3, "TestERC20", usdc.address)
    d.send(token.functions.approve(vault.address, 2**256 - 1), d.participant)
    d.send(vault.functions.deposit(1, d.participant), d.participant)
    d.send(token.functions.transfer(vault.address, 1_000_000 * 10**6), d.participant)
    # The owner allows the vault as a market of the treasury (what a bad listing would do).
    adapter = next(a for a in env["adapters"] if isinstance(a, Erc4626Adapter))
    theirs = Erc4626Adapter(key=adapter.key, asset=adapter.asset, vault=vault.address)
    base = executor_setup(chain)
    configure_executor(w3, me, ExecutorSetup(theirs.permissions(), base.feeds, base.bound, base.tokens))
    amount = 500_000 * 10**6
    mint(w3, usdc.address, me, amount)
    deposit = [
        call(usdc.address, APPROVE, vault.address, amount),
        call(vault.address, "deposit(uint256,address)", amount, me),
    ]
    guard = {
        "no guards": [],
        "a second guardStart": [call(me, "guardStart(address)", vault.address)],
        "a check of another token": [call(me, "guardStart(address)", chain.token("DAI").address)],
    }[shape]
    tail = [call(me, "guardCheck(address,int256)", chain.token("DAI").address, 0)] if shape.endswith("token") else []
    refused(env, [*guard, *deposit, *guard, *tail], r"LossTooHigh")
    assert vault.functions.balanceOf(me).call() == 0 and balance(w3, usdc.address, me) >= amount


def _validator(executor: str, amount_gwei: int = 32 * 10**9, key: bytes = b"\x11"):
    pubkey, signature = key * 48, key * 96
    credentials = b"\x01" + bytes(11) + bytes.fromhex(executor[2:])
    return pubkey, credentials, signature, dd.deposit_data_root(pubkey, credentials, amount_gwei, signature)


def test_a_front_run_validator_deposit_makes_the_engines_deposit_revert(env, settings):
    w3, d, me, chain = env["w3"], env["d"], env["me"], env["chain"]
    native = env["by_adapter"]["NativeEthAdapter"]
    deposit_contract = native.deposit_contract
    pubkey, credentials, signature, root = _validator(me)
    owner_send(env, call(me, SET_LISTED, deposits_list(deposit_contract), [root], True))  # registered
    w3.provider.make_request("anvil_setBalance", [me, hex(64 * ETHER)])
    stake = call(deposit_contract, DEPOSIT, pubkey, credentials, signature, root, value=32 * ETHER)
    beacon = contract(w3, "BeaconDepositContract", deposit_contract)
    key = anvil_account_key(GUARDIAN_ACCOUNT)
    deadline = int(time.time()) + 3600

    def attested(roots=(root,)) -> list:
        now_root = beacon.functions.get_deposit_root().call()
        return [sign(key, me, chain.id, now_root, list(roots), deadline).call(me), stake]

    refused(env, [stake], r"ArgumentNotAllowed\(call 0: argument 3")  # no attestation
    now = beacon.functions.get_deposit_root().call()
    forged = sign(Account.create().key.hex(), me, chain.id, now, [root], deadline)
    refused(env, [forged.call(me), stake], r"AttestationInvalid")
    expired = sign(key, me, chain.id, now, [root], int(time.time()) - 3600)
    refused(env, [expired.call(me), stake], r"AttestationInvalid")
    # An attestation of another registered validator does not cover this one (the attester
    # checked that key, not this one, which may have been front-run before it looked).
    other_registered = _validator(me, key=b"\x44")[3]
    owner_send(env, call(me, SET_LISTED, deposits_list(deposit_contract), [other_registered], True))
    refused(env, attested([other_registered]), r"ArgumentNotAllowed\(call 1: argument 3")
    batch = attested()
    # The attacker front-runs: 1 ETH for the same key, with credentials paying itself.
    theirs = b"\x01" + bytes(11) + bytes.fromhex(d.participant[2:])
    their_root = dd.deposit_data_root(pubkey, theirs, 10**9, signature)
    d.send(beacon.functions.deposit(pubkey, theirs, signature, their_root), d.participant, value=ETHER)
    refused(env, batch, r"ArgumentNotAllowed\(call 1: argument 3")
    # An unregistered deposit (another key) is refused even when attested.
    other = _validator(me, key=b"\x22")
    refused(env, [attested([other[3]])[0], call(deposit_contract, DEPOSIT, *other, value=32 * ETHER)], r"argument 3")


def test_an_attested_deposit_of_a_registered_validator_goes_through_without_loss(env):
    w3, me, chain = env["w3"], env["me"], env["chain"]
    native = env["by_adapter"]["NativeEthAdapter"]
    pubkey, credentials, signature, root = _validator(me, key=b"\x33")
    owner_send(env, call(me, SET_LISTED, deposits_list(native.deposit_contract), [root], True))
    w3.provider.make_request("anvil_setBalance", [me, hex(64 * ETHER)])
    beacon = contract(w3, "BeaconDepositContract", native.deposit_contract)
    now_root = beacon.functions.get_deposit_root().call()
    attestation = sign(anvil_account_key(GUARDIAN_ACCOUNT), me, chain.id, now_root, [root], int(time.time()) + 3600)
    stake = call(native.deposit_contract, DEPOSIT, pubkey, credentials, signature, root, value=32 * ETHER)
    assert env["client"].execute([attestation.call(me), stake]).status == 1
    assert w3.eth.get_balance(me) == 32 * ETHER
    assert beacon.functions.get_deposit_root().call() != now_root
    executor = contract(w3, "FloorExecutor", me)
    assert executor.functions.valueOf(native.principal().id).call() == 32 * 3_000 * 10**18  # counted, not lost


def test_a_call_touching_an_asset_without_a_feed_is_refused(env):
    w3, me = env["w3"], env["me"]
    aave = env["by_adapter"]["AaveV3Adapter"]
    mint(w3, aave.asset.address, me, 10**9)
    # The owner unregisters the aToken's valuation: nothing that changes it can run.
    owner_send(
        env,
        call(
            me,
            "setAssets(bytes32[],(uint8,address,address,bytes,address,uint256,uint256)[])",
            [aave.held(aave.a_token).id],
            [(0, aave.a_token, "0x" + "00" * 20, b"", "0x" + "00" * 20, 0, 0)],
        ),
    )
    refused(env, protected_calls(w3, aave, Deposit(10**9), me), r"AssetNotValued")


EXCHANGE = "exchange(int128,int128,uint256,uint256)"


@pytest.mark.parametrize("case", ["aave reserve", "comet collateral", "convex pid", "curve coin"])
def test_another_market_on_an_allowed_contract_is_refused(env, case):
    """The contract is the treasury's, the market is not: an attacker's token as an Aave reserve,
    a Comet collateral (earns nothing, valued by nothing), another Convex pool id, another coin
    of a Curve pool."""
    d, me = env["d"], env["me"]
    by = env["by_adapter"]
    junk = d.deploy("TestERC20", "Attacker", "ATK", 18).address
    aave, comet, convex = by["AaveV3Adapter"], by["CompoundV3Adapter"], by["ConvexAdapter"]
    curve = next(a for a in env["adapters"] if type(a).__name__ == "CurveAdapter" and a.kind == "old")
    weth = env["chain"].token("WETH").address
    attempt, word = {
        "aave reserve": (call(aave.pool, "supply(address,uint256,address,uint16)", junk, 1, me, 0), 0),
        "comet collateral": (call(comet.comet, "supply(address,uint256)", weth, 1), 0),
        "convex pid": (call(convex.booster, "deposit(uint256,uint256,bool)", 999, 1, True), 0),
        "curve coin": (call(curve.pool, "remove_liquidity_one_coin(uint256,int128,uint256)", 1, 0, 0), 1),
    }[case]
    refused(env, [attempt], rf"ArgumentNotAllowed\(call 0: argument {word} ")


def test_a_sandwiched_reth_instant_exit_with_a_min_out_of_0_is_refused(env):
    rocket, w3, d, me = env["by_adapter"]["RocketPoolAdapter"], env["w3"], env["d"], env["me"]
    mint(w3, rocket.asset.address, me, 20 * ETHER)
    env["client"].execute(protected_calls(w3, rocket, Deposit(20 * ETHER), me))
    held = balance(w3, rocket.reth, me)
    # The attacker stakes for rETH of its own and dumps it into the pool first.
    d.send(contract(w3, "RocketDepositPool", rocket.deposit_pool).functions.deposit(), d.participant, value=200 * ETHER)
    theirs = balance(w3, rocket.reth, d.participant)
    d.send(
        contract(w3, "RocketTokenRETH", rocket.reth).functions.approve(rocket.instant_exit_pool, theirs), d.participant
    )
    d.send(
        contract(w3, "CurveStableSwapRETH", rocket.instant_exit_pool).functions.exchange(1, 0, theirs, 0), d.participant
    )
    sale = [
        call(rocket.reth, APPROVE, rocket.instant_exit_pool, held),
        call(rocket.instant_exit_pool, EXCHANGE, 1, 0, held, 0),
    ]
    refused(env, sale, r"LossTooHigh")
    assert balance(w3, rocket.reth, me) == held


def test_a_sandwiched_curve_lp_exit_with_a_min_out_of_0_is_refused(env):
    curve = next(a for a in env["adapters"] if type(a).__name__ == "CurveAdapter" and a.kind == "old")
    w3, d, me = env["w3"], env["d"], env["me"]
    amount = 200_000 * 10**curve.asset.decimals
    mint(w3, curve.asset.address, me, amount)
    env["client"].execute(protected_calls(w3, curve, Deposit(amount), me))
    staked = balance(w3, curve.gauge, me)
    # The attacker buys the pool's USDC out with DAI (coin 0) so that one-coin exits of it pay little.
    dai = env["chain"].token("DAI").address
    pool = contract(w3, "CurveStableSwap3Pool", curve.pool)
    usdc_held = pool.functions.balances(curve.coin_index).call()
    mint(w3, dai, d.participant, 10**9 * ETHER)
    d.send(contract(w3, "TestERC20", dai).functions.approve(curve.pool, 2**256 - 1), d.participant)
    d.send(pool.functions.exchange(0, curve.coin_index, usdc_held * 10**12 * 9 // 10, 0), d.participant)
    refused(env, curve.exit_one_coin(staked, staked, 1), r"LossTooHigh")  # min-out 1: no bound of its own
    assert balance(w3, curve.gauge, me) == staked


def test_a_sandwiched_reward_sale_on_its_own_route_with_a_min_out_of_1_is_refused(env):
    chain, w3, d, me = env["chain"], env["w3"], env["d"], env["me"]
    swaps = chain.swaps
    route = next(r for r in swaps.routes if r.symbol == "COMP")
    usdc = chain.token("USDC").address
    mint(w3, route.token, me, 100 * ETHER)  # COMP rewards the executor claimed, worth $5,000
    # The attacker dumps COMP into the route's pool first.
    mint(w3, route.token, d.participant, 20_000 * ETHER)
    d.send(contract(w3, "TestERC20", route.token).functions.approve(swaps.router, 2**256 - 1), d.participant)
    router = contract(w3, "UniswapSwapRouter02", swaps.router)
    d.send(
        router.functions.exactInputSingle((route.token, usdc, route.fee, d.participant, 20_000 * ETHER, 0, 0)),
        d.participant,
    )
    sale = [
        call(route.token, APPROVE, swaps.router, 100 * ETHER),
        call(swaps.router, EXACT_INPUT_SINGLE, (route.token, usdc, route.fee, me, 100 * ETHER, 1, 0)),
    ]
    refused(env, sale, r"LossTooHigh")
    assert balance(w3, route.token, me) == 100 * ETHER
