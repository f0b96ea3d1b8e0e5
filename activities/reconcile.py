"""Reconciliation activities: read every position of a chain in one Multicall3 batch (with the
markets' growth indexes and the signer's gas balance), compare with the engine's cached view
from the store, and store what does not match. Also the journal: snapshots and transactions
that operations write so the cache exists. Everything here writes idempotently (a retried
activity writes nothing twice)."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from activities.chain import ChainActivities, _named_errors
from floor.calls import decode_result, read
from floor.config import Settings
from floor.engine import Transition
from floor.errors import FloorError
from floor.operations import JournalInput
from floor.readplan import ReadPlan
from floor.reconcile import (
    ChainReconciliation,
    Finding,
    ReconcileChainInput,
    StoredDiscrepancy,
    carried_forward,
    classify,
    default_dust,
)
from floor.store import Store
from floor.store.tables import (
    Discrepancy,
    EngineEvent,
    PositionSnapshot,
    RateObservation,
    TxJournal,
    encode_effects,
)


class NoStore(FloorError):
    """Reconciliation needs the store (the cache it compares with)."""


class ReconcileActivities:
    def __init__(self, chains: ChainActivities):
        self.chains = chains
        self.settings: Settings = chains.settings

    @property
    def store(self) -> Store:
        if self.chains.store is None:
            raise NoStore("this worker has no store configured: nothing to reconcile against")
        return self.chains.store

    @activity.defn
    @_named_errors
    def reconcile_chain(self, input: ReconcileChainInput) -> ChainReconciliation:
        ctx = self.chains._chain(input.chain_id)
        account = self.chains._account(input.chain_id)
        policy = self.settings.reconcile
        adapters = self.chains.adapters(input.chain_id, [a.key for a in self.chains.registry.on_chain(input.chain_id)])
        signer = self.chains.signer.address if self.chains.signer else account
        # A read two adapters (or a position and its rate) both need is sent once.
        plan = ReadPlan()
        for i, adapter in enumerate(adapters):
            plan.add(("position", i), adapter.position_reads(account))
            plan.add(("rate", i), adapter.rate_reads())
            plan.add(("tvl", i), adapter.tvl_reads())  # the market's total: the breakers' TVL history
        plan.add("gas", [read(ctx.config.multicall3, "getEthBalance(address)", signer)])
        batch = ctx.reader.read(plan.calls)
        results = plan.results(batch.results)
        now = datetime.fromtimestamp(batch.timestamp, UTC)
        cached = self.store.latest_snapshot(input.chain_id)
        effects = self._effects_since(input.chain_id, cached)
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
        )
        for d in stored:
            self.store.raise_alert(
                "discrepancy",
                d.market,
                f"#{d.id}: chain holds {d.actual}, expected {d.expected} base units of {d.asset} "
                f"({d.relative_bps} bps)",
                now,
            )
        minimum = policy.min_gas_wei.get(str(input.chain_id), 0)
        low_gas = gas_balance < minimum
        if low_gas:
            self.store.raise_alert("low_gas", f"{input.chain_id}:{signer}", f"{gas_balance} wei, below {minimum}", now)
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
                )
                for d in stored
            ],
            gas_balance_wei=str(gas_balance),
            low_gas=low_gas,
            uncached=uncached,
        )

    def _effects_since(self, chain_id: int, cached: dict[str, PositionSnapshot]) -> dict[str, int]:
        """Planned effects of transactions mined after each market's snapshot."""
        if not cached:
            return {}
        oldest = min(s.block_number for s in cached.values())
        effects: dict[str, int] = {}
        for tx in self.store.transactions_since(chain_id, oldest):
            for market, change in tx.effect_amounts().items():
                snapshot = cached.get(market)
                if snapshot is not None and tx.block_number > snapshot.block_number:
                    effects[market] = effects.get(market, 0) + change
        return effects

    @activity.defn
    @_named_errors
    def journal_transactions(self, input: JournalInput) -> int:
        """An operation's mined transactions, with the operation and intent that caused them
        and each one's planned effect on every market. A worker without a store records none."""
        if self.chains.store is None:
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
    @_named_errors
    def record_engine_events(self, raw: dict) -> int:
        """The engine's state transitions (time, states, cause, actor, reason). A worker
        without a store records none."""
        if self.chains.store is None:
            return 0
        rows = [
            EngineEvent(engine_id=raw["engine_id"], **Transition.model_validate(e).model_dump()) for e in raw["events"]
        ]
        return self.store.record_engine_events(rows)

    def all(self) -> list:
        return [self.reconcile_chain, self.journal_transactions, self.record_engine_events]


def accept_discrepancy(store: Store, discrepancy_id: int, by: str, reason: str) -> Discrepancy:
    """An operator's acceptance of a discrepancy, recorded with who and why; the cache then
    follows the chain (a snapshot of what the chain held when it was found), and its alert
    is resolved. Never silent: the acceptance stays in the store."""
    accepted = store.accept_discrepancy(discrepancy_id, by=by, reason=reason)
    store.record_snapshot(
        [
            PositionSnapshot(
                snapshot_id=f"accepted-{accepted.id}",
                operation_id=f"accepted-{accepted.id} by {by}",
                chain_id=accepted.chain_id,
                market=accepted.market,
                asset=accepted.asset,
                decimals=accepted.decimals,
                amount=accepted.actual,
                growth_index=accepted.growth_index,
                block_number=accepted.block_number,
                taken_at=accepted.accepted_at,
            )
        ]
    )
    store.resolve_alert("discrepancy", accepted.market, accepted.accepted_at)
    return accepted
