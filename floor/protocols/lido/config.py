"""A Lido market in the engine's configuration: stETH (the Lido contract), its withdrawal
queue and, optionally, wstETH. The market's `asset` is the chain's WETH: the treasury keeps
ETH wrapped, and the adapter unwraps it to stake and wraps what a claim pays back. An optional
`instant_exit_pool` (address, kind) names a Curve ETH/stETH pool the adapter can quote and sell
stETH through now, instead of the queue."""

from __future__ import annotations

from typing import Literal

from floor.configbase import Address
from floor.protocols.base import MarketBase
from floor.protocols.lido.instant_exit import InstantExitPool


class LidoMarketConfig(MarketBase):
    adapter: Literal["lido"]
    steth: Address
    withdrawal_queue: Address  # WithdrawalQueueERC721
    wsteth: Address | None = None  # not used by the adapter yet: positions are held as stETH
    # A Curve ETH/stETH pool for instant exits (`instant_exit.py`); the queue stays the planned exit.
    instant_exit_pool: InstantExitPool | None = None
    # The engine's LidoWithdrawalValuer (contracts/src/valuers): the executor values the
    # treasury's withdrawal requests through it; without one, no request can be made.
    withdrawal_valuer: Address | None = None
