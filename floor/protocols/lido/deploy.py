"""The local stack's Lido market, on Ethereum only: the stETH, wstETH and withdrawal queue
stand-ins, with another participant's stake.

The stand-in's accounting oracle is the deployer's admin (anvil's account 0): tests send
`oracleReport(clBalanceDelta)` from it to move the share rate and finalise requests (and
`depositToValidators` to move buffered ETH to the consensus layer). Lido's fee goes to the
other participant's account, standing in for Lido's own treasury.

Curve's ETH/stETH pool (`CurveStableSwapSTETH`, its LP token a `CurveTokenV3`) for instant
exits: the other participant seeds it with ETH and stETH and then sells stETH into it, so stETH
trades at a small discount as on mainnet (about 0.2% here), A = 100, fee 0.01% with half to the
admin (mainnet's pool has had A from 50 up and a 0.01-0.04% fee). The market's config names it
as `instant_exit_pool`.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from typing import Any

from web3.contract import Contract

from floor.devnet.context import DeployContext, Deployer
from floor.protocols.lido import PROTOCOL
from floor.protocols.lido.instant_exit import ETH_COIN

STETH, WSTETH, QUEUE, CURVE_POOL = PROTOCOL.contracts
CURVE_LP = "CurveTokenV3"
ETH = 10**18
BOOTSTRAP = ETH  # what the deployment stakes for Lido's initial 0xdead holder
PARTICIPANT_STAKE = 1_000 * ETH
PARTICIPANT_REWARDS = 3 * ETH  # one report's rewards, so the share rate starts off 1:1

# The ETH/stETH pool: A, fee and admin fee (1e10 = 100%), the participant's seed, and the stETH
# it sells into the pool afterwards (stETH at a discount, as on mainnet).
POOL_A = 100
POOL_FEE = 1_000_000  # 0.01%
POOL_ADMIN_FEE = 5_000_000_000  # 50%
POOL_SEED = 300 * ETH  # of each coin
POOL_STETH_SOLD = 30 * ETH

CHAINS = (1,)


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    if ctx.chain_id not in CHAINS:
        return []
    d = ctx.deployer
    steth = d.deploy(STETH, d.admin, d.admin, d.participant, value=BOOTSTRAP)  # admin, oracle, fee treasury
    wsteth = d.deploy(WSTETH, steth.address)
    queue = d.deploy(QUEUE, wsteth.address, d.admin)
    d.send(steth.functions.setWithdrawalQueue(queue.address))
    d.send(steth.functions.submit(d.participant), d.participant, value=PARTICIPANT_STAKE)
    d.send(steth.functions.oracleReport(PARTICIPANT_REWARDS))
    pool = deploy_steth_pool(d, steth)
    return [
        {
            "protocol": "lido",
            "adapter": "lido",
            "market": "stETH",
            "asset": "WETH",
            "steth": steth.address,
            "wsteth": wsteth.address,
            "withdrawal_queue": queue.address,
            "withdrawal_valuer": d.deploy("LidoWithdrawalValuer").address,  # the engine's
            "instant_exit_pool": {"address": pool.address, "kind": "curve_stableswap_eth"},
        }
    ]


def deploy_steth_pool(d: Deployer, steth: Contract, seed: int = POOL_SEED, sold: int = POOL_STETH_SOLD) -> Contract:
    """Curve's ETH/stETH pool, seeded by the participant with `seed` of each coin (stETH from
    its stake), then `sold` stETH sold into it for ETH."""
    lp = d.deploy(CURVE_LP, "Curve.fi ETH/stETH", "steCRV")
    pool = d.deploy(CURVE_POOL, d.admin, [ETH_COIN, steth.address], lp.address, POOL_A, POOL_FEE, POOL_ADMIN_FEE)
    d.send(lp.functions.set_minter(pool.address))
    d.send(steth.functions.approve(pool.address, seed + sold), d.participant)
    d.send(pool.functions.add_liquidity([seed, seed], 0), d.participant, value=seed)
    if sold:
        d.send(pool.functions.exchange(1, 0, sold, 0), d.participant)
    return pool
