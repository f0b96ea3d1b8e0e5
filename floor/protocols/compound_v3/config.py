"""A Compound V3 (Comet) market in the engine's configuration: the Comet proxy (one base
asset per Comet), and where its COMP rewards are paid from."""

from __future__ import annotations

from typing import Literal

from floor.configbase import Address
from floor.protocols.base import MarketBase


class CompoundV3MarketConfig(MarketBase):
    adapter: Literal["compound_v3"]
    comet: Address
    rewards: Address | None = None  # the chain's CometRewards; None: the market's rewards are not claimed
    reward_token: Address | None = None  # the token CometRewards pays for this Comet (COMP), for reports
