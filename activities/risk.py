"""The risk check's reads: what the circuit breakers (`floor.risk.breakers`) judge.

Per chain, one Multicall3 batch: every strategy market's growth index (and quoted rate) and
its total (TVL), the block's base fee and every price feed of the chain. The readings go to the store as rate observations
(`rate_observation`, with `total_assets`), the same table the reconciliation fills every
few minutes; the window's history is then read back from the store, so TVL peaks and APY
averages span every observation the engine has kept, not only this worker's. Idempotent: a
retry writes each (market, block) once. Each feed's age at the block read (stale or not) goes
to the store's gauges (`floor_engine_price_feed_age_seconds`, read at a wall-clock time the
exporter adds to it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import activity

from activities.deps import Deps
from activities.errors import NoStore, named_errors
from floor.adapters.base import RateSnapshot
from floor.calls import decode_result, read
from floor.chain.prices import LATEST_ROUND_DATA, decode_prices, plan_prices, price_segment
from floor.errors import FloorError
from floor.metrics import PRICE_FEED_AGE
from floor.rates import apy_from_apr, realised_rate
from floor.readplan import ReadPlan
from floor.risk.breakers import (
    BreakerEvent,
    BreakerPolicy,
    BreakerState,
    ChainSample,
    MarketSample,
    RiskCheckInput,
    RiskSample,
)
from floor.store import Store
from floor.store.tables import BreakerEventRow, RateObservation

ALERT = "circuit_breaker"  # the store's alert kind; the subject is the breaker's scope
# AggregatorV3's latestRoundData(): roundId, answer, startedAt, updatedAt, answeredInRound.
ROUND_TYPES = ["uint80", "int256", "uint256", "uint256", "uint80"]


class RiskActivities:
    def __init__(self, deps: Deps):
        self.deps = deps

    @property
    def store(self) -> Store:
        if self.deps.store is None:
            raise NoStore("this worker has no store configured: the risk check keeps its observations there")
        return self.deps.store

    @activity.defn
    @named_errors
    def observe_risk(self, input: RiskCheckInput) -> RiskSample:
        store = self.store
        markets, chains = [], []
        latest = datetime.fromtimestamp(0, UTC)
        for chain_id in sorted({k.chain_id for k in input.keys}):
            ctx = self.deps.chain(chain_id)
            adapters = self.deps.adapters(chain_id, [k for k in input.keys if k.chain_id == chain_id])
            plan = ReadPlan()
            for i, adapter in enumerate(adapters):
                plan.add(("rate", i), adapter.rate_reads())
                plan.add(("tvl", i), adapter.tvl_reads())
            plan.add("basefee", [read(ctx.config.multicall3, "getBasefee()")])
            priced = plan_prices(plan, ctx.config, list(ctx.config.price_feeds))  # the same batch
            batch = ctx.reader.read(plan.calls)
            results = plan.results(batch.results)
            now = datetime.fromtimestamp(batch.timestamp, UTC)
            latest = max(latest, now)
            rows, snapshots, tvls = [], [], []
            for i, adapter in enumerate(adapters):
                snapshot = adapter.decode_rate(results["rate", i], batch.timestamp)
                tvl = adapter.decode_tvl(results["tvl", i])
                snapshots.append(snapshot)
                tvls.append(tvl)
                rows.append(
                    RateObservation(
                        chain_id=chain_id,
                        market=str(adapter.key),
                        block_number=batch.block_number,
                        timestamp=now,
                        growth_index=snapshot.growth_index,
                        quoted_apr=snapshot.quoted_apr,
                        total_assets=tvl,
                    )
                )
            store.record_rates(rows)
            read_at = datetime.now(UTC)
            store.set_gauges(
                [
                    PRICE_FEED_AGE.gauge_row(age, read_at, chain=chain_id, feed=symbol)
                    for symbol, age in feed_ages(priced, results, batch).items()
                ]
            )
            longest = max(input.policy.window_s, input.policy.apy_window_s, input.policy.drawdown_window_s)
            history = store.rate_windows([str(a.key) for a in adapters], now - timedelta(seconds=longest))
            for adapter, snapshot, tvl in zip(adapters, snapshots, tvls, strict=True):
                markets.append(sample_market(history[str(adapter.key)], adapter.key, snapshot, tvl, now, input.policy))
            (base_fee,) = decode_result(["uint256"], results["basefee"][0], "Multicall3.getBasefee")
            chains.append(
                ChainSample(
                    chain_id=chain_id,
                    block_number=batch.block_number,
                    base_fee_wei=base_fee,
                    fee_cap_wei=ctx.config.tx.max_fee_cap_wei,
                    price_problem=price_problem(ctx.config, priced, results, batch),
                )
            )
        return RiskSample(at=latest, markets=markets, chains=chains)

    @activity.defn
    @named_errors
    def record_breaker_events(self, raw: dict) -> int:
        """Breaker changes into the store, with an alert raised while a breaker is open and
        resolved when it closes. A worker without a store records none."""
        if self.deps.store is None:
            return 0
        events = [BreakerEvent.model_validate(e) for e in raw["events"]]
        rows = [
            BreakerEventRow(
                engine_id=raw["engine_id"],
                scope=e.scope,
                at=e.at,
                from_state=e.from_state.value,
                to_state=e.to_state.value,
                trigger=e.trigger.value,
                reason=e.reason,
                actor=e.actor,
            )
            for e in events
        ]
        for e in events:  # alerts first: whoever sees the events stored sees their alerts
            if e.to_state == BreakerState.OPEN:
                self.store.raise_alert(ALERT, e.scope, e.reason, e.at)
            elif e.to_state == BreakerState.CLOSED:
                self.store.resolve_alert(ALERT, e.scope, e.at)
        return self.store.record_breaker_events(rows)

    def all(self) -> list:
        return [self.observe_risk, self.record_breaker_events]


def price_problem(chain, symbols: list[str], results, batch) -> str | None:
    """The chain's feeds as read in the check's batch: a stale or missing price is the
    breaker's finding, in the price reader's own words."""
    if not symbols:
        return None
    try:
        decode_prices(chain, symbols, results, batch)
    except FloorError as exc:
        return str(exc)
    return None


def feed_ages(symbols: list[str], results, batch) -> dict[str, int]:
    """Each feed's age at the batch's block, in seconds (the block's timestamp less the round's
    updatedAt), stale or not: a stale feed is what the age is watched for. A feed with no round
    to read (reverted, no contract, updatedAt 0) has none: `price_problem` names it."""
    ages = {}
    for symbol in symbols:
        round_data = results[price_segment(symbol)][0]
        if not round_data.success or not round_data.data:
            continue
        try:
            _, _, _, updated_at, _ = decode_result(ROUND_TYPES, round_data, f"{symbol} {LATEST_ROUND_DATA}")
        except FloorError:
            continue
        if updated_at > 0:
            ages[symbol] = batch.timestamp - updated_at
    return ages


def sample_market(
    history: list[RateObservation], key, snapshot: RateSnapshot, tvl: int | None, now: datetime, policy: BreakerPolicy
) -> MarketSample:
    """One market's reading with the window's history from the store (which already holds
    this reading): the TVL's and the growth index's highs, the APY now and its average."""

    def since(seconds: int) -> list[RateObservation]:
        return [o for o in history if o.timestamp >= now - timedelta(seconds=seconds)]

    tvls = [o.total_assets for o in since(policy.window_s) if o.total_assets is not None]
    indexes = [o.growth_index for o in since(policy.drawdown_window_s)]
    apy, trailing = _apys(since(policy.apy_window_s), snapshot, now, policy.apy_interval_s)
    return MarketSample(
        key=key,
        tvl=tvl,
        tvl_peak=max([*tvls, tvl]) if tvl is not None else None,
        apy=apy,
        apy_trailing=trailing,
        index=snapshot.growth_index,
        index_peak=max([*indexes, snapshot.growth_index]),
    )


def _apys(
    history: list[RateObservation], now_snapshot: RateSnapshot, now: datetime, interval_s: int
) -> tuple[float | None, float | None]:
    """(APY now, its average over the window). A quoted rate is averaged as quoted; a measured
    one is the growth over the last `interval_s` against the growth over the whole window.
    None while the history is too short to say."""
    earlier = [o for o in history if o.timestamp <= now - timedelta(seconds=interval_s)]
    if now_snapshot.quoted_apr is not None:
        quoted = [o.quoted_apr for o in earlier if o.quoted_apr is not None]
        if not quoted:
            return apy_from_apr(now_snapshot.quoted_apr), None
        return apy_from_apr(now_snapshot.quoted_apr), sum(apy_from_apr(a) for a in quoted) / len(quoted)
    if not earlier:
        return None, None
    first, last = earlier[0], earlier[-1]
    if first is last:
        return None, None  # one observation: the interval and the window are the same growth

    def snap(o: RateObservation) -> RateSnapshot:
        return RateSnapshot(timestamp=int(o.timestamp.timestamp()), growth_index=o.growth_index)

    return realised_rate(snap(last), now_snapshot).apy, realised_rate(snap(first), now_snapshot).apy
