"""The local stack's swap venue: Uniswap V3 stand-ins (UniswapV3Factory, UniswapSwapRouter02,
UniswapQuoterV2 over constant-product pools: `contracts/src/uniswap/`) with a pool per reward
token the chain's markets pay against USDC, seeded at sensible prices by the deployer, and
the routes the harvest sells them by, as the chain's `swaps` config:

- CRV/USDC, fee 0.3%: 2,000,000 CRV and 1,000,000 USDC ($0.50 a CRV)
- CVX/USDC, fee 1%: 400,000 CVX and 1,000,000 USDC ($2.50 a CVX)
- COMP/USDC, fee 0.3%: 20,000 COMP and 1,000,000 USDC ($50 a COMP)
- crvUSD to USDC: stable to stable, through the Curve Stableswap-NG crvUSD/USDC pool (coin 1 to 0)

CRV is minted only by Curve's Minter: the deployer mints the seed as the Minter (anvil's
impersonation), as no schedule stands behind the stand-in's supply anyway. CVX comes from the
other participant's premine. Reward tokens are not among the chain's configured tokens: each
route carries its own Chainlink feed stand-in at the pool's seeded price, as mainnet's CRV / USD,
CVX / USD, COMP / USD and crvUSD / USD feeds, so the executor can value a sale.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from typing import Any

from web3.types import RPCEndpoint

from floor.devnet.context import DAY_S, USD_UNIT, DeployContext, deploy_feed

WAD = 10**18
USDC_SEED = 1_000_000  # whole USDC in each pool
# symbol -> (fee tier, whole tokens seeded against USDC_SEED USDC)
POOLS = {"CRV": (3000, 2_000_000), "CVX": (10_000, 400_000), "COMP": (3000, 20_000)}
# The least a harvest claims of each reward token (base units): below it a claim costs more than it pays.
DUST = {"CRV": 10**15, "CVX": 10**15, "COMP": 10**14, "crvUSD": 10**15}


def reward_tokens(markets: list[dict[str, Any]]) -> dict[str, str]:
    """symbol -> address of the reward tokens the markets pay (from their config)."""
    found: dict[str, str] = {}
    for m in markets:
        if m.get("crv"):
            found["CRV"] = m["crv"]
        if m.get("cvx"):
            found["CVX"] = m["cvx"]
        if m.get("reward_token"):
            found["COMP"] = m["reward_token"]
    return found


def deploy_venue(ctx: DeployContext, markets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Deploy the venue and seed its pools; the chain's `swaps` config, or None when no
    market on the chain pays a reward token."""
    rewards = reward_tokens(markets)
    curve_rewards = [m for m in markets if m.get("adapter") == "curve" and m.get("reward_tokens")]
    if not rewards and not curve_rewards:
        return None
    d = ctx.deployer
    usdc = ctx.tokens["USDC"]
    factory = d.deploy("UniswapV3Factory")
    router = d.deploy("UniswapSwapRouter02", factory.address)
    quoter = d.deploy("UniswapQuoterV2", factory.address)
    routes = []
    for symbol, address in sorted(rewards.items()):
        fee, whole = POOLS[symbol]
        token = d.at("TestERC20", address)
        amount, usdc_amount = whole * WAD, USDC_SEED * 10 ** ctx.decimals("USDC")
        _fund(ctx, symbol, address, amount)
        d.send(usdc.functions.mint(d.admin, usdc_amount))
        d.send(factory.functions.createPool(address, usdc.address, fee))
        pool = d.at("UniswapConstantProductPool", factory.functions.getPool(address, usdc.address, fee).call())
        d.send(token.functions.approve(pool.address, amount))
        d.send(usdc.functions.approve(pool.address, usdc_amount))
        token0 = pool.functions.token0().call()
        pair = (amount, usdc_amount) if token0.lower() == address.lower() else (usdc_amount, amount)
        d.send(pool.functions.addLiquidity(*pair))
        route = {"token": address, "symbol": symbol, "to": "USDC", "fee": fee, "dust": DUST[symbol]}
        routes.append({**route, "price_feed": _feed(ctx, symbol, USDC_SEED * USD_UNIT // whole)})
    for m in curve_rewards:  # the NG pool's gauge pays crvUSD: sold back through the pool itself
        for token in m["reward_tokens"]:
            routes.append(
                {
                    "token": token,
                    "symbol": "crvUSD",
                    "to": "USDC",
                    "curve_pool": m["pool"],
                    "curve_i": 1 - m["coin_index"],
                    "curve_j": m["coin_index"],
                    "dust": DUST["crvUSD"],
                    "price_feed": _feed(ctx, "crvUSD", USD_UNIT),
                }
            )
    return {"router": router.address, "quoter": quoter.address, "routes": routes}


def _feed(ctx: DeployContext, symbol: str, answer: int) -> dict[str, Any]:
    """A reward token's USD feed stand-in (daily heartbeat, as Chainlink's for these tokens)."""
    feed = deploy_feed(ctx.deployer, f"{symbol} / USD", answer)
    return {"feed": feed.address, "heartbeat_s": DAY_S}


def _fund(ctx: DeployContext, symbol: str, address: str, amount: int) -> None:
    """Give the deployer `amount` of a reward token: CRV minted as its Minter, CVX from the
    participant's premine, a TestERC20 (COMP) minted by its owner, the deployer."""
    d, w3 = ctx.deployer, ctx.deployer.w3
    if symbol == "CRV":
        crv = d.at("CurveCRV", address)
        minter = crv.functions.minter().call()
        w3.provider.make_request(RPCEndpoint("anvil_impersonateAccount"), [minter])
        w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [minter, hex(10**18)])
        try:
            d.send(crv.functions.mint(d.admin, amount), minter)
        finally:
            w3.provider.make_request(RPCEndpoint("anvil_stopImpersonatingAccount"), [minter])
    elif symbol == "CVX":
        cvx = d.at("TestERC20", address)
        d.send(cvx.functions.transfer(d.admin, amount), d.participant)
    else:
        d.send(d.at("TestERC20", address).functions.mint(d.admin, amount))
