"""Reconciliation, pure: what the chain holds against what the engine expects it to hold.

The engine's cached view of a market is its last snapshot (written by every read of an
operation) plus the planned effects of the transactions confirmed since. Interest and rebases
move a position between reads, so the cache is first carried forward by the market's growth
index (an aToken's liquidity index, a vault's share price): expected = cached x index now /
index then. What is left is classified:

- `match`: the chain holds exactly the cache;
- `accrual`: it differs from the cache, but from the cache carried forward by no more than
  the relative tolerance (default 5 bps) or the token's dust epsilon;
- `dust`: it differs from the cache by no more than the token's dust epsilon;
- `discrepancy`: anything else, with its size in base units and in bps of the expectation.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BPS = 10_000
MAX_BPS = 10**12

Kind = Literal["match", "accrual", "dust", "discrepancy"]


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    chain_id: int
    market: str  # str(AdapterKey)
    asset: str
    decimals: int
    cached: int  # the last snapshot plus confirmed effects since
    expected: int  # the cache carried forward by the growth index
    actual: int  # read from the chain now
    kind: Kind
    block_number: int
    growth_index: int | None = None

    @property
    def difference(self) -> int:
        return self.actual - self.expected

    @property
    def relative_bps(self) -> int:
        """The difference in bps of what was expected (capped: a market expected near zero
        that holds something is "huge", not a number too large to store)."""
        return min(abs(self.difference) * BPS // max(self.expected, 1), MAX_BPS)


def carried_forward(cached: int, index_then: int | None, index_now: int | None) -> int:
    """The cache grown by the market's index since it was read (as is, without both indexes)."""
    if not index_then or not index_now:
        return cached
    return cached * index_now // index_then


def classify(cached: int, expected: int, actual: int, tolerance_bps: int, dust: int) -> Kind:
    if actual == cached:
        return "match"
    off = abs(actual - expected)
    if off <= dust or off * BPS <= tolerance_bps * max(expected, 1):
        # Explained: by the index (accrual) or by rounding too small to be money (dust).
        return "dust" if abs(actual - cached) <= dust else "accrual"
    return "discrepancy"


def default_dust(decimals: int) -> int:
    """A millionth of a whole token, at least one base unit: rounding, never money."""
    return 10 ** max(decimals - 6, 0)


# ---------------------------------------------------------------------------- the workflow's messages


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReconcileChainInput(_Model):
    run_id: str
    chain_id: int


class StoredDiscrepancy(_Model):
    id: int
    market: str
    asset: str
    decimals: int
    expected: str  # base units, exact
    actual: str
    relative_bps: int


class ChainReconciliation(_Model):
    chain_id: int
    block_number: int
    markets: int
    kinds: dict[str, int]  # kind -> how many markets
    discrepancies: list[StoredDiscrepancy]
    gas_balance_wei: str
    low_gas: bool
    uncached: list[str] = []  # markets with no snapshot yet: nothing to compare with


class ReconcileInput(_Model):
    chains: list[int] = Field(min_length=1)
    engine_id: str = ""  # the engine whose circuit breaker a large discrepancy trips
    trip_above_bps: int = Field(default=100, ge=0)


class ReconcileResult(_Model):
    status: Literal["clean", "discrepancy"]
    summary: str
    chains: list[ChainReconciliation]
    tripped: bool
