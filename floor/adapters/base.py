"""The adapter interface: pure encoders and decoders for one market of one protocol.

An adapter never sends anything. It builds the executor's calls (deposit with its approval
and the approval's reset, withdraw), the reads a position, a rate and the liquidity need
(sent by the Multicall3 reader), and decodes their results into base units and rates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from floor.calls import ReadCall, ReadResult, call, selector
from floor.models import AdapterKey, Call

SECONDS_PER_YEAR = 365 * 24 * 3600
RAY = 10**27
MAX_UINT256 = 2**256 - 1


@dataclass(frozen=True)
class Asset:
    symbol: str
    address: str
    decimals: int


@dataclass(frozen=True)
class PositionReading:
    amount: int  # underlying base units
    shares: int | None = None


@dataclass(frozen=True)
class LiquidityReading:
    position: int
    market_available: int
    withdrawable: int


@dataclass(frozen=True)
class RateSnapshot:
    """A market's growth index at one time: underlying per unit of claim, scaled by 1e27.

    Two snapshots give the realised rate; `quoted_apr` is the protocol's own current rate
    where it publishes one (Aave's currentLiquidityRate), else None.
    """

    timestamp: int
    growth_index: int
    quoted_apr: float | None = None


class Adapter(ABC):
    key: AdapterKey
    asset: Asset

    # -- writes -----------------------------------------------------------------------
    @abstractmethod
    def deposit_calls(self, amount: int, account: str) -> list[Call]:
        """Calls that move `amount` of the asset from `account` (the executor) into the market."""

    @abstractmethod
    def withdraw_calls(self, amount: int, account: str, receiver: str) -> list[Call]:
        """Calls that take `amount` of the asset out of the market to `receiver`."""

    @abstractmethod
    def withdraw_all_calls(self, position: PositionReading, account: str, receiver: str) -> list[Call]:
        """Calls that take the whole position out, leaving no dust behind."""

    @abstractmethod
    def allowlist(self) -> list[tuple[str, bytes]]:
        """(target, selector) pairs the executor must allow for this adapter's calls."""

    # -- reads ------------------------------------------------------------------------
    @abstractmethod
    def position_reads(self, account: str) -> list[ReadCall]: ...

    @abstractmethod
    def decode_position(self, results: Sequence[ReadResult]) -> PositionReading: ...

    @abstractmethod
    def liquidity_reads(self, account: str) -> list[ReadCall]: ...

    @abstractmethod
    def decode_liquidity(self, results: Sequence[ReadResult]) -> LiquidityReading: ...

    @abstractmethod
    def rate_reads(self) -> list[ReadCall]: ...

    @abstractmethod
    def decode_rate(self, results: Sequence[ReadResult], timestamp: int) -> RateSnapshot: ...

    # -- shared helpers ---------------------------------------------------------------
    def _approved(self, spender: str, amount: int, action: Call) -> list[Call]:
        """approve(amount), the action, approve(0): no allowance outlives the batch."""
        return [
            call(self.asset.address, "approve(address,uint256)", spender, amount),
            action,
            call(self.asset.address, "approve(address,uint256)", spender, 0),
        ]


def approve_selector() -> bytes:
    return selector("approve(address,uint256)")


def check_amount(amount: int, what: str) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"{what}: amount must be a positive integer in base units, got {amount!r}")
