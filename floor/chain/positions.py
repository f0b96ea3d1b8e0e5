"""Positions, liquidity and rates of many markets, read in one Multicall3 batch per chain."""

from __future__ import annotations

from typing import Sequence

from floor.adapters.base import Adapter, RateSnapshot
from floor.chain.multicall import MulticallReader
from floor.models import Liquidity, Position


def read_positions(reader: MulticallReader, adapters: Sequence[Adapter], account: str) -> list[Position]:
    """Every adapter's position of `account`, all at one block, in one eth_call per chunk."""
    reads = [adapter.position_reads(account) for adapter in adapters]
    batch = reader.read([r for group in reads for r in group])
    positions, offset = [], 0
    for adapter, group in zip(adapters, reads):
        reading = adapter.decode_position(batch.results[offset : offset + len(group)])
        offset += len(group)
        positions.append(
            Position(
                key=adapter.key,
                asset=adapter.asset.symbol,
                asset_address=adapter.asset.address,
                decimals=adapter.asset.decimals,
                amount=reading.amount,
                shares=reading.shares,
                block_number=batch.block_number,
            )
        )
    return positions


def read_liquidity(reader: MulticallReader, adapters: Sequence[Adapter], account: str) -> list[Liquidity]:
    reads = [adapter.liquidity_reads(account) for adapter in adapters]
    batch = reader.read([r for group in reads for r in group])
    out, offset = [], 0
    for adapter, group in zip(adapters, reads):
        reading = adapter.decode_liquidity(batch.results[offset : offset + len(group)])
        offset += len(group)
        out.append(
            Liquidity(
                key=adapter.key,
                position=reading.position,
                market_available=reading.market_available,
                withdrawable=reading.withdrawable,
                block_number=batch.block_number,
            )
        )
    return out


def read_rate_snapshots(reader: MulticallReader, adapters: Sequence[Adapter]) -> list[RateSnapshot]:
    reads = [adapter.rate_reads() for adapter in adapters]
    batch = reader.read([r for group in reads for r in group])
    out, offset = [], 0
    for adapter, group in zip(adapters, reads):
        out.append(adapter.decode_rate(batch.results[offset : offset + len(group)], batch.timestamp))
        offset += len(group)
    return out
