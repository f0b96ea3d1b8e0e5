"""A Rocket Pool market in the engine's configuration: RocketStorage, and the deposit pool and
rETH it names, resolved once (by the deploy hook, or by whoever writes the config) and stored.

The executor's rules name their addresses, so they cannot be looked up afresh at each read:
the adapter checks RocketStorage's `contract.address` key for the deposit pool before every
deposit and refuses by name (`DepositPoolMoved`) once Rocket Pool has upgraded it. rETH has
never been redeployed. The market's `asset` is the chain's WETH. An optional
`instant_exit_pool` (address, kind) names a Curve ETH/rETH pool the adapter can quote and sell
rETH through when a burn is beyond rETH's collateral."""

from __future__ import annotations

from typing import Literal

from floor.configbase import Address
from floor.protocols.base import MarketBase
from floor.protocols.lido.instant_exit import InstantExitPool


class RocketPoolMarketConfig(MarketBase):
    adapter: Literal["rocket_pool"]
    rocket_storage: Address
    deposit_pool: Address  # RocketStorage's contract.address + "rocketDepositPool"
    reth: Address  # RocketStorage's contract.address + "rocketTokenRETH"
    # A Curve ETH/rETH pool for instant exits beyond rETH's collateral (`instant_exit.py`).
    instant_exit_pool: InstantExitPool | None = None
