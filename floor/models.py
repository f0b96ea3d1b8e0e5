"""Pydantic models shared by every layer: adapters, chain access, activities, workflows.

Amounts are integers in token base units; the token's decimals travel beside them. In JSON
(Temporal payloads, the Web UI, the API) amounts are written as decimal strings, because
JavaScript readers lose precision above 2**53 (500 WETH is 5e20 wei).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

# An amount in token base units, serialised to JSON as a string, read back from int or str.
Amount = Annotated[int, Field(ge=0), PlainSerializer(str, return_type=str, when_used="json")]


class Priority(IntEnum):
    """Order of pending transaction intents: lower first; first come, first served within one."""

    CRITICAL = 0  # incident response: also sent when fees are above the chain's cap
    HIGH = 1
    NORMAL = 2
    LOW = 3


class FrozenModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AdapterKey(FrozenModel):
    """One market of one protocol on one chain: the registry's key."""

    chain_id: int
    protocol: str  # e.g. "aave-v3", "spark", "metamorpho"
    market: str  # e.g. "USDC" or a vault's name

    def __str__(self) -> str:
        return f"{self.chain_id}:{self.protocol}:{self.market}"


class Call(FrozenModel):
    """One call the executor contract makes: adapters build these, they never send."""

    target: str
    value: Amount = 0
    data: str  # 0x-prefixed calldata


class Position(FrozenModel):
    """What the treasury holds in one market, read from the chain at one block."""

    key: AdapterKey
    asset: str  # token symbol
    asset_address: str
    decimals: int
    amount: Amount  # underlying base units
    shares: Amount | None = None  # vault shares, where the protocol has them
    block_number: int


class Rate(FrozenModel):
    """A yield as fractions per year (0.035 is 3.5%). APR is simple, APY compounds."""

    apr: float
    apy: float
    source: str  # "quoted" (the protocol's own rate) or "realised" (measured over time)


class Liquidity(FrozenModel):
    """What the treasury could withdraw from one market now, and what the market holds."""

    key: AdapterKey
    position: Amount
    market_available: Amount  # underlying the market can pay out now
    withdrawable: Amount  # min(position, what the market lets this account take)
    block_number: int


class TxRecord(FrozenModel):
    """A mined transaction, as read back from its receipt."""

    chain_id: int
    tx_hash: str
    nonce: int
    block_number: int
    gas_used: int
    effective_gas_price: Amount
    status: int  # 1 success, 0 reverted
    calls: int  # how many executor calls it carried


# The accounting unit: USD with 8 decimals, as Chainlink's USD feeds answer (1_00000000 is $1).
VALUE_DECIMALS = 8


class Price(FrozenModel):
    """One token's USD price from its Chainlink feed, at one block: `price` units of
    10**-decimals USD per whole token (decimals 8: 3000_00000000 is $3,000.00), the feed's
    latest round as read (`updated_at`, its round id), positive and within the heartbeat."""

    symbol: str
    price: Amount = Field(gt=0)
    decimals: int = Field(ge=0, le=36)
    block_number: int
    feed: str | None = None  # the AggregatorV3 it came from
    updated_at: int | None = None  # the round's updatedAt (unix seconds)
    round_id: int | None = None

    @property
    def unit(self) -> int:
        """One USD in the price's units."""
        return 10**self.decimals


def value_of(amount: int, decimals: int, price: Price) -> int:
    """The value of `amount` base units of a token with `decimals`, in USD with VALUE_DECIMALS
    (the accounting unit), rounded down: amount * price * 10**8 / 10**(decimals + price's
    decimals) in one integer division, so nothing is lost before the last step (2**128 wei
    of WETH at $3,000 is exact)."""
    return amount * price.price * 10**VALUE_DECIMALS // 10 ** (decimals + price.decimals)
