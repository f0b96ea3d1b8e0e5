"""What the treasury holds now, read from the chains (not from Temporal): one row per strategy
market with its amount, value, APY and what can be withdrawn now, and the executors' idle
balances. For the `floor` CLI and any service that reports.

Per chain, every market's position, liquidity and growth index and the USD price of every
asset (its Chainlink feed's latestRoundData, `floor.chain.prices`) are ONE Multicall3 batch:
one eth_call, which also reads the block's number and timestamp. Each row's value is its
amount times its asset's price, in USD with 8 decimals (`floor.models.value_of`), rounded
down, shown as an exact decimal. A token without a feed, a feed that cannot answer and a stale
answer (older than the feed's heartbeat at that block) are errors naming the feed
(PriceUnavailable, PriceStale): never a zero value, never a guess.

Amounts are in the market's asset: the adapters turn shares into underlying (ERC-4626
`convertToAssets`, Morpho's shares at the accrued totals, Compound's and Aave's balances).
The liquid staking markets hold WETH as their asset and report ETH terms: Lido's amount is the
stETH balance, which is the executor's shares at Lido's own pooled-ETH-per-share rate, and
Rocket Pool's is `getEthValue(rETH balance)`, rETH at the network's exchange rate. So they are
valued at the WETH feed's price (WETH9 is 1:1 ETH by construction): staked ETH at its
protocol redemption rate, not at stETH's or rETH's market price (a discount on the secondary
market, as a stETH/ETH feed would show, is not in the value).

A market that publishes a rate (Aave's currentLiquidityRate) or whose state gives one (Morpho's
IRM and utilisation; Lido's and Rocket Pool's last two oracle reports, from their events,
`floor.chain.ratelogs`) shows it as an APY; any other has
its APY measured from its growth index between now and the block about `window_s` earlier,
or the earliest block from which the market can be read (deployed later, or a node that keeps
only recent state), and none when there is no earlier reading (or `window_s` is None: then
the report is the one batch per chain, and no oracle report's events are read either). A
row's `apy_note` says why its APY is not quoted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from typing import Annotated

from eth_abi.exceptions import DecodingError
from pydantic import PlainSerializer, WithJsonSchema
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import BlockParams

from floor.adapters.base import Adapter, RateSnapshot, WithdrawAll
from floor.adapters.registry import AdapterRegistry
from floor.calls import ReadFailed, decode_result, read
from floor.chain.multicall import MulticallReader, ReadBatch
from floor.chain.prices import decode_prices, plan_prices
from floor.chain.ratelogs import with_rate_logs
from floor.chain.rpc import connect
from floor.config import ChainConfig, Settings
from floor.errors import FloorError, UnknownChain
from floor.models import VALUE_DECIMALS, AdapterKey, Amount, FrozenModel, value_of
from floor.protocols.base import MarketBase
from floor.protocols.native_eth.position import with_beacon_views
from floor.rates import quoted_rate, realised_rate
from floor.readplan import ReadPlan
from floor.risk.liquidity import PositionLiquidity, position_liquidity

DAY_S = 86_400
# A measured APY annualises the growth it saw: over minutes, a pool's fees from one swap or a
# staking token before its first oracle report say nothing about a year. Shorter: none.
MIN_APY_WINDOW_S = 6 * 3600

# An exact decimal, written in JSON as fixed-point digits ("1500.25", never "1.50025E+3").
ExactDecimal = Annotated[
    Decimal,
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}, mode="serialization"),
]


class MarketReport(FrozenModel):
    chain_id: int
    protocol: str
    market: str
    asset: str
    decimals: int
    amount: Amount  # underlying base units
    withdrawable: Amount  # what the market lets the executor take now
    liquidity: PositionLiquidity  # ratio to the market's available liquidity, safe withdrawal, alert
    value: ExactDecimal | None  # USD, exact to 8 decimals (the feed's price; rounded down); None: not priced
    apy: float | None  # 0.035 is 3.5%
    apy_source: str | None  # "quoted" (the protocol's rate) or "realised" (measured)
    apy_window_s: int | None  # realised: the seconds it was measured over
    block_number: int
    # What leaving the whole position now costs against its fair value, in bps (a pool's
    # exit quote: Curve's calc_withdraw_one_coin, Balancer's queryExit); None where the
    # market pays at its own rate, or the report was read without exit quotes.
    exit_slippage_bps: int | None = None
    # Why the APY is not quoted from the protocol's own state (a pool keeps no rate, one
    # oracle report so far, ...), or what a quote leaves out; the adapter's `RateSnapshot.note`.
    apy_note: str | None = None


class IdleReport(FrozenModel):
    """What an executor holds of one strategy token outside every market."""

    chain_id: int
    asset: str
    decimals: int
    amount: Amount  # base units
    value: ExactDecimal | None  # USD, exact to 8 decimals; None: not priced (read without prices)
    block_number: int


def exact(amount: int, decimals: int) -> Decimal:
    """Base units as an exact Decimal (from the digits: no context precision, no rounding)."""
    sign, digits, _ = Decimal(amount).as_tuple()
    return Decimal((sign, digits, -decimals))


def read_report(
    settings: Settings,
    web3s: dict[int, Web3] | None = None,
    *,
    window_s: int | None = DAY_S,
    exit_quotes: bool = False,
    priced: bool = True,
    chains: Collection[int] | None = None,
    blocks: Mapping[int, int] | None = None,
) -> list[MarketReport]:
    """One row per strategy market (every configured market when the strategy has none).
    `exit_quotes`: also quote a full exit of every pool position (two more batches per chain
    that has one), for its exit slippage. `priced=False`: no feed is read and no row is
    valued (what needs no price, e.g. liquidity, works while a feed is stale). `chains`: only
    these chains (default: every configured one); `blocks`: a chain's block to read at (by
    chain id; default: its latest), so a report matches another read of that block."""
    registry = AdapterRegistry.from_settings(settings)
    keys = [AdapterKey(chain_id=t.chain_id, protocol=t.protocol, market=t.market) for t in settings.strategy.targets]
    adapters = [registry.get(k) for k in keys] if keys else list(registry)
    rows: list[MarketReport] = []
    for chain in settings.chains:
        if chains is not None and chain.id not in chains:
            continue
        block = (blocks or {}).get(chain.id)
        mine = [a for a in adapters if a.key.chain_id == chain.id]
        if mine:
            w3 = _web3(chain, web3s)
            mine = with_beacon_views(MulticallReader(w3, chain.multicall3), mine)  # native ETH's validators
            if window_s is not None:  # history is read: Lido's and Rocket Pool's last reports, for their quotes
                mine = with_rate_logs(w3, mine, block)
            chain_rows = read_chain_report(chain, w3, mine, window_s=window_s, priced=priced, block=block)
            if exit_quotes:
                chain_rows = with_exit_slippage(chain, _web3(chain, web3s), mine, chain_rows, block)
            rows += chain_rows
    return rows


def with_exit_slippage(
    chain: ChainConfig, w3: Web3, adapters: Sequence[Adapter], rows: list[MarketReport], block: int | None = None
) -> list[MarketReport]:
    """The rows with each pool position's exit slippage: the pool positions read with their
    shares (a full exit's quote needs them), then every full exit quoted in one batch against
    the position's fair value (`Adapter.slippage`); at `block` (default: the latest)."""
    account = _executor(chain)
    reader = _reader(chain, w3)
    held = {(r.protocol, r.market) for r in rows if r.amount > 0}
    pools = [
        (i, a)
        for i, a in enumerate(adapters)
        if type(a).slippage is not Adapter.slippage and (a.key.protocol, a.key.market) in held
    ]
    if not pools:
        return rows  # no pool positions: nothing has price impact
    positions = ReadPlan()
    for i, adapter in pools:
        positions.add(i, adapter.position_reads(account))
    at: int | BlockParams = "latest" if block is None else block
    read_back = positions.results(reader.read(positions.calls, at).results)
    plan, actions = ReadPlan(), {}
    for i, adapter in pools:
        actions[i] = WithdrawAll(adapter.decode_position(read_back[i]))
        plan.add(i, adapter.quote_reads(actions[i], account))
    results = plan.results(reader.read(plan.calls, at).results)
    slippage = {}
    for i, action in actions.items():
        found = adapters[i].slippage(action, results[i])
        slippage[adapters[i].key.protocol, adapters[i].key.market] = found.bps if found else None
    return [r.model_copy(update={"exit_slippage_bps": slippage.get((r.protocol, r.market))}) for r in rows]


def _idle_tokens(settings: Settings) -> dict[int, list[str]]:
    """The tokens the strategy places (weight above 0), by chain."""
    wanted: dict[int, list[str]] = {}
    for t in settings.strategy.targets:
        market: MarketBase = settings.chain(t.chain_id).market(t.protocol, t.market)  # MarketConfig: a runtime union
        asset = market.asset
        if t.weight_bps > 0 and asset not in wanted.setdefault(t.chain_id, []):
            wanted[t.chain_id].append(asset)
    return wanted


def read_idle_report(
    settings: Settings,
    web3s: dict[int, Web3] | None = None,
    *,
    priced: bool = True,
    chains: Collection[int] | None = None,
    blocks: Mapping[int, int] | None = None,
) -> list[IdleReport]:
    """What each executor holds idle of each token the strategy places, valued on the chain's
    feeds: the balances and the prices in one Multicall3 batch per chain (a missing or stale
    price raises, naming its feed, as for the positions). `priced`, `chains` and `blocks` as
    for `read_report`."""
    rows = []
    for chain_id, symbols in _idle_tokens(settings).items():
        if chains is not None and chain_id not in chains:
            continue
        chain = settings.chain(chain_id)
        tokens = [chain.token(s) for s in symbols]
        plan = ReadPlan()
        for t in tokens:
            plan.add(("idle", t.symbol), [read(t.address, "balanceOf(address)", _executor(chain))])
        assets = plan_prices(plan, chain, symbols) if priced else []
        block = (blocks or {}).get(chain_id)
        batch = _reader(chain, _web3(chain, web3s)).read(plan.calls, "latest" if block is None else block)
        results = plan.results(batch.results)
        prices = decode_prices(chain, assets, results, batch) if assets else {}
        for t in tokens:
            (amount,) = decode_result(["uint256"], results["idle", t.symbol][0], f"{t.symbol}.balanceOf(executor)")
            price = prices.get(t.symbol)
            rows.append(
                IdleReport(
                    chain_id=chain_id,
                    asset=t.symbol,
                    decimals=t.decimals,
                    amount=amount,
                    value=None if price is None else exact(value_of(amount, t.decimals, price), VALUE_DECIMALS),
                    block_number=batch.block_number,
                )
            )
    return rows


def read_idle(settings: Settings, web3s: dict[int, Web3] | None = None) -> dict[tuple[int, str], int]:
    """What each executor holds idle of each token the strategy places (weight above 0), in
    base units by (chain id, symbol): one Multicall3 batch per chain."""
    idle = {}
    for chain_id, symbols in _idle_tokens(settings).items():
        chain = settings.chain(chain_id)
        tokens = [chain.token(s) for s in symbols]
        batch = _reader(chain, _web3(chain, web3s)).read(
            [read(t.address, "balanceOf(address)", _executor(chain)) for t in tokens]
        )
        for token, result in zip(tokens, batch.results, strict=True):
            (idle[(chain_id, token.symbol)],) = decode_result(
                ["uint256"], result, f"{token.symbol}.balanceOf(executor)"
            )
    return idle


def read_chain_report(
    chain: ChainConfig,
    w3: Web3,
    adapters: Sequence[Adapter],
    *,
    window_s: int | None,
    priced: bool = True,
    block: int | None = None,
) -> list[MarketReport]:
    """The chain's rows: one Multicall3 batch (one eth_call, past the gas cap one per chunk) at
    `block` (default: the latest), then the earlier growth indexes for measured APYs unless
    `window_s` is None."""
    reader = _reader(chain, w3)
    plan, assets = plan_chain_report(chain, adapters, priced=priced)
    batch = reader.read(plan.calls, "latest" if block is None else block)
    rates = decode_rates(adapters, plan, batch)
    measured = [a for a, rate in zip(adapters, rates, strict=True) if rate.quoted_apr is None]
    earlier = _earlier_snapshots(reader, measured, batch, window_s) if window_s is not None else {}
    return chain_report_rows(chain, adapters, plan, assets, batch, earlier, rates)


def plan_chain_report(
    chain: ChainConfig, adapters: Sequence[Adapter], *, priced: bool = True
) -> tuple[ReadPlan, list[str]]:
    """Every market's liquidity (its position included) and growth index and every asset's
    price feed (unless not `priced`), as one plan; and the assets priced. A token without a
    feed is refused here."""
    account = _executor(chain)
    plan = ReadPlan()
    for i, adapter in enumerate(adapters):
        plan.add((i, "liquidity"), adapter.liquidity_reads(account))
        plan.add((i, "rate"), adapter.rate_reads())
    return plan, plan_prices(plan, chain, [a.asset.symbol for a in adapters]) if priced else []


def decode_rates(adapters: Sequence[Adapter], plan: ReadPlan, batch: ReadBatch) -> list[RateSnapshot]:
    results = plan.results(batch.results)
    return [a.decode_rate(results[i, "rate"], batch.timestamp) for i, a in enumerate(adapters)]


def chain_report_rows(
    chain: ChainConfig,
    adapters: Sequence[Adapter],
    plan: ReadPlan,
    assets: list[str],
    batch: ReadBatch,
    earlier: dict[AdapterKey, RateSnapshot],
    rates: list[RateSnapshot] | None = None,
) -> list[MarketReport]:
    """The rows from the plan's batch: amounts, values (a missing or stale price raises,
    naming its feed; no assets priced: no values), APYs (`rates`: the batch's growth indexes,
    when already decoded)."""
    results = plan.results(batch.results)
    prices = decode_prices(chain, assets, results, batch) if assets else {}
    rates = rates if rates is not None else decode_rates(adapters, plan, batch)
    rows = []
    for i, (adapter, rate) in enumerate(zip(adapters, rates, strict=True)):
        liq = adapter.decode_liquidity(results[i, "liquidity"])
        apy, source, window = _apy(rate, earlier.get(adapter.key))
        price = prices.get(adapter.asset.symbol)
        value = None if price is None else exact(value_of(liq.position, adapter.asset.decimals, price), VALUE_DECIMALS)
        rows.append(
            MarketReport(
                chain_id=chain.id,
                protocol=adapter.key.protocol,
                market=adapter.key.market,
                asset=adapter.asset.symbol,
                decimals=adapter.asset.decimals,
                amount=liq.position,
                withdrawable=liq.withdrawable,
                liquidity=position_liquidity(
                    adapter.key, liq.position, liq.market_available, liq.withdrawable, adapter.exit, adapter.exit_wait_s
                ),
                value=value,
                apy=apy,
                apy_source=source,
                apy_window_s=window,
                apy_note=rate.note,
                block_number=batch.block_number,
            )
        )
    return rows


# ---------------------------------------------------------------------------- rates


def _apy(now: RateSnapshot, earlier: RateSnapshot | None) -> tuple[float | None, str | None, int | None]:
    if now.quoted_apr is not None:
        return quoted_rate(now).apy, "quoted", None
    if earlier is None or now.timestamp - earlier.timestamp < MIN_APY_WINDOW_S:
        return None, None, None
    try:
        rate = realised_rate(earlier, now)
    except (ValueError, OverflowError):  # no time between them, or growth too steep to annualise
        return None, None, None
    return rate.apy, "realised", now.timestamp - earlier.timestamp


def _earlier_snapshots(
    reader: MulticallReader, adapters: Sequence[Adapter], now: ReadBatch, window_s: int
) -> dict[AdapterKey, RateSnapshot]:
    """Each market's growth index about `window_s` before `now`, or at the earliest block since
    then from which it can be read."""
    if not adapters:
        return {}
    start = block_at_or_before(reader.w3, now.timestamp - window_s, now.block_number)
    found = _snapshots_at(reader, adapters, start)
    missing = [a for a in adapters if a.key not in found]
    if missing:
        # Readable at `now`, not at `start`: the earliest block in between where all of them are.
        lo, hi = start + 1, now.block_number
        while lo < hi:
            mid = (lo + hi) // 2
            if len(_snapshots_at(reader, missing, mid)) == len(missing):
                hi = mid
            else:
                lo = mid + 1
        if lo < now.block_number:
            found |= _snapshots_at(reader, missing, lo)
    return found


def _snapshots_at(reader: MulticallReader, adapters: Sequence[Adapter], block: int) -> dict[AdapterKey, RateSnapshot]:
    """The markets' growth indexes at `block`; a market not readable there is left out."""
    plan = ReadPlan()
    for adapter in adapters:
        plan.add(adapter.key, adapter.rate_reads())
    try:
        batch = reader.read(plan.calls, block)
    except (Web3Exception, DecodingError, ReadFailed):  # state pruned at that block, or no Multicall3 yet
        return {}
    results = plan.results(batch.results)
    out = {}
    for adapter in adapters:
        with contextlib.suppress(FloorError):  # not there yet at that block (not deployed, a market not created)
            out[adapter.key] = adapter.decode_rate(results[adapter.key], batch.timestamp)
    return out


def block_at_or_before(w3: Web3, timestamp: int, latest: int) -> int:
    """The last block up to `latest` mined at or before `timestamp` (0 if none): a binary
    search over block headers."""
    lo, hi = 0, latest
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if w3.eth.get_block(mid)["timestamp"] <= timestamp:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------------------- wiring


def _web3(chain: ChainConfig, web3s: dict[int, Web3] | None) -> Web3:
    return (web3s or {}).get(chain.id) or connect(chain.rpc_urls, chain.rpc_timeout_s, chain_id=chain.id)


def _reader(chain: ChainConfig, w3: Web3) -> MulticallReader:
    return MulticallReader(w3, chain.multicall3, gas_cap=chain.multicall_gas_cap)


def _executor(chain: ChainConfig) -> str:
    if chain.executor is None:
        raise UnknownChain(f"chain {chain.id} ({chain.name}) has no executor address configured")
    return chain.executor
