"""The local stack's Lido market, on Ethereum only: the stETH, wstETH and withdrawal queue
stand-ins, with another participant's stake.

The stand-in's accounting oracle is the deployer's admin (anvil's account 0): tests send
`oracleReport(clBalanceDelta)` from it to move the share rate and finalise requests (and
`depositToValidators` to move buffered ETH to the consensus layer). Lido's fee goes to the
other participant's account, standing in for Lido's own treasury.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from floor.devnet.deploy import DeployContext
from floor.protocols.lido import PROTOCOL

STETH, WSTETH, QUEUE = PROTOCOL.contracts
ETH = 10**18
BOOTSTRAP = ETH  # what the deployment stakes for Lido's initial 0xdead holder
PARTICIPANT_STAKE = 1_000 * ETH
PARTICIPANT_REWARDS = 3 * ETH  # one report's rewards, so the share rate starts off 1:1

CHAINS = (1,)


def deploy_markets(ctx: DeployContext) -> list[dict]:
    if ctx.chain_id not in CHAINS:
        return []
    d = ctx.deployer
    steth = d.deploy(STETH, d.admin, d.admin, d.participant, value=BOOTSTRAP)  # admin, oracle, fee treasury
    wsteth = d.deploy(WSTETH, steth.address)
    queue = d.deploy(QUEUE, wsteth.address, d.admin)
    d.send(steth.functions.setWithdrawalQueue(queue.address))
    d.send(steth.functions.submit(d.participant), d.participant, value=PARTICIPANT_STAKE)
    d.send(steth.functions.oracleReport(PARTICIPANT_REWARDS))
    return [
        {
            "protocol": "lido",
            "adapter": "lido",
            "market": "stETH",
            "asset": "WETH",
            "steth": steth.address,
            "wsteth": wsteth.address,
            "withdrawal_queue": queue.address,
        }
    ]
