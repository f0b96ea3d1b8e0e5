"""Reconciliation activities: read every position of a chain in one Multicall3 batch (with the
markets' growth indexes, the executor's idle balances and the signer's gas balance), compare
with the engine's cached view from the store, check that the journal's recent transactions are
still on the chain, and store what does not match. A chain that is not the one the engine knew
(its stored mark: `floor.chain.marks`) is not read at all: the run says so in one line. Also
the journal: snapshots and transactions that operations write so the cache exists. Everything
here writes idempotently (a retried activity writes nothing twice).

For the metrics (`floor.metrics`, rendered by the exporter from the store): a reconciled chain's
positions and idle balances at the reconciliation's block, read by the code `floor positions`
reports with (`market_mark`), and its signer's gas balance (a gauge); the engine's finished
operations as metric events (durations, slippage, yield, failed parts)."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity
from web3.exceptions import TransactionNotFound

from activities.deps import Deps
from activities.errors import NoStore, named_errors
from floor.calls import decode_result, read
from floor.chain.identity import hash_at
from floor.chain.marks import check_chain, final_block, record_final_mark
from floor.chain.report import IdleReport, MarketReport, exact, read_idle_report, read_report
from floor.config import Settings
from floor.engine import Transition
from floor.errors import PriceStale, PriceUnavailable
from floor.logging import get_logger
from floor.metrics import ERRORS, HARVEST_YIELD, MOVE_SLIPPAGE, REBALANCE_DURATION, SIGNER_GAS
from floor.models import AdapterKey
from floor.observations import OperationObservation
from floor.operations import JournalInput, units
from floor.readplan import ReadPlan
from floor.reconcile import (
    BPS,
    ChainReconciliation,
    Finding,
    ReconcileChainInput,
    StoredDiscrepancy,
    carried_forward,
    classify,
    classify_idle,
    default_dust,
    deliveries,
    idle_key,
    tx_key,
)
from floor.risk.breakers import RECONCILE_PREFIX
from floor.store import Store
from floor.store.tables import (
    Discrepancy,
    EngineEvent,
    MarketMark,
    MetricEvent,
    PositionSnapshot,
    RateObservation,
    TxJournal,
    encode_effects,
)

IDLE = "idle"  # the metrics' protocol for an executor's idle balances

# Journalled transactions looked for per chain and run (newest first): the rest next run, as
# those checked become final and leave the set.
MAX_TX_CHECKS = 200


class ReconcileActivities:
    def __init__(self, deps: Deps):
        self.deps = deps
        self.settings: Settings = deps.settings

    @property
    def store(self) -> Store:
        if self.deps.store is None:
            raise NoStore("this worker has no store configured: nothing to reconcile against")
        return self.deps.store

    @activity.defn
    @named_errors
    def reconcile_chain(self, input: ReconcileChainInput) -> ChainReconciliation:
        ctx = self.deps.chain(input.chain_id)
        account = self.deps.account(input.chain_id)
        policy = self.settings.reconcile
        subject = f"chain:{input.chain_id}"
        # First: is this the chain the engine knew? If not, nothing read from it means anything.
        known = self.store.chain_marks().get(input.chain_id)
        problem = check_chain(ctx.w3, input.chain_id, known)
        if problem:
            self.store.raise_alert("chain_state", subject, problem, datetime.now(UTC))
            return ChainReconciliation(
                chain_id=input.chain_id,
                block_number=known.block_number,
                markets=0,
                kinds={},
                discrepancies=[],
                gas_balance_wei="0",
                low_gas=False,
                mismatch=problem,
            )
        adapters = self.deps.adapters(input.chain_id, [a.key for a in self.deps.registry.on_chain(input.chain_id)])
        signer = self.deps.signer.address if self.deps.signer else account
        cached = self._canonical_snapshot(input.chain_id, known.block_number if known is not None else -1)
        # Idle balances an operation's read has cached (the others: nothing to compare with).
        idle_tokens = [t for t in ctx.config.tokens if idle_key(input.chain_id, t.symbol) in cached]
        # A read two adapters (or a position and its rate) both need is sent once.
        plan = ReadPlan()
        for i, adapter in enumerate(adapters):
            plan.add(("position", i), adapter.position_reads(account))
            plan.add(("rate", i), adapter.rate_reads())
            plan.add(("tvl", i), adapter.tvl_reads())  # the market's total: the breakers' TVL history
        for token in idle_tokens:
            plan.add(("idle", token.symbol), [read(token.address, "balanceOf(address)", account)])
        plan.add("gas", [read(ctx.config.multicall3, "getEthBalance(address)", signer)])
        batch = ctx.reader.read(plan.calls)
        results = plan.results(batch.results)
        now = datetime.fromtimestamp(batch.timestamp, UTC)
        final = final_block(ctx.w3, ctx.config.finality, batch.block_number)
        # The journal first: where each recent transaction is on the chain now is where its
        # effects count (a reorg may have mined it again, later than it was journalled).
        lost, found_at, checked = self._check_journal(input, final, batch.block_number, now)
        effects = self._effects_since(input.chain_id, cached, found_at)
        findings, rates, uncached = [], [], []
        for i, adapter in enumerate(adapters):
            position = adapter.decode_position(results["position", i])
            rate = adapter.decode_rate(results["rate", i], batch.timestamp)
            market = str(adapter.key)
            rates.append(
                RateObservation(
                    chain_id=input.chain_id,
                    market=market,
                    block_number=batch.block_number,
                    timestamp=now,
                    growth_index=rate.growth_index,
                    quoted_apr=rate.quoted_apr,
                    total_assets=adapter.decode_tvl(results["tvl", i]),
                )
            )
            snapshot = cached.get(market)
            if snapshot is None:
                uncached.append(market)
                continue
            base = snapshot.amount + effects.get(market, 0)
            expected = carried_forward(base, snapshot.growth_index, rate.growth_index)
            dust = policy.dust.get(adapter.asset.symbol, default_dust(adapter.asset.decimals))
            findings.append(
                Finding(
                    chain_id=input.chain_id,
                    market=market,
                    asset=adapter.asset.symbol,
                    decimals=adapter.asset.decimals,
                    cached=base,
                    expected=expected,
                    actual=position.amount,
                    kind=classify(base, expected, position.amount, policy.tolerance_bps, dust),
                    block_number=batch.block_number,
                    growth_index=rate.growth_index,
                )
            )
        for token in idle_tokens:
            market = idle_key(input.chain_id, token.symbol)
            (held,) = decode_result(
                ["uint256"], results["idle", token.symbol][0], f"{token.symbol}.balanceOf(executor)"
            )
            base = max(cached[market].amount + effects.get(market, 0), 0)
            dust = policy.dust.get(token.symbol, default_dust(token.decimals))
            findings.append(
                Finding(
                    chain_id=input.chain_id,
                    market=market,
                    asset=token.symbol,
                    decimals=token.decimals,
                    cached=base,
                    expected=base,
                    actual=held,
                    kind=classify_idle(base, held, dust),
                    block_number=batch.block_number,
                )
            )
        (gas_balance,) = decode_result(["uint256"], results["gas"][0], "Multicall3.getEthBalance(signer)")
        self.store.record_rates(rates)
        stored = self.store.record_discrepancies(
            [
                Discrepancy(
                    run_id=input.run_id,
                    chain_id=f.chain_id,
                    market=f.market,
                    asset=f.asset,
                    decimals=f.decimals,
                    expected=f.expected,
                    actual=f.actual,
                    difference=f.difference,
                    relative_bps=f.relative_bps,
                    block_number=f.block_number,
                    growth_index=f.growth_index,
                    found_at=now,
                    status="open",
                )
                for f in findings
                if f.kind == "discrepancy"
            ]
            + lost
        )
        for d in stored:
            self.store.raise_alert(
                "discrepancy",
                d.market,
                f"#{d.id}: {d.detail}"
                if d.detail
                else f"#{d.id}: chain holds {units(int(d.actual), d.decimals, d.asset)}, expected "
                f"{units(int(d.expected), d.decimals, d.asset)} ({d.relative_bps} bps)",
                now,
            )
        minimum = policy.min_gas_wei.get(str(input.chain_id), 0)
        low_gas = gas_balance < minimum
        if low_gas:
            self.store.raise_alert("low_gas", f"{input.chain_id}:{signer}", f"{gas_balance} wei, below {minimum}", now)
        else:  # topped up: the alert ends with the reading that sees it
            self.store.resolve_alert("low_gas", f"{input.chain_id}:{signer}", now)
        # The chain is the one the engine knew: remember a newer final block of it.
        if known is not None:
            self.store.resolve_alert("chain_state", subject, now)
        if final > (known.block_number if known is not None else -1):
            record_final_mark(self.store, ctx.w3, input.chain_id, final, now, f"reconciliation {input.run_id}")
        taken_at = datetime.now(UTC)
        self.store.set_gauges([SIGNER_GAS.gauge_row(gas_balance / 10**18, taken_at, chain=input.chain_id)])
        self.store.record_market_marks(self._marks(input.chain_id, batch.block_number, taken_at))
        kinds: dict[str, int] = {}
        for f in findings:
            kinds[f.kind] = kinds.get(f.kind, 0) + 1
        return ChainReconciliation(
            chain_id=input.chain_id,
            block_number=batch.block_number,
            markets=len(adapters),
            kinds=kinds,
            discrepancies=[
                StoredDiscrepancy(
                    id=d.id,
                    market=d.market,
                    asset=d.asset,
                    decimals=d.decimals,
                    expected=str(d.expected),
                    actual=str(d.actual),
                    relative_bps=d.relative_bps,
                    detail=d.detail,
                )
                for d in stored
            ],
            gas_balance_wei=str(gas_balance),
            low_gas=low_gas,
            uncached=uncached,
            transactions_checked=checked,
        )

    def _marks(self, chain_id: int, block: int, taken_at: datetime) -> list[MarketMark]:
        """The chain's positions and idle balances at the reconciliation's block, by the code
        `floor positions` reports with (`floor.chain.report`), for the metrics. A price that
        cannot be read leaves the rows unvalued; a read that fails leaves them out (logged): the
        reconciliation stands either way."""
        web3s = {chain_id: self.deps.chain(chain_id).w3}
        at = {chain_id: block}
        log = get_logger(chain_id=chain_id, block_number=block)
        try:
            try:
                rows = read_report(self.settings, web3s, exit_quotes=True, chains=[chain_id], blocks=at)
                idle = read_idle_report(self.settings, web3s, chains=[chain_id], blocks=at)
            except (PriceUnavailable, PriceStale) as exc:
                log.warning("positions recorded without values: a price could not be read", error=str(exc))
                rows = read_report(self.settings, web3s, exit_quotes=True, priced=False, chains=[chain_id], blocks=at)
                idle = read_idle_report(self.settings, web3s, priced=False, chains=[chain_id], blocks=at)
        except Exception:
            log.warning("positions not recorded for the metrics: the report's read failed", exc_info=True)
            return []
        return market_marks(rows, idle, taken_at)

    def _canonical_snapshot(self, chain_id: int, final: int) -> dict[str, PositionSnapshot]:
        """The latest snapshot per market read at a block the chain still holds. A read at a
        block a reorg replaced (its hash is no longer the chain's at that height) saw what the
        chain no longer holds: a transaction the queue then sent again and had mined in a later
        block would count twice, in the read and in the journal's effects after it. Such reads
        are left out and the latest before them stands in. Blocks up to `final` (the chain's
        remembered final block, checked against the chain already) are not looked up."""
        w3 = self.deps.chain(chain_id).w3
        stale: set[tuple[int, str]] = set()
        checked: set[tuple[int, str]] = set()
        while True:
            cached = self.store.latest_snapshot(chain_id, leaving_out=stale)
            blocks = {
                (s.block_number, s.block_hash) for s in cached.values() if s.block_hash and s.block_number > final
            }
            replaced = {(n, h) for n, h in blocks - checked if hash_at(w3, n) != h.lower()}
            checked |= blocks
            if not replaced:
                return cached
            get_logger(chain_id=chain_id).warning(
                "snapshots read at blocks a reorg replaced are left out", blocks=sorted(n for n, _ in replaced)
            )
            stale |= replaced

    def _check_journal(
        self, input: ReconcileChainInput, final: int, head: int, now: datetime
    ) -> tuple[list[Discrepancy], dict[str, tuple[int, int]], int]:
        """Every journalled transaction not yet final must still be on the chain, with the
        status it was journalled with (mined again in another block is fine: that block is
        recorded). One the chain no longer holds is a discrepancy naming it. Returns those,
        the blocks of each one found (by hash: where it was journalled, where it is now) and
        how many were checked."""
        w3 = self.deps.chain(input.chain_id).w3
        pending = self.store.journal_to_check(input.chain_id, MAX_TX_CHECKS)
        lost, found_at = [], {}
        for tx in pending:
            try:
                receipt = w3.eth.get_transaction_receipt(tx.tx_hash)
            except TransactionNotFound:
                receipt = None
            if receipt is not None and receipt["status"] == tx.status:
                block = receipt["blockNumber"]
                found_at[tx.tx_hash.lower()] = (tx.block_number, block)
                state = "final" if block <= final else "pending"
                if state != tx.chain_state or block != tx.canonical_block:
                    self.store.set_chain_state(input.chain_id, tx.tx_hash, state, block)
                continue
            lost.append(self._lost(input, tx, receipt, head, now))
        return lost, found_at, len(pending)

    def _lost(self, input: ReconcileChainInput, tx: TxJournal, receipt, head: int, now: datetime) -> Discrepancy:
        """A journalled transaction the chain does not hold as journalled: expected what it
        moved (a delivery first: its amount, token and destination), actual nothing."""
        effects = tx.effect_amounts()
        chain = self.deps.chain(input.chain_id).config
        assets = {str(a.key): a.asset for a in self.deps.registry.on_chain(input.chain_id)}
        asset, amount = "", 0
        sent = deliveries(effects)
        if sent:
            asset, destination, delivered = max(sent, key=lambda d: abs(d[2]))
            amount = abs(delivered)
        elif effects:
            key, change = max(effects.items(), key=lambda kv: abs(kv[1]))
            asset = assets[key].symbol if key in assets else key.split(":")[-1]
            amount = abs(change)
        decimals = next((t.decimals for t in chain.tokens if t.symbol == asset), 0) or next(
            (a.decimals for a in assets.values() if a.symbol == asset), 0
        )
        if sent:
            what = f"it delivered {units(delivered, decimals or None, asset)} to {destination}"
        elif effects:
            what = f"it moved {'+' if change > 0 else ''}{units(change, decimals or None, asset)} on {key}"
        else:
            what = "no effects were journalled with it"
        state = (
            "no receipt on the canonical chain"
            if receipt is None
            else f"mined with status {receipt['status']} now (journalled {tx.status})"
        )
        others = ", ".join(f"{k} {v:+}" for k, v in sorted(effects.items()))
        return Discrepancy(
            run_id=input.run_id,
            chain_id=input.chain_id,
            market=tx_key(input.chain_id, tx.tx_hash),
            asset=asset,
            decimals=decimals,
            expected=amount,
            actual=0,
            difference=-amount,
            relative_bps=BPS,  # the whole of it is missing, whatever it moved
            block_number=head,
            found_at=now,
            status="open",
            detail=(
                f"transaction {tx.tx_hash} (nonce {tx.nonce}, journalled at block {tx.block_number}) of "
                f"{tx.operation_id} ({tx.intent_id}): {state} at block {head}; {what}"
                + (f"; its effects: {others}" if others else "")
            ),
        )

    def _effects_since(
        self, chain_id: int, cached: dict[str, PositionSnapshot], found_at: dict[str, tuple[int, int]]
    ) -> dict[str, int]:
        """Planned effects of transactions mined after each market's snapshot (those an
        operator accepted as gone left out), each once: by the block the chain holds it in now
        (`found_at`, by hash: this run's look), else the block it was last known in."""
        if not cached:
            return {}
        oldest = min(s.block_number for s in cached.values())
        effects: dict[str, int] = {}
        # Journalled at or before the oldest snapshot but mined again after it: counted too.
        earlier = min([oldest, *(journalled for journalled, _ in found_at.values())])
        for tx in self.store.transactions_since(chain_id, earlier):
            if tx.chain_state == "gone":
                continue
            _, block = found_at.get(tx.tx_hash.lower(), (0, tx.canonical_block or tx.block_number))
            for market, change in tx.effect_amounts().items():
                snapshot = cached.get(market)
                if snapshot is not None and block > snapshot.block_number:
                    effects[market] = effects.get(market, 0) + change
        return effects

    @activity.defn
    @named_errors
    def journal_transactions(self, input: JournalInput) -> int:
        """An operation's mined transactions, with the operation and intent that caused them
        and each one's planned effect on every market. A worker without a store records none."""
        if self.deps.store is None:
            return 0
        rows = [
            TxJournal(
                operation_id=input.operation_id,
                intent_id=e.intent_id,
                chain_id=e.outcome.transaction.chain_id,
                tx_hash=e.outcome.transaction.tx_hash,
                nonce=e.outcome.transaction.nonce,
                status=e.outcome.transaction.status,
                block_number=e.outcome.transaction.block_number,
                gas_used=e.outcome.transaction.gas_used,
                effective_gas_price=e.outcome.transaction.effective_gas_price,
                calls=e.outcome.transaction.calls,
                recorded_at=datetime.now(UTC),
                effects=encode_effects(e.effects),
            )
            for e in input.entries
            if e.outcome.ok and e.outcome.transaction is not None
        ]
        return self.store.record_transactions(rows)

    @activity.defn
    @named_errors
    def record_engine_events(self, raw: dict) -> int:
        """The engine's state transitions (time, states, cause, actor, reason), and the finished
        operations' summaries (`operations`, `floor.observations`) as metric events, each keyed
        by its operation's workflow id, so a retry counts nothing twice. A worker without a
        store records none."""
        if self.deps.store is None:
            return 0
        rows = [
            EngineEvent(engine_id=raw["engine_id"], **Transition.model_validate(e).model_dump()) for e in raw["events"]
        ]
        recorded = self.store.record_engine_events(rows)
        finished = [OperationObservation.model_validate(o) for o in raw.get("operations", [])]
        self.store.record_metric_events([e for o in finished for e in operation_events(o)])
        return recorded

    @activity.defn
    @named_errors
    def reconciliation_open(self, scope: str) -> str:
        """What the store still holds open at a reconciliation's breaker (`reconcile:<market>`:
        its open discrepancy; `reconcile:chain:<id>`: the chain's open `chain_state` alert), in
        words; "" when nothing is (accepted), or the worker has no store."""
        if self.deps.store is None:
            return ""
        subject = scope.removeprefix(RECONCILE_PREFIX)
        if subject.startswith("chain:"):
            alert = next((a for a in self.store.open_alerts() if (a.kind, a.subject) == ("chain_state", subject)), None)
            return f"{subject} was not accepted as it is now: {alert.detail}" if alert else ""
        d = next((d for d in self.store.open_discrepancies() if d.market == subject), None)
        return f"discrepancy #{d.id} on {subject} is open (not accepted)" if d else ""

    def all(self) -> list:
        return [self.reconcile_chain, self.journal_transactions, self.record_engine_events, self.reconciliation_open]


def operation_events(o: OperationObservation) -> list[MetricEvent]:
    """A finished operation's metric events, keyed by its workflow id: a rebalance's duration
    (one that planned moves: a skipped one only read), each move's slippage, a harvest's yield
    in whole tokens (what grew: a counter does not fall, losses are the breakers' drawdown),
    and one error per failed part."""
    at, wf = o.finished_at, o.workflow_id
    events = []
    if o.kind == "rebalance" and o.status != "skipped":
        events.append(REBALANCE_DURATION.event_row(o.duration_s, wf, at))
    for i, s in enumerate(o.slippage):
        events.append(
            MOVE_SLIPPAGE.event_row(s.bps, f"{wf}/move-{i}", at, chain=s.key.chain_id, protocol=s.key.protocol)
        )
    for y in o.yields:
        if y.amount > 0:
            events.append(
                HARVEST_YIELD.event_row(
                    float(exact(y.amount, y.decimals)),
                    f"{wf}/{y.chain_id}:{y.token}:{y.source}",
                    at,
                    chain=y.chain_id,
                    token=y.token,
                    source=y.source,
                )
            )
    for i, f in enumerate(o.failed):
        chain = "" if f.chain_id is None else f.chain_id
        events.append(ERRORS.event_row(1, f"{wf}/failed-{i}", at, chain=chain, protocol="", type=f.error_type))
    return events


def market_marks(rows: list[MarketReport], idle: list[IdleReport], taken_at: datetime) -> list[MarketMark]:
    """The report's rows as the store keeps them for the metrics: amounts in base units, values
    as the report's exact decimal text; idle balances as protocol "idle" (`<chain>:idle:<ASSET>`)."""
    marks = [
        MarketMark(
            chain_id=r.chain_id,
            protocol=r.protocol,
            market=str(AdapterKey(chain_id=r.chain_id, protocol=r.protocol, market=r.market)),
            asset=r.asset,
            decimals=r.decimals,
            amount=r.amount,
            withdrawable=r.withdrawable,
            value_usd=None if r.value is None else format(r.value, "f"),
            apy=r.apy,
            apy_source=r.apy_source,
            liquidity_ratio_bps=r.liquidity.ratio_bps,
            max_safe_withdrawal=r.liquidity.max_safe_withdrawal,
            exit_slippage_bps=r.exit_slippage_bps,
            block_number=r.block_number,
            taken_at=taken_at,
        )
        for r in rows
    ]
    return marks + [
        MarketMark(
            chain_id=i.chain_id,
            protocol=IDLE,
            market=idle_key(i.chain_id, i.asset),
            asset=i.asset,
            decimals=i.decimals,
            amount=i.amount,
            withdrawable=i.amount,
            value_usd=None if i.value is None else format(i.value, "f"),
            block_number=i.block_number,
            taken_at=taken_at,
        )
        for i in idle
    ]
