"""Rocket Pool's refusals, named, and the revert strings that mean them (RocketDepositPool and
RocketTokenRETH, Houston)."""

from __future__ import annotations

from floor.errors import InsufficientBalance, InsufficientLiquidity, InvalidAmount, MarketRefused
from floor.protocols.base import KnownRevert


class DepositsDisabled(MarketRefused):
    """Rocket Pool's deposits are disabled by its protocol DAO."""


class BelowMinimumDeposit(InvalidAmount):
    """The deposit is below the deposit pool's minimum (0.01 ETH on mainnet)."""


class DepositPoolFull(MarketRefused):
    """The deposit would take the deposit pool above its maximum size (`getMaximumDepositAmount`)."""


class DepositPoolMoved(MarketRefused):
    """RocketStorage names another deposit pool than the configured one: Rocket Pool upgraded
    it, and the executor's rules (and the config) must follow before deposits go on."""


class InsufficientCollateral(InsufficientLiquidity):
    """rETH's collateral (the ETH it holds and the deposit pool's excess) does not cover the burn."""


REVERTS = (
    KnownRevert(
        "DepositsDisabled",
        DepositsDisabled,
        "deposits are disabled",
        code="Deposits into Rocket Pool are currently disabled",
    ),
    KnownRevert(
        "MinimumDeposit",
        BelowMinimumDeposit,
        "the deposit is below the minimum",
        code="The deposited amount is less than the minimum deposit size",
    ),
    KnownRevert(
        "MaximumPoolSizeWithMinipools",
        DepositPoolFull,
        "the deposit pool would pass its maximum size, minipool queue included",
        code="The deposit pool size after depositing (and matching with minipools) exceeds the maximum size",
    ),
    KnownRevert(
        "MaximumPoolSize",
        DepositPoolFull,
        "the deposit pool would pass its maximum size",
        code="The deposit pool size after depositing exceeds the maximum size",
    ),
    KnownRevert(
        "InsufficientCollateral",
        InsufficientCollateral,
        "rETH's collateral does not cover the burn",
        code="Insufficient ETH balance for exchange",
    ),
    KnownRevert("InvalidBurnAmount", InvalidAmount, "a burn of zero rETH", code="Invalid token burn amount"),
    KnownRevert(
        "InsufficientRethBalance",
        InsufficientBalance,
        "more rETH than the holder has",
        code="Insufficient rETH balance",
    ),
    KnownRevert(
        "OutdatedContract",
        DepositPoolMoved,
        "the contract is not the latest registered",
        code="Invalid or outdated contract",
    ),
)
