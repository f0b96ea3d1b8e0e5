"""A Balancer position valued both ways, read from the chain: the executor's BPT, then in one
batch the pool's rate, queryExit of all of it to the asset, and the Chainlink prices of the
pool's coins and of the asset (`floor.chain.prices`, refused by name when missing or stale)."""

from __future__ import annotations

from floor.chain.multicall import MulticallReader
from floor.chain.prices import decode_prices, plan_prices
from floor.config import ChainConfig
from floor.protocols.balancer_v2.adapter import BalancerV2Adapter, PositionValue
from floor.readplan import ReadPlan


def read_position_value(
    reader: MulticallReader, adapter: BalancerV2Adapter, chain: ChainConfig, account: str
) -> PositionValue:
    position = adapter.decode_position(reader.read(adapter.position_reads(account)).results)
    bpt = position.shares or 0
    coins = [chain.token_by_address(c).symbol for c in adapter.coins]
    plan = ReadPlan()
    plan.add("valuation", adapter.valuation_reads(bpt, account))
    wanted = plan_prices(plan, chain, sorted({*coins, adapter.asset.symbol}))
    batch = reader.read(plan.calls)
    results = plan.results(batch.results)
    prices = decode_prices(chain, wanted, results, batch)
    return adapter.decode_valuation(bpt, results["valuation"], [prices[s] for s in coins], prices[adapter.asset.symbol])
