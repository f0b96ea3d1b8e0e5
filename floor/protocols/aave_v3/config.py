"""An Aave V3 market in the engine's configuration: the Pool, the reserve's aToken and,
optionally, its variable debt token."""

from __future__ import annotations

from typing import Literal

from floor.configbase import Address
from floor.protocols.base import MarketBase


class AaveV3MarketConfig(MarketBase):
    adapter: Literal["aave_v3"]
    pool: Address
    a_token: Address
    # The reserve's variable debt token (getReserveData's variableDebtTokenAddress). With it
    # the deposit pre-check adds the treasury's share of the interest since the reserve's last
    # update before checking the supply cap, as the pool does; without it the check counts
    # only what is already accrued and a deposit close to the cap may be refused at estimation.
    variable_debt_token: Address | None = None
