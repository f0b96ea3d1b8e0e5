"""The local stack's Rocket Pool market, on Ethereum only: RocketStorage with the vault,
network balances, deposit pool and rETH registered under their `contract.address` keys, as
Rocket Pool's deployment does; another participant's deposit; and one balances submission,
so rETH's exchange rate starts above 1:1.

The deployer's admin (anvil's account 0) is RocketStorage's guardian, which the stand-ins take
as the oracle DAO (`submitBalances` moves the exchange rate) and as the deposit settings'
and minipool queue's authority (`setDepositSettings`, `enqueueMinipools`). The deposit pool
and rETH are resolved through RocketStorage here, once, and stored in the market's config.

A Curve ETH/rETH pool (`CurveStableSwapRETH`, its LP token a `CurveTokenV3`) for instant
exits beyond rETH's collateral: the other participant seeds it with ETH and rETH (of equal
value at rETH's rate) and sells some rETH into it, so rETH trades a little under
`getEthValue`, A = 100, fee 0.04% with half to the admin. The market's config names it as
`instant_exit_pool`.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from typing import Any

from web3 import Web3
from web3.contract import Contract

from floor.devnet.context import DeployContext, Deployer
from floor.protocols.lido.instant_exit import ETH_COIN
from floor.protocols.rocket_pool import PROTOCOL
from floor.protocols.rocket_pool.adapter import contract_key

STORAGE, VAULT, BALANCES, DEPOSIT_POOL, RETH, CURVE_POOL = PROTOCOL.contracts
CURVE_LP = "CurveTokenV3"
NAMES = {
    VAULT: "rocketVault",
    BALANCES: "rocketNetworkBalances",
    DEPOSIT_POOL: "rocketDepositPool",
    RETH: "rocketTokenRETH",
}
ETH = 10**18
PARTICIPANT_DEPOSIT = 1_000 * ETH
RATE_START = (11, 10)  # the first submission reports 1.1 ETH per rETH

# The ETH/rETH pool: A, fee and admin fee (1e10 = 100%), the ETH the participant seeds it with
# (and rETH worth as much), and the rETH it sells into it afterwards.
POOL_A = 100
POOL_FEE = 4_000_000  # 0.04%
POOL_ADMIN_FEE = 5_000_000_000  # 50%
POOL_SEED_ETH = 200 * ETH
POOL_RETH_SOLD = 15 * ETH

CHAINS = (1,)


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    if ctx.chain_id not in CHAINS:
        return []
    d = ctx.deployer
    storage = d.deploy(STORAGE)  # the deployer (admin) is the guardian
    for contract, name in NAMES.items():
        deployed = d.deploy(contract, storage.address)
        address = bytes.fromhex(deployed.address[2:])
        d.send(storage.functions.setBool(Web3.keccak(b"contract.exists" + address), True))
        d.send(storage.functions.setString(Web3.keccak(b"contract.name" + address), name))
        d.send(storage.functions.setAddress(contract_key(name), deployed.address))
    d.send(storage.functions.setDeployedStatus())
    pool = d.at(DEPOSIT_POOL, storage.functions.getAddress(contract_key("rocketDepositPool")).call())
    reth = d.at(RETH, storage.functions.getAddress(contract_key("rocketTokenRETH")).call())
    balances = d.at(BALANCES, storage.functions.getAddress(contract_key("rocketNetworkBalances")).call())

    d.send(pool.functions.deposit(), d.participant, value=PARTICIPANT_DEPOSIT)
    supply = reth.functions.totalSupply().call()
    total = supply * RATE_START[0] // RATE_START[1]
    block = d.w3.eth.get_block(d.w3.eth.block_number - 1)  # a past block, as the oracle DAO reports
    d.send(balances.functions.submitBalances(block["number"], block["timestamp"], total, total, supply))
    curve = deploy_reth_pool(d, reth)
    return [
        {
            "protocol": "rocket-pool",
            "adapter": "rocket_pool",
            "market": "rETH",
            "asset": "WETH",
            "rocket_storage": storage.address,
            "deposit_pool": pool.address,
            "reth": reth.address,
            "instant_exit_pool": {"address": curve.address, "kind": "curve_stableswap_eth"},
        }
    ]


def deploy_reth_pool(
    d: Deployer, reth: Contract, seed_eth: int = POOL_SEED_ETH, sold: int = POOL_RETH_SOLD
) -> Contract:
    """A Curve ETH/rETH pool, seeded by the participant with `seed_eth` of ETH and the rETH
    worth as much (from its deposit), then `sold` rETH sold into it for ETH."""
    lp = d.deploy(CURVE_LP, "Curve.fi ETH/rETH", "rCRV")
    pool = d.deploy(CURVE_POOL, d.admin, [ETH_COIN, reth.address], lp.address, POOL_A, POOL_FEE, POOL_ADMIN_FEE)
    d.send(lp.functions.set_minter(pool.address))
    seed_reth = reth.functions.getRethValue(seed_eth).call()
    d.send(reth.functions.approve(pool.address, seed_reth + sold), d.participant)
    d.send(pool.functions.add_liquidity([seed_eth, seed_reth], 0), d.participant, value=seed_eth)
    if sold:
        d.send(pool.functions.exchange(1, 0, sold, 0), d.participant)
    return pool
