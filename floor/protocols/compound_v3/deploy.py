"""The local stack's Compound V3 markets: a USDC Comet stand-in (`Comet`, "cUSDCv3") on
Ethereum and on Arbitrum, with Compound's USDC rate model and reward speeds; another
participant supplies and a borrower (marked collateralized, the stand-in's simplification of
posting collateral) borrows, so utilisation and interest are real; a `CometRewards` funded
with a COMP test token pays the suppliers' rewards.

The chain's token list is fixed before the protocols deploy, so COMP is not one of the
chain's tokens: its address is kept in the market config (`reward_token`).

Needs web3: imported by `floor.devnet.deploy` only when the local stack deploys.
"""

from __future__ import annotations

from typing import Any

from floor.devnet.context import DeployContext
from floor.protocols.compound_v3 import PROTOCOL

COMET, REWARDS = PROTOCOL.contracts
WAD = 10**18

# Per chain: (market name, base asset).
LAYOUT = {1: [("cUSDCv3", "USDC")], 42161: [("cUSDCv3", "USDC")]}

COMP_FUNDING = 1_000_000 * WAD  # what CometRewards holds to pay out
BORROWER_ACCOUNT = 6  # anvil's account that borrows from the Comets


def configuration(governor: str, guardian: str, base_token: str, base_unit: int) -> tuple[str | int, ...]:
    """Comet's Configuration (the stand-in's reduced struct), with a kinked rate model like
    mainnet cUSDCv3's and rewards of about 70 COMP a day on each side."""
    return (
        governor,
        guardian,
        base_token,
        85 * 10**16,  # supplyKink
        5 * 10**16,  # supplyPerYearInterestRateSlopeLow
        2 * WAD,  # supplyPerYearInterestRateSlopeHigh
        0,  # supplyPerYearInterestRateBase
        85 * 10**16,  # borrowKink
        6 * 10**16,  # borrowPerYearInterestRateSlopeLow
        3 * WAD,  # borrowPerYearInterestRateSlopeHigh
        15 * 10**15,  # borrowPerYearInterestRateBase
        10**15,  # trackingIndexScale
        810_185_185_185,  # baseTrackingSupplySpeed
        810_185_185_185,  # baseTrackingBorrowSpeed
        1_000 * base_unit,  # baseMinForRewards
        100 * base_unit,  # baseBorrowMin
        5_000_000 * base_unit,  # targetReserves
    )


def deploy_markets(ctx: DeployContext) -> list[dict[str, Any]]:
    d = ctx.deployer
    layout = LAYOUT.get(ctx.chain_id, [])
    if not layout:
        return []
    borrower = d.w3.eth.accounts[BORROWER_ACCOUNT]
    comp = d.deploy("TestERC20", "Compound", "COMP", 18)
    rewards = d.deploy(REWARDS, d.admin)
    d.send(comp.functions.mint(rewards.address, COMP_FUNDING))
    markets = []
    for name, symbol in layout:
        token = ctx.tokens[symbol]
        unit = 10 ** ctx.decimals(symbol)
        comet = d.deploy(COMET, configuration(d.admin, d.guardian, token.address, unit), f"Compound {symbol}", name)
        d.send(rewards.functions.setRewardConfig(comet.address, comp.address))
        supplied = ctx.participant_supply(symbol)
        d.send(token.functions.mint(d.participant, supplied))
        d.send(token.functions.approve(comet.address, supplied), d.participant)
        d.send(comet.functions.supply(token.address, supplied), d.participant)
        d.send(comet.functions.setBorrowCollateralized(borrower, True))
        d.send(comet.functions.withdraw(token.address, ctx.borrowed(supplied)), borrower)
        markets.append(
            {
                "protocol": "compound-v3",
                "adapter": "compound_v3",
                "market": name,
                "asset": symbol,
                "comet": comet.address,
                "rewards": rewards.address,
                "reward_token": comp.address,
            }
        )
    return markets
