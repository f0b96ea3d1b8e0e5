"""Pydantic models shared by every layer: adapters, chain access, activities, workflows.

Amounts are integers in token base units; the token's decimals travel beside them. In JSON
(Temporal payloads, the Web UI, the API) amounts are written as decimal strings, because
JavaScript readers lose precision above 2**53 (500 WETH is 5e20 wei).
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Final

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    WithJsonSchema,
)

UINT256_MAX = 2**256 - 1


def _base_units(value: Any) -> Any:
    """Base units are whole: an int (not a bool), or a string of digits (JSON's way to carry
    one above 2**53). "1000.00", "1e6", " 5", "-1", 5.0 are refused, never reinterpreted: a
    decimal figure in a base-unit field is a unit mistake (1000.00 USDC is 1000000000)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a whole number of base units: a JSON integer or a string of digits")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 78):
            raise ValueError(
                "must be a whole number of base units: a string of digits only (no decimal point, sign,"
                " exponent or spaces)"
            )
        value = int(value)
    if not 0 <= value <= UINT256_MAX:
        raise ValueError("must be a whole number of base units between 0 and 2**256 - 1")
    return value


# An amount in token base units (0 to 2**256 - 1), serialised to JSON as a string, read back
# from an int or a string of digits only.
Amount = Annotated[
    int,
    BeforeValidator(_base_units),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]{1,78}$"}],
            "description": "token base units: a JSON integer or a string of digits (no decimal point)",
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "string", "pattern": "^[0-9]{1,78}$", "description": "token base units, a string of digits"},
        mode="serialization",
    ),
    PlainSerializer(str, return_type=str, when_used="json"),
]


def _signed_base_units(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("-"):
        return -_base_units(value[1:])
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return -_base_units(-value)
    return _base_units(value)


# A signed change in token base units (a yield that lost value, a withdrawal's -amount), or a
# large integer of the same kind (a growth index): serialised to JSON as a string too.
SignedAmount = Annotated[
    int,
    BeforeValidator(_signed_base_units),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string", "pattern": "^-?[0-9]{1,78}$"}],
            "description": "signed token base units: a JSON integer or a string of digits with an optional -",
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "string", "pattern": "^-?[0-9]{1,78}$", "description": "signed token base units, a string"},
        mode="serialization",
    ),
    PlainSerializer(str, return_type=str, when_used="json"),
]


def short(amount: int, decimals: int) -> str:
    """Base units as a human figure, exact (for summaries, never for arithmetic):
    short(1_500_250_000, 6) is "1,500.25"; a negative amount keeps its sign."""
    if amount < 0:
        return "-" + short(-amount, decimals)
    whole, frac = divmod(amount, 10**decimals)
    text = f"{whole:,}"
    if frac and decimals:
        text += "." + f"{frac:0{decimals}d}".rstrip("0")
    return text


def units(amount: int, decimals: int | None, symbol: str) -> str:
    """An amount for people, in token units with its symbol ("50,000 USDC", "-0.5 WETH"); in
    base units, said so, only where the token's decimals are not known."""
    if decimals is None:
        return f"{amount} base units of {symbol}"
    return f"{short(amount, decimals)} {symbol}"


# A chain id at the doors: a JSON number (a string "42161" is refused), positive, and one a
# JavaScript reader keeps exact.
ChainId = Annotated[StrictInt, Field(ge=1, le=2**53 - 1)]


class Priority(IntEnum):
    """Order of pending transaction intents: lower first; first come, first served within one."""

    CRITICAL = 0  # incident response: also sent when fees are above the chain's cap
    HIGH = 1
    NORMAL = 2
    LOW = 3


def _iso_time(value: Any) -> Any:
    if isinstance(value, datetime | str):
        return value
    raise ValueError("must be an ISO 8601 time with its zone, as a JSON string (e.g. 2030-01-01T17:00:00Z)")


# A time at the doors: an ISO 8601 string (a JSON number is not read as seconds since 1970),
# with its zone (a time without one means a different instant to every reader).
Deadline = Annotated[AwareDatetime, BeforeValidator(_iso_time)]
IsoTime = Annotated[datetime, BeforeValidator(_iso_time)]  # the zone checked by its reader


def _priority(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):  # "2" or true is not a priority
        raise ValueError("must be 0 (critical), 1 (high), 2 (normal) or 3 (low), a JSON integer")
    return value


# A priority at the doors: a JSON integer only.
StrictPriority = Annotated[Priority, BeforeValidator(_priority)]


class FrozenModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AdapterKey(FrozenModel):
    """One market of one protocol on one chain: the registry's key."""

    chain_id: ChainId
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
VALUE_DECIMALS: Final = 8  # Final: 10**VALUE_DECIMALS is then typed int


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
        return int(10**self.decimals)  # int() types it: a power of an int is typed Any


def value_of(amount: int, decimals: int, price: Price) -> int:
    """The value of `amount` base units of a token with `decimals`, in USD with VALUE_DECIMALS
    (the accounting unit), rounded down: amount * price * 10**8 / 10**(decimals + price's
    decimals) in one integer division, so nothing is lost before the last step (2**128 wei
    of WETH at $3,000 is exact)."""
    return amount * price.price * 10**VALUE_DECIMALS // int(10 ** (decimals + price.decimals))
