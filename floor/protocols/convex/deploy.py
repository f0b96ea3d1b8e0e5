"""The local stack's Convex market, on Ethereum only: a voter proxy, CVX and the Booster over
the local Curve deployment (`floor.protocols.curve.deploy.curve_stack`, shared with Curve's
hook), with the Stableswap-NG crvUSD/USDC pool added as pid 0 (its gauge is Curve's), and
another participant's deposit. CVX is premined as Convex's was (the first mint, which hands
the mint to the Booster), to 50M of the 100M cap: cliff 500, so each CRV claimed mints 0.5 CVX.

The deployer's admin (anvil's account 0) owns the Booster; the Booster's lockers' and stakers'
shares of CRV go to the other participant's account.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from typing import Any

from floor.devnet.context import DeployContext
from floor.protocols.convex import PROTOCOL
from floor.protocols.curve.deploy import curve_stack

BOOSTER, PROXY, CVX, REWARD_POOL, DEPOSIT_TOKEN = PROTOCOL.contracts
CVX_PREMINE = 50_000_000 * 10**18
PARTICIPANT_LP_FRACTION = (1, 4)  # of its unstaked LP tokens, deposited in Convex

CHAINS = (1,)


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    if ctx.chain_id not in CHAINS:
        return []
    d = ctx.deployer
    curve = curve_stack(ctx)
    proxy = d.deploy(PROXY, curve.minter, curve.crv)
    cvx = d.deploy(CVX, proxy.address)
    booster = d.deploy(BOOSTER, proxy.address, cvx.address, curve.crv, d.participant, 0)
    d.send(proxy.functions.setOperator(booster.address))
    d.send(cvx.functions.mint(d.participant, CVX_PREMINE))  # the premine; the Booster mints from now on
    d.send(booster.functions.addPool(curve.pool_ng, curve.gauge_ng, 3))
    pid = 0
    _lp, _token, _gauge, rewards, _stash, _shutdown = booster.functions.poolInfo(pid).call()

    lp = d.at("CurveStableSwapNG", curve.pool_ng)
    amount = lp.functions.balanceOf(d.participant).call() * PARTICIPANT_LP_FRACTION[0] // PARTICIPANT_LP_FRACTION[1]
    d.send(lp.functions.approve(booster.address, amount), d.participant)
    d.send(booster.functions.deposit(pid, amount, True), d.participant)
    return [
        {
            "protocol": "convex",
            "adapter": "convex",
            "market": "crvUSD-USDC",
            "asset": "USDC",
            "pool": curve.pool_ng,
            "lp_token": curve.pool_ng,
            "kind": "ng",
            "n_coins": 2,
            "coin_index": 0,
            "booster": booster.address,
            "pid": pid,
            "reward_pool": rewards,
            "crv": curve.crv,
            "cvx": cvx.address,
        }
    ]
