"""Token prices in USD from Chainlink AggregatorV3 feeds, one feed per token
(`chains.price_feeds`), read in the same Multicall3 batch as whatever else the caller reads.

Per token the batch holds the feed's `latestRoundData()` and, unless the config gives them,
its `decimals()`. A price is usable only when the round exists (`updatedAt` > 0: Chainlink's
OCR aggregator answers all zeros before its first round rather than reverting), its answer
is above zero, and it is no older than the feed's heartbeat at the block read (the batch's
own block timestamp, not this machine's clock). Otherwise the token has no price, by name:

- no feed configured for it, a feed that reverts or is no contract, no round, an answer <= 0:
  `PriceUnavailable` naming the token and the feed;
- an answer older than the heartbeat: `PriceStale` naming the feed, the token and its age.

Never a zero price, and never a stale one passed on as current. `answeredInRound` is not
checked: OCR aggregators set it to the round id on every round (it meant something only on
the retired FluxAggregator).

    plan = ReadPlan()
    plan.add("balance", [...])
    plan_prices(plan, chain, ["USDC", "WETH"])      # refuses a token without a feed here
    batch = reader.read(plan.calls)
    prices = decode_prices(chain, ["USDC", "WETH"], plan.results(batch.results), batch)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

from floor.calls import ReadResult, decode_result, read
from floor.chain.multicall import MulticallReader, ReadBatch
from floor.config import ChainConfig, PriceFeedConfig
from floor.errors import FloorError, PriceStale, PriceUnavailable
from floor.models import Price
from floor.readplan import ReadPlan

LATEST_ROUND_DATA = "latestRoundData()"
DECIMALS = "decimals()"
_ROUND_TYPES = ["uint80", "int256", "uint256", "uint256", "uint80"]


def price_segment(symbol: str) -> tuple[str, str]:
    """The read plan segment of a token's feed reads."""
    return ("price-feed", symbol)


def plan_prices(plan: ReadPlan, chain: ChainConfig, symbols: Iterable[str]) -> list[str]:
    """Add each token's feed reads to `plan` (each token once); the symbols planned, in order.
    A token without a feed raises PriceUnavailable here, before anything is sent."""
    planned: list[str] = []
    for symbol in symbols:
        if symbol in planned:
            continue
        feed = chain.price_feed(symbol)
        reads = [read(feed.feed, LATEST_ROUND_DATA)]
        if feed.decimals is None:
            reads.append(read(feed.feed, DECIMALS))
        plan.add(price_segment(symbol), reads)
        planned.append(symbol)
    return planned


def price_results(
    chain: ChainConfig, symbols: Sequence[str], results: Mapping[Hashable, list[ReadResult]], batch: ReadBatch
) -> dict[str, Price | PriceUnavailable | PriceStale]:
    """Each planned token's price, or the error that says why it has none."""
    out: dict[str, Price | PriceUnavailable | PriceStale] = {}
    for symbol in symbols:
        try:
            out[symbol] = decode_price(
                symbol, chain.price_feed(symbol), results[price_segment(symbol)], batch.block_number, batch.timestamp
            )
        except (PriceUnavailable, PriceStale) as exc:
            out[symbol] = exc
    return out


def decode_prices(
    chain: ChainConfig, symbols: Sequence[str], results: Mapping[Hashable, list[ReadResult]], batch: ReadBatch
) -> dict[str, Price]:
    """Every planned token's price by symbol; the first token without a usable one (in the
    order given) raises its PriceUnavailable or PriceStale, the others' problems added."""
    found = price_results(chain, symbols, results, batch)
    errors = [e for e in found.values() if isinstance(e, FloorError)]
    if errors:
        first = errors[0]
        if len(errors) == 1:
            raise first
        others = "; ".join(str(e) for e in errors[1:])
        raise type(first)(f"{first} (and {len(errors) - 1} more: {others})") from first
    return found  # type: ignore[return-value]


def read_prices(reader: MulticallReader, chain: ChainConfig, symbols: Iterable[str] | None = None) -> dict[str, Price]:
    """The tokens' prices (default: every token with a feed) at one block, in one batch."""
    plan = ReadPlan()
    wanted = plan_prices(plan, chain, list(chain.price_feeds) if symbols is None else symbols)
    batch = reader.read(plan.calls)
    return decode_prices(chain, wanted, plan.results(batch.results), batch)


def decode_price(
    symbol: str, feed: PriceFeedConfig, results: Sequence[ReadResult], block_number: int, timestamp: int
) -> Price:
    """One token's price from its feed's reads (`latestRoundData`, then `decimals` unless
    configured), checked against the heartbeat at `timestamp` (the block's)."""
    what = f"price feed {feed.feed} of {symbol}"
    round_data = results[0]
    if not round_data.success:
        raise PriceUnavailable(f"{what}: latestRoundData() reverted")
    if not round_data.data:
        raise PriceUnavailable(f"{what}: latestRoundData() returned no data (no contract at that address?)")
    try:
        round_id, answer, _, updated_at, _ = decode_result(_ROUND_TYPES, round_data, f"{what}: latestRoundData()")
    except FloorError as exc:
        raise PriceUnavailable(str(exc)) from exc
    decimals = feed.decimals if feed.decimals is not None else _decimals(what, results[1])
    if updated_at == 0:
        raise PriceUnavailable(f"{what}: the feed has no round yet (updatedAt 0)")
    if answer <= 0:
        raise PriceUnavailable(f"{what}: the feed answered {answer} (round {round_id}), not a price")
    age = timestamp - updated_at
    if age > feed.heartbeat_s:
        raise PriceStale(
            f"{what}: the answer is {age} s old at block {block_number} (round {round_id}, updated at"
            f" {updated_at}), past the feed's heartbeat of {feed.heartbeat_s} s"
        )
    return Price(
        symbol=symbol,
        price=answer,
        decimals=decimals,
        block_number=block_number,
        feed=feed.feed,
        updated_at=updated_at,
        round_id=round_id,
    )


def _decimals(what: str, result: ReadResult) -> int:
    if not result.success or not result.data:
        raise PriceUnavailable(f"{what}: decimals() {'reverted' if not result.success else 'returned no data'}")
    try:
        decimals: int = decode_result(["uint8"], result, f"{what}: decimals()")[0]
    except FloorError as exc:
        raise PriceUnavailable(str(exc)) from exc
    if decimals > 36:
        raise PriceUnavailable(f"{what}: decimals() is {decimals}, more than 36")
    return decimals
