"""The local stack's Balancer V2 market, on Ethereum only: a Vault, a composable stable pool over
the stack's USDC and DAI (amplification 200, swap fee 0.04%), seeded by another participant with
an INIT join of a million of each, and BalancerHelpers for queries. The treasury's market joins
and exits with USDC.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from typing import Any

from floor.devnet.context import DeployContext
from floor.protocols.balancer_v2 import PROTOCOL
from floor.protocols.balancer_v2.adapter import init_user_data

VAULT, POOL, HELPERS = PROTOCOL.contracts
COINS = ("USDC", "DAI")
ASSET = "USDC"
AMPLIFICATION = 200
SWAP_FEE = 4 * 10**14  # 0.04%, 18 decimals
SEED = 1_000_000  # whole coins of each, from the participant
MAX_UINT = 2**256 - 1

CHAINS = (1,)


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    if ctx.chain_id not in CHAINS:
        return []
    d = ctx.deployer
    vault = d.deploy(VAULT)
    coins = sorted((ctx.tokens[s] for s in COINS), key=lambda t: int(t.address, 16))
    pool = d.deploy(
        POOL,
        vault.address,
        "Balancer USDC-DAI Stable",
        "USDC-DAI-BPT",
        [c.address for c in coins],
        AMPLIFICATION,
        SWAP_FEE,
    )
    helpers = d.deploy(HELPERS, vault.address)
    pool_id = pool.functions.getPoolId().call()
    tokens, _, _ = vault.functions.getPoolTokens(pool_id).call()

    seeds = {}
    for coin in coins:
        amount = SEED * 10 ** coin.functions.decimals().call()
        seeds[coin.address] = amount
        d.send(coin.functions.mint(d.participant, amount))
        d.send(coin.functions.approve(vault.address, amount), d.participant)
    amounts = [seeds.get(t, 0) for t in tokens]
    limits = [seeds.get(t, MAX_UINT) for t in tokens]  # the BPT's: the preminted supply the Vault takes
    request = (tokens, limits, init_user_data(amounts), False)
    d.send(vault.functions.joinPool(pool_id, d.participant, d.participant, request), d.participant)
    return [
        {
            "protocol": "balancer-v2",
            "adapter": "balancer_v2",
            "market": "USDC-DAI stable",
            "asset": ASSET,
            "vault": vault.address,
            "pool": pool.address,
            "pool_id": "0x" + pool_id.hex(),
            "helpers": helpers.address,
            "tokens": list(tokens),
        }
    ]
