"""The local stack's ERC-4626 markets: stand-in vaults (`ERC4626Vault`), MetaMorpho-like on
both chains and sDAI-like on Ethereum, each with another participant's deposit of which the
vault lends a part out, so it earns interest and has finite liquidity.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from typing import Any

from web3.contract import Contract

from floor.devnet.context import DeployContext, Deployer
from floor.protocols.erc4626 import PROTOCOL

(VAULT,) = PROTOCOL.contracts
WAD = 10**18
YEAR = 365 * 24 * 3600

# Per chain: (protocol, vault name, asset).
LAYOUT = {
    1: [("metamorpho", "steakUSDC", "USDC"), ("metamorpho", "gtWETH", "WETH"), ("sdai", "sDAI", "DAI")],
    42161: [("metamorpho", "gtUSDC", "USDC")],
}

BORROW_APR = 0.06  # what the vault's borrower pays, simple interest


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    d = ctx.deployer
    markets = []
    for protocol, name, symbol in LAYOUT.get(ctx.chain_id, []):
        token = ctx.tokens[symbol]
        vault = d.deploy(VAULT, token.address, name, name, d.admin)
        d.send(vault.functions.setBorrowRate(int(BORROW_APR * WAD) // YEAR))
        supplied = ctx.participant_supply(symbol)
        seed(d, token, vault, supplied, ctx.borrowed(supplied))
        markets.append(
            {"protocol": protocol, "adapter": "erc4626", "market": name, "asset": symbol, "vault": vault.address}
        )
    return markets


def seed(d: Deployer, token: Contract, vault: Contract, supplied: int, lent: int) -> None:
    """Another participant deposits `supplied`; the vault lends `lent` of it out."""
    d.send(token.functions.mint(d.participant, supplied))
    d.send(token.functions.approve(vault.address, supplied), d.participant)
    d.send(vault.functions.deposit(supplied, d.participant), d.participant)
    d.send(vault.functions.lend(lent, d.participant))
