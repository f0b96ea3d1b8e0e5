"""The local stack's Aave V3 markets: stand-in Pools (`AaveV3Pool`) with one aToken
(`AaveAToken`) per reserve and the variable debt token the Pool deploys for it, on Ethereum a second Pool serving as Spark, each reserve seeded
by another participant who supplies and borrows, so it has utilisation and interest.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from typing import Any

from web3.contract import Contract

from floor.devnet.context import DeployContext, Deployer
from floor.protocols.aave_v3 import PROTOCOL
from floor.protocols.aave_v3.reserve import VARIABLE_DEBT_TOKEN

RAY = 10**27
POOL, A_TOKEN = PROTOCOL.contracts

# Per chain: (protocol, aToken symbol prefix, reserves). One pool per protocol.
LAYOUT = {
    1: [("aave-v3", "a", ["USDC", "WETH", "DAI"]), ("spark", "sp", ["USDC", "DAI"])],
    42161: [("aave-v3", "a", ["USDC", "WETH"])],
}

# Interest-rate model of every stand-in reserve: borrow APR = slope * utilisation.
SLOPE_RAY = RAY // 10  # 10% APR at full utilisation


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    d = ctx.deployer
    markets = []
    for protocol, prefix, assets in LAYOUT.get(ctx.chain_id, []):
        pool = d.deploy(POOL, d.admin)
        for symbol in assets:
            token = ctx.tokens[symbol]
            a_token = d.deploy(
                A_TOKEN, pool.address, token.address, f"{protocol} {symbol}", f"{prefix}{symbol}", ctx.decimals(symbol)
            )
            d.send(pool.functions.initReserve(token.address, a_token.address, 0, SLOPE_RAY))
            debt_token = pool.functions.getReserveData(token.address).call()[VARIABLE_DEBT_TOKEN]
            seed(d, token, pool, ctx.participant_supply(symbol), ctx.borrowed(ctx.participant_supply(symbol)))
            markets.append(
                {
                    "protocol": protocol,
                    "adapter": "aave_v3",
                    "market": symbol,
                    "asset": symbol,
                    "pool": pool.address,
                    "a_token": a_token.address,
                    "variable_debt_token": debt_token,
                }
            )
    return markets


def seed(d: Deployer, token: Contract, pool: Contract, supplied: int, borrowed: int) -> None:
    """Another participant supplies `supplied` and borrows `borrowed` of it back."""
    d.send(token.functions.mint(d.participant, supplied))
    d.send(token.functions.approve(pool.address, supplied), d.participant)
    d.send(pool.functions.supply(token.address, supplied, d.participant, 0), d.participant)
    d.send(pool.functions.borrow(token.address, borrowed, 2, 0, d.participant), d.participant)
