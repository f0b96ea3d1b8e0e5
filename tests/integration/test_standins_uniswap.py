"""The Uniswap V3 stand-ins on a chain of this module's own: SwapRouter02's exactInputSingle and
QuoterV2's quoteExactInputSingle with their real ABIs over a constant-product pool, the fee
taken from the input, the quote exactly what the swap pays and the price it leaves, and the
router's reverts (`Too little received`, `STF`, `AS`, `SPL`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3.exceptions import ContractLogicError

from floor.chain.rpc import connect
from floor.devnet.artifacts import load_artifact
from floor.devnet.context import Deployer
from tests.integration.helpers import contract, own_anvil, reverting

WAD = 10**18


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[dict]:
    with own_anvil(tmp_path_factory, 1, "uniswap") as url:
        w3 = connect([url])
        d = Deployer(w3)
        crv = d.deploy("TestERC20", "Curve DAO Token", "CRV", 18)
        usdc = d.deploy("TestERC20", "USD Coin", "USDC", 6)
        factory = d.deploy("UniswapV3Factory")
        router = d.deploy("UniswapSwapRouter02", factory.address)
        quoter = d.deploy("UniswapQuoterV2", factory.address)
        d.send(factory.functions.createPool(crv.address, usdc.address, 3000))
        pool = contract(
            w3, "UniswapConstantProductPool", factory.functions.getPool(usdc.address, crv.address, 3000).call()
        )
        seed_crv, seed_usdc = 2_000_000 * WAD, 1_000_000 * 10**6
        d.send(crv.functions.mint(d.admin, seed_crv))
        d.send(usdc.functions.mint(d.admin, seed_usdc))
        d.send(crv.functions.approve(pool.address, seed_crv))
        d.send(usdc.functions.approve(pool.address, seed_usdc))
        crv_first = pool.functions.token0().call() == crv.address
        d.send(pool.functions.addLiquidity(*((seed_crv, seed_usdc) if crv_first else (seed_usdc, seed_crv))))
        yield {
            "w3": w3,
            "d": d,
            "crv": crv,
            "usdc": usdc,
            "factory": factory,
            "router": router,
            "quoter": quoter,
            "pool": pool,
        }


@pytest.fixture(autouse=True)
def _isolated(env) -> Iterator[None]:
    yield from reverting(env["w3"])


def quote(env, amount: int, fee: int = 3000) -> tuple:
    return (
        env["quoter"].functions.quoteExactInputSingle((env["crv"].address, env["usdc"].address, amount, fee, 0)).call()
    )


def params(env, amount: int, least: int, recipient: str, limit: int = 0) -> tuple:
    return (env["crv"].address, env["usdc"].address, 3000, recipient, amount, least, limit)


def trader(env, amount: int) -> str:
    d = env["d"]
    d.send(env["crv"].functions.mint(d.participant, amount))
    d.send(env["crv"].functions.approve(env["router"].address, amount), d.participant)
    return d.participant


def test_the_abis_are_swaprouter02s_and_quoterv2s():
    router = {f["name"]: f for f in load_artifact("UniswapSwapRouter02").abi if f.get("type") == "function"}
    swap = router["exactInputSingle"]
    assert swap["stateMutability"] == "payable"
    assert [c["name"] for c in swap["inputs"][0]["components"]] == [
        "tokenIn",
        "tokenOut",
        "fee",
        "recipient",
        "amountIn",
        "amountOutMinimum",
        "sqrtPriceLimitX96",
    ]  # no deadline: SwapRouter02's struct, not SwapRouter's
    quoter = {f["name"]: f for f in load_artifact("UniswapQuoterV2").abi if f.get("type") == "function"}
    q = quoter["quoteExactInputSingle"]
    assert q["stateMutability"] == "nonpayable"  # not a view, as QuoterV2's is not
    assert [c["name"] for c in q["inputs"][0]["components"]] == [
        "tokenIn",
        "tokenOut",
        "amountIn",
        "fee",
        "sqrtPriceLimitX96",
    ]
    assert [o["name"] for o in q["outputs"]] == [
        "amountOut",
        "sqrtPriceX96After",
        "initializedTicksCrossed",
        "gasEstimate",
    ]


def test_the_quote_is_the_constant_product_after_the_fee_and_the_swap_pays_it(env):
    pool, usdc = env["pool"], env["usdc"]
    amount = 10_000 * WAD
    out, price_after, ticks, gas = quote(env, amount)
    less_fee = amount * (1_000_000 - 3000) // 1_000_000
    assert out == 1_000_000 * 10**6 * less_fee // (2_000_000 * WAD + less_fee)  # ~ $0.4975 a CRV after 0.3%
    assert (ticks, gas > 0) == (0, True)
    who = trader(env, amount)
    env["d"].send(env["router"].functions.exactInputSingle(params(env, amount, out, who)), who)
    assert usdc.functions.balanceOf(who).call() == out
    assert pool.functions.sqrtPriceX96().call() == price_after  # the price the quote said it would leave
    r0, r1 = pool.functions.reserve0().call(), pool.functions.reserve1().call()
    assert sorted([r0, r1]) == sorted([2_000_000 * WAD + amount, 1_000_000 * 10**6 - out])  # the whole input stays
    # A second, equal sale pays less: real price impact.
    assert quote(env, amount)[0] < out


def test_msg_sender_recipient_and_the_routers_reverts(env):
    d, router = env["d"], env["router"]
    amount = 1_000 * WAD
    out = quote(env, amount)[0]
    who = trader(env, 3 * amount)
    with pytest.raises(ContractLogicError, match="Too little received"):
        router.functions.exactInputSingle(params(env, amount, out + 1, who)).call({"from": who})
    with pytest.raises(ContractLogicError, match="AS"):
        router.functions.exactInputSingle(params(env, 0, 0, who)).call({"from": who})
    with pytest.raises(ContractLogicError, match="SPL"):
        router.functions.exactInputSingle(params(env, amount, 0, who, 2**96)).call({"from": who})
    with pytest.raises(ContractLogicError, match="STF"):  # no allowance from the admin
        router.functions.exactInputSingle(params(env, amount, 0, who)).call({"from": d.admin})
    with pytest.raises(ContractLogicError):  # no pool of that fee tier
        env["quoter"].functions.quoteExactInputSingle((env["crv"].address, env["usdc"].address, amount, 500, 0)).call()
    # recipient address(1) is MSG_SENDER, as in SwapRouter02.
    d.send(router.functions.exactInputSingle(params(env, amount, out, "0x" + "00" * 19 + "01")), who)
    assert env["usdc"].functions.balanceOf(who).call() == out


def test_the_factory_refuses_what_uniswaps_refuses(env):
    factory, crv, usdc = env["factory"], env["crv"], env["usdc"]
    for args in [(crv.address, usdc.address, 3000), (crv.address, usdc.address, 2500), (crv.address, crv.address, 500)]:
        with pytest.raises(ContractLogicError):
            factory.functions.createPool(*args).call({"from": env["d"].admin})
    assert factory.functions.getPool(crv.address, usdc.address, 3000).call() == env["pool"].address
