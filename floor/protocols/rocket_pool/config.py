"""A Rocket Pool market in the engine's configuration: RocketStorage, and the deposit pool and
rETH it names, resolved once (by the deploy hook, or by whoever writes the config) and stored.

The executor's rules name their addresses, so they cannot be looked up afresh at each read:
the adapter checks RocketStorage's `contract.address` key for the deposit pool before every
deposit and refuses by name (`DepositPoolMoved`) once Rocket Pool has upgraded it. rETH has
never been redeployed. The market's `asset` is the chain's WETH."""

from __future__ import annotations

from typing import Literal

from floor.configbase import Address
from floor.protocols.base import MarketBase


class RocketPoolMarketConfig(MarketBase):
    adapter: Literal["rocket_pool"]
    rocket_storage: Address
    deposit_pool: Address  # RocketStorage's contract.address + "rocketDepositPool"
    reth: Address  # RocketStorage's contract.address + "rocketTokenRETH"
