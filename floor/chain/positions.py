"""Positions, liquidity and rates of many markets, read in one Multicall3 batch per chain."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from floor.adapters.base import Adapter, RateSnapshot
from floor.calls import ReadCall, ReadResult
from floor.chain.multicall import MulticallReader, ReadBatch
from floor.models import Liquidity, Position
from floor.readplan import ReadPlan

T = TypeVar("T")


def _read_each(
    reader: MulticallReader,
    adapters: Sequence[Adapter],
    reads: Callable[[Adapter], list[ReadCall]],
    decode: Callable[[Adapter, Sequence[ReadResult], ReadBatch], T],
) -> list[T]:
    """Every adapter's reads in one batch, each adapter decoding its own results."""
    plan = ReadPlan()
    for i, adapter in enumerate(adapters):
        plan.add(i, reads(adapter))
    batch = reader.read(plan.calls)
    results = plan.results(batch.results)
    return [decode(adapter, results[i], batch) for i, adapter in enumerate(adapters)]


def read_positions(reader: MulticallReader, adapters: Sequence[Adapter], account: str) -> list[Position]:
    """Every adapter's position of `account`, all at one block, in one eth_call per chunk."""

    def decode(adapter: Adapter, results: Sequence[ReadResult], batch: ReadBatch) -> Position:
        reading = adapter.decode_position(results)
        return Position(
            key=adapter.key,
            asset=adapter.asset.symbol,
            asset_address=adapter.asset.address,
            decimals=adapter.asset.decimals,
            amount=reading.amount,
            shares=reading.shares,
            block_number=batch.block_number,
        )

    return _read_each(reader, adapters, lambda a: a.position_reads(account), decode)


def read_liquidity(reader: MulticallReader, adapters: Sequence[Adapter], account: str) -> list[Liquidity]:
    def decode(adapter: Adapter, results: Sequence[ReadResult], batch: ReadBatch) -> Liquidity:
        reading = adapter.decode_liquidity(results)
        return Liquidity(
            key=adapter.key,
            position=reading.position,
            market_available=reading.market_available,
            withdrawable=reading.withdrawable,
            block_number=batch.block_number,
        )

    return _read_each(reader, adapters, lambda a: a.liquidity_reads(account), decode)


def read_rate_snapshots(reader: MulticallReader, adapters: Sequence[Adapter]) -> list[RateSnapshot]:
    return _read_each(
        reader, adapters, lambda a: a.rate_reads(), lambda a, results, batch: a.decode_rate(results, batch.timestamp)
    )
