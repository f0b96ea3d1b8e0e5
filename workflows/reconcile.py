"""ReconcileWorkflow: every chain's positions against the engine's cached view, at once.

Each chain is one activity (`reconcile_chain`: one Multicall3 batch per chain, the store's
cache, the journal's recent transactions looked for, the classification, discrepancies and
alerts stored). A discrepancy of at least `trip_above_bps` (a journalled transaction the chain
lost is always one), or a chain that is not the one the engine knew, opens a circuit breaker
of its own in the engine's book (`reconcile:<market>`, `reconcile:chain:<id>`; signal
`internal_reconcile_breakers`) and pauses the engine (by "circuit-breaker", naming the
discrepancy or the chain): nothing else moves, and the engine does not resume, until an
operator has looked and accepted it (`floor reconcile --accept ID`, `--accept-chain ID`, which
close the breaker) and resumed. One open discrepancy per market: a later run updates it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

from workflows.operation import READ_TIMEOUT, RETRY, validated

with workflow.unsafe.imports_passed_through():
    from floor.doors import ReconcileStart
    from floor.reconcile import ChainReconciliation, ReconcileChainInput, ReconcileResult
    from floor.risk.breakers import Finding, ReconcileTrip, Trigger, reconcile_scope


@workflow.defn
class ReconcileWorkflow:
    @workflow.run
    async def run(self, raw: Any = None) -> ReconcileResult:
        input = validated(ReconcileStart, raw, "reconciliation", example='{"chains": [1], "engine_id": "..."}')
        run_id = workflow.info().workflow_id
        workflow.set_current_details(f"**step:** reading every position on chains {input.chains}")
        parts: list[ChainReconciliation] = list(
            await asyncio.gather(
                *(
                    workflow.execute_activity(
                        "reconcile_chain",
                        ReconcileChainInput(run_id=run_id, chain_id=chain_id),
                        result_type=ChainReconciliation,
                        start_to_close_timeout=READ_TIMEOUT,
                        retry_policy=RETRY,
                        summary=f"reconcile chain {chain_id}",
                    )
                    for chain_id in input.chains
                )
            )
        )
        found = [d for p in parts for d in p.discrepancies]
        tripping = [d for d in found if d.relative_bps >= input.trip_above_bps]
        # A chain that is not the one the engine knew (reset, rewritten past finality) trips it too.
        mismatched = [p.mismatch for p in parts if p.mismatch]
        opened: list[str] = []
        if (tripping or mismatched) and input.engine_id:
            if mismatched:
                reason = f"reconciliation {run_id}: {'; '.join(mismatched)}"
            else:
                worst = max(tripping, key=lambda d: d.relative_bps)
                reason = (
                    f"reconciliation {run_id}: discrepancy #{worst.id} on {worst.market}: chain holds {worst.actual}, "
                    f"expected {worst.expected} base units of {worst.asset} ({worst.relative_bps} bps)"
                    + (f": {worst.detail}" if worst.detail else "")
                )
            workflow.set_current_details(f"**circuit breaker:** {reason}")
            engine = workflow.get_external_workflow_handle(input.engine_id)
            if workflow.patched("reconcile-breakers"):
                # A breaker of its own per market (and chain), in the engine's book: the engine
                # pauses, and resumes only once each is accepted.
                trips = [
                    Finding(
                        scope=reconcile_scope(d.market),
                        trigger=Trigger.RECONCILE,
                        reason=f"discrepancy #{d.id} on {d.market}: chain holds {d.actual}, expected {d.expected} "
                        f"base units of {d.asset} ({d.relative_bps} bps)" + (f": {d.detail}" if d.detail else ""),
                    )
                    for d in tripping
                ] + [
                    Finding(scope=reconcile_scope(f"chain:{p.chain_id}"), trigger=Trigger.RECONCILE, reason=p.mismatch)
                    for p in parts
                    if p.mismatch
                ]
                opened = [f.scope for f in trips]
                await engine.signal(
                    "internal_reconcile_breakers",
                    ReconcileTrip(run_id=run_id, findings=trips, pause_reason=reason[:1000]).model_dump(mode="json"),
                )
            else:  # runs started before: the engine is paused, no breaker of its own
                await engine.signal("pause_engine", {"by": "circuit-breaker", "reason": reason[:500]})
        kinds: dict[str, int] = {}
        for p in parts:
            for kind, n in p.kinds.items():
                kinds[kind] = kinds.get(kind, 0) + n
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "nothing cached yet"
        checked = sum(p.transactions_checked for p in parts)
        if checked:
            summary += f"; {checked} journalled transactions looked for"
        if found:
            summary += "; discrepancies " + ", ".join(f"#{d.id} {d.market} {d.relative_bps} bps" for d in found)
        low = [p.chain_id for p in parts if p.low_gas]
        if low:
            summary += f"; signer's gas low on chains {low}"
        if mismatched:
            summary = "; ".join(mismatched) + f" (not read); other chains: {summary}"
        return ReconcileResult(
            status="mismatch" if mismatched else "discrepancy" if found else "clean",
            summary=summary,
            chains=parts,
            tripped=bool((tripping or mismatched) and input.engine_id),
            breakers=opened,
        )
