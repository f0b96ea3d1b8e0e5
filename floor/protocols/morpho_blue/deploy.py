"""The local stack's Morpho Blue market: a Morpho singleton stand-in (`Morpho`) on Ethereum
with one USDC market against WETH collateral at 86% LLTV ("USDC-WETH-86"), a linear IRM
(`MorphoLinearIrm`: 1% APR at zero utilisation plus 20% at full) and a fixed-price oracle
(`MorphoFixedPriceOracle`, 3,000 USDC per WETH). Another participant supplies USDC, posts WETH
collateral and borrows part of the USDC back, so the market has utilisation and interest.

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from typing import Any

from floor.devnet.context import PRICES, DeployContext
from floor.protocols.morpho_blue import PROTOCOL

MORPHO, IRM, ORACLE = PROTOCOL.contracts
WAD = 10**18
YEAR = 365 * 24 * 3600
ORACLE_PRICE_SCALE = 10**36

# Per chain: (market name, loan token, collateral token, LLTV).
LAYOUT = {1: [("USDC-WETH-86", "USDC", "WETH", 86 * 10**16)]}
IRM_BASE = 10**16 // YEAR  # 1% APR at zero utilisation, per second (WAD)
IRM_SLOPE = 2 * 10**17 // YEAR  # plus 20% APR at full utilisation


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    d = ctx.deployer
    layout = LAYOUT.get(ctx.chain_id, [])
    if not layout:
        return []
    morpho = d.deploy(MORPHO, d.admin)
    irm = d.deploy(IRM, IRM_BASE, IRM_SLOPE)
    d.send(morpho.functions.enableIrm(irm.address))
    valuer = d.deploy("MorphoSupplyValuer")  # the engine's, for the executor's loss bound
    markets = []
    for name, loan, collateral, lltv in layout:
        loan_token, collateral_token = ctx.tokens[loan], ctx.tokens[collateral]
        # One collateral unit in loan units, scaled by 1e36 (Morpho's oracle convention).
        price = PRICES[collateral] * 10 ** ctx.decimals(loan) * ORACLE_PRICE_SCALE
        price //= PRICES[loan] * 10 ** ctx.decimals(collateral)
        oracle = d.deploy(ORACLE, d.admin, price)
        d.send(morpho.functions.enableLltv(lltv))
        params = (loan_token.address, collateral_token.address, oracle.address, irm.address, lltv)
        d.send(morpho.functions.createMarket(params))

        supplied = ctx.participant_supply(loan)
        borrowed = ctx.borrowed(supplied)
        # Collateral worth twice the borrow, at the oracle's price.
        collateral_amount = 2 * borrowed * ORACLE_PRICE_SCALE // price
        d.send(loan_token.functions.mint(d.participant, supplied))
        d.send(loan_token.functions.approve(morpho.address, supplied), d.participant)
        d.send(morpho.functions.supply(params, supplied, 0, d.participant, b""), d.participant)
        d.send(collateral_token.functions.mint(d.participant, collateral_amount))
        d.send(collateral_token.functions.approve(morpho.address, collateral_amount), d.participant)
        d.send(morpho.functions.supplyCollateral(params, collateral_amount, d.participant, b""), d.participant)
        d.send(morpho.functions.borrow(params, borrowed, 0, d.participant, d.participant), d.participant)
        markets.append(
            {
                "protocol": "morpho-blue",
                "adapter": "morpho_blue",
                "market": name,
                "asset": loan,
                "morpho": morpho.address,
                "collateral_token": collateral_token.address,
                "oracle": oracle.address,
                "irm": irm.address,
                "lltv": lltv,
                "supply_valuer": valuer.address,
            }
        )
    return markets
