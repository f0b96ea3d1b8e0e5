"""Token prices from Aave V3's price oracle (AaveOracle), read in one Multicall3 batch per chain.

One `getAssetPrice` per token rather than one `getAssetsPrices(tokens)`: the array call reverts
whole when any token has no price, and then could not say which one.
"""

from __future__ import annotations

from floor.calls import decode_result, read
from floor.chain.multicall import MulticallReader
from floor.config import TokenConfig
from floor.errors import PriceUnavailable
from floor.models import Price
from floor.readplan import ReadPlan


def read_prices(reader: MulticallReader, oracle: str, tokens: list[TokenConfig]) -> dict[str, Price]:
    """Every token's price and the oracle's BASE_CURRENCY_UNIT, all at one block, by symbol.
    A token the oracle has no price for (it answers 0, or reverts, as Aave's does with no
    fallback oracle) raises PriceUnavailable naming it."""
    plan = ReadPlan()
    plan.add("unit", [read(oracle, "BASE_CURRENCY_UNIT()")])
    for t in tokens:
        plan.add(("price", t.symbol), [read(oracle, "getAssetPrice(address)", t.address)])
    batch = reader.read(plan.calls)
    results = plan.results(batch.results)
    (unit,) = decode_result(["uint256"], results["unit"][0], f"price oracle {oracle} BASE_CURRENCY_UNIT")
    prices = {}
    for token in tokens:
        (result,) = results["price", token.symbol]
        what = f"price of {token.symbol} ({token.address}) from oracle {oracle}"
        if not result.success:  # a revert is the oracle's answer, not a fault worth a retry
            raise PriceUnavailable(f"{what}: reverted, the oracle has no price for it")
        (price,) = decode_result(["uint256"], result, what)
        if price == 0:
            raise PriceUnavailable(f"{what}: the oracle answered 0")
        prices[token.symbol] = Price(symbol=token.symbol, price=price, unit=unit, block_number=batch.block_number)
    return prices
