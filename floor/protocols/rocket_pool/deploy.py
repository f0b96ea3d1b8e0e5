"""The local stack's Rocket Pool market, on Ethereum only: RocketStorage with the vault,
network balances, deposit pool and rETH registered under their `contract.address` keys, as
Rocket Pool's deployment does; another participant's deposit; and one balances submission,
so rETH's exchange rate starts above 1:1.

The deployer's admin (anvil's account 0) is RocketStorage's guardian, which the stand-ins take
as the oracle DAO (`submitBalances` moves the exchange rate) and as the deposit settings'
and minipool queue's authority (`setDepositSettings`, `enqueueMinipools`). The deposit pool
and rETH are resolved through RocketStorage here, once, and stored in the market's config.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from web3 import Web3

from floor.devnet.deploy import DeployContext
from floor.protocols.rocket_pool import PROTOCOL
from floor.protocols.rocket_pool.adapter import contract_key

STORAGE, VAULT, BALANCES, DEPOSIT_POOL, RETH = PROTOCOL.contracts
NAMES = {
    VAULT: "rocketVault",
    BALANCES: "rocketNetworkBalances",
    DEPOSIT_POOL: "rocketDepositPool",
    RETH: "rocketTokenRETH",
}
ETH = 10**18
PARTICIPANT_DEPOSIT = 1_000 * ETH
RATE_START = (11, 10)  # the first submission reports 1.1 ETH per rETH

CHAINS = (1,)


def deploy_markets(ctx: DeployContext) -> list[dict]:
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
    return [
        {
            "protocol": "rocket-pool",
            "adapter": "rocket_pool",
            "market": "rETH",
            "asset": "WETH",
            "rocket_storage": storage.address,
            "deposit_pool": pool.address,
            "reth": reth.address,
        }
    ]
