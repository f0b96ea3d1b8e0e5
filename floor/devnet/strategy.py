"""A treasury on the local chains: its strategy (bps of the whole floor per market) and the
amounts it allocates, minted to the executor from the local tokens. The integration tests'
engines and the soak run it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from web3 import Web3

from floor.config import Settings
from floor.devnet.context import Deployer

# bps of the whole floor per market; each (chain, token) leg splits by these, relatively.
STRATEGY = [
    (1, "aave-v3", "USDC", 1_200),
    (1, "metamorpho", "steakUSDC", 1_200),
    (1, "spark", "USDC", 600),
    (1, "aave-v3", "WETH", 1_800),
    (1, "metamorpho", "gtWETH", 1_200),
    (42161, "aave-v3", "USDC", 1_000),
    (42161, "metamorpho", "gtUSDC", 1_000),
]
TREASURY = {(1, "USDC"): 600_000 * 10**6, (1, "WETH"): 300 * 10**18, (42161, "USDC"): 400_000 * 10**6}


def strategy_targets() -> list[dict[str, Any]]:
    """`STRATEGY` as the settings' `strategy.targets`."""
    return [{"chain_id": c, "protocol": p, "market": m, "weight_bps": w} for c, p, m, w in STRATEGY]


def fund(settings: Settings, web3s: Mapping[int, Web3], amounts: Mapping[tuple[int, str], int] = TREASURY) -> None:
    """Mint `amounts` ((chain, token) -> base units) to each chain's executor: funds arriving."""
    for (chain_id, asset), amount in amounts.items():
        chain = settings.chain(chain_id)
        d = Deployer(web3s[chain_id])
        d.send(d.at("TestERC20", chain.token(asset).address).functions.mint(chain.executor, amount))


def allocate_request(amounts: Mapping[tuple[int, str], int], by: str) -> dict[str, Any]:
    """An allocate command's request for `amounts` ((chain, token) -> base units), asked by `by`."""
    return {
        "by": by,
        "reason": "new capital",
        "amounts": [{"chain_id": c, "asset": a, "amount": str(v)} for (c, a), v in amounts.items()],
    }
