"""The local stack's Curve markets, on Ethereum only: an old-style 3pool (DAI/USDC/USDT,
`uint256[3]`, its LP token a separate CurveTokenV3) and a Stableswap-NG pool (USDC/crvUSD,
`uint256[]`, the pool its own LP token), each seeded with balanced liquidity by another
participant, who also stakes part of it; a LiquidityGauge per pool paying CRV through the
Minter (the NG pool's gauge also streams crvUSD as a reward token). The treasury deposits
USDC into either (single-sided) and withdraws USDC.

USDT and crvUSD are not among the chain's configured tokens: only the pools hold them (and
the participant, who trades them to move the pools). The deployer's admin (anvil's account 0)
owns the pools, the gauges (it sets their CRV rate) and the Minter's gauge list, and mints
the test tokens.

Convex's hook stakes in the same pools' gauges: `curve_stack` deploys all this once per chain
deployment, whichever hook asks first.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from floor.devnet.context import DeployContext
from floor.protocols.curve import PROTOCOL

POOL3, LP3, POOL_NG, GAUGE, MINTER, CRV = PROTOCOL.contracts

# 3pool's parameters on mainnet: A 2000, fee 0.01%, admin fee 50%.
OLD_A, OLD_FEE, OLD_ADMIN_FEE = 2_000, 1_000_000, 5_000_000_000
# A Stableswap-NG stable pair's: A 1000, fee 0.01%, off-peg fee multiplier 5x.
NG_A, NG_FEE, NG_OFFPEG = 1_000, 1_000_000, 50_000_000_000
SEED_3POOL = 10_000_000  # whole tokens of each coin
SEED_NG = 5_000_000
PARTICIPANT_STAKE_FRACTION = (1, 2)  # of its LP tokens, staked in the gauge
CRV_PER_SECOND = 10**17  # the gauge's share of CRV's emission (0.1 CRV a second)
REWARD_PER_WEEK = 7_000 * 10**18  # crvUSD the NG gauge streams over its first week

CHAINS = (1,)


@dataclass(frozen=True)
class CurveStack:
    """What the local Curve deployment made on one chain (addresses)."""

    crv: str
    minter: str
    pool3: str
    lp3: str
    gauge3: str
    pool_ng: str
    gauge_ng: str
    usdt: str
    crvusd: str


# One Curve deployment per chain's deployment: Curve's hook and Convex's (which stakes in
# Curve's gauges) both ask for it, in either order. Keyed by the context's identity, which
# the entry also holds, so an id is never reused while it is cached.
_STACKS: dict[int, tuple[DeployContext, CurveStack]] = {}


def curve_stack(ctx: DeployContext) -> CurveStack:
    cached = _STACKS.get(id(ctx))
    if cached is not None and cached[0] is ctx:
        return cached[1]
    stack = _deploy_stack(ctx)
    _STACKS[id(ctx)] = (ctx, stack)
    return stack


def _deploy_stack(ctx: DeployContext) -> CurveStack:
    d = ctx.deployer
    dai, usdc = ctx.tokens["DAI"], ctx.tokens["USDC"]
    usdt = d.deploy("TestERC20", "Tether USD", "USDT", 6)
    crvusd = d.deploy("TestERC20", "Curve.Fi USD Stablecoin", "crvUSD", 18)

    crv = d.deploy(CRV)
    minter = d.deploy(MINTER, crv.address)
    d.send(crv.functions.set_minter(minter.address))

    lp3 = d.deploy(LP3, "Curve.fi DAI/USDC/USDT", "3Crv")
    pool3 = d.deploy(
        POOL3, d.admin, [dai.address, usdc.address, usdt.address], lp3.address, OLD_A, OLD_FEE, OLD_ADMIN_FEE
    )
    d.send(lp3.functions.set_minter(pool3.address))
    ng = d.deploy(POOL_NG, "crvUSD/USDC", "crvUSDC", NG_A, NG_FEE, NG_OFFPEG, [usdc.address, crvusd.address], d.admin)

    seeds = [(pool3, lp3, [dai, usdc, usdt], SEED_3POOL), (ng, ng, [usdc, crvusd], SEED_NG)]
    gauges = []
    for pool, lp, coins, seed in seeds:
        amounts = [seed * 10 ** coin.functions.decimals().call() for coin in coins]
        for coin, amount in zip(coins, amounts, strict=True):
            d.send(coin.functions.mint(d.participant, amount))
            d.send(coin.functions.approve(pool.address, amount), d.participant)
        d.send(pool.functions.add_liquidity(amounts, 0), d.participant)
        gauge = d.deploy(GAUGE, lp.address, minter.address, crv.address, d.admin, CRV_PER_SECOND)
        d.send(minter.functions.add_gauge(gauge.address))
        held = lp.functions.balanceOf(d.participant).call()
        stake = held * PARTICIPANT_STAKE_FRACTION[0] // PARTICIPANT_STAKE_FRACTION[1]
        d.send(lp.functions.approve(gauge.address, stake), d.participant)
        d.send(gauge.functions.deposit(stake), d.participant)
        gauges.append(gauge)
    # The NG pool's gauge also streams crvUSD to its stakers (a reward token, claim_rewards).
    gauge_ng = gauges[1]
    d.send(crvusd.functions.mint(d.admin, REWARD_PER_WEEK))
    d.send(crvusd.functions.approve(gauge_ng.address, REWARD_PER_WEEK))
    d.send(gauge_ng.functions.add_reward(crvusd.address, d.admin))
    d.send(gauge_ng.functions.deposit_reward_token(crvusd.address, REWARD_PER_WEEK))
    return CurveStack(
        crv=crv.address,
        minter=minter.address,
        pool3=pool3.address,
        lp3=lp3.address,
        gauge3=gauges[0].address,
        pool_ng=ng.address,
        gauge_ng=gauges[1].address,
        usdt=usdt.address,
        crvusd=crvusd.address,
    )


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    if ctx.chain_id not in CHAINS:
        return []
    s = curve_stack(ctx)
    common = {"protocol": "curve", "adapter": "curve", "minter": s.minter, "crv": s.crv}
    return [
        {
            **common,
            "market": "3pool",
            "asset": "USDC",
            "pool": s.pool3,
            "lp_token": s.lp3,
            "kind": "old",
            "n_coins": 3,
            "coin_index": 1,
            "gauge": s.gauge3,
        },
        {
            **common,
            "market": "crvUSD-USDC",
            "asset": "USDC",
            "pool": s.pool_ng,
            "lp_token": s.pool_ng,
            "kind": "ng",
            "n_coins": 2,
            "coin_index": 0,
            "gauge": s.gauge_ng,
            "reward_tokens": [s.crvusd],
        },
    ]
