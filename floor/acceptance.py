"""An operator's acceptance of a reconciliation's discrepancy, written to the store (by the CLI's
process: `floor reconcile --accept`)."""

from __future__ import annotations

from floor.reconcile import parse_tx_key
from floor.store import Store, StoreError
from floor.store.tables import Discrepancy, PositionSnapshot


def accept_discrepancy(store: Store, discrepancy_id: int, by: str, reason: str) -> Discrepancy:
    """An operator's acceptance of a discrepancy, recorded with who and why; the cache then
    follows the chain (a snapshot of what the chain held when it was found), and its alert
    is resolved. Never silent: the acceptance stays in the store."""
    accepted = store.accept_discrepancy(discrepancy_id, by=by, reason=reason)
    accepted_at = accepted.accepted_at
    if accepted_at is None:  # accept_discrepancy stamps it: never reached
        raise StoreError(f"discrepancy {discrepancy_id} was accepted without a time")
    lost = parse_tx_key(accepted.market)
    if lost is not None:  # a transaction the chain lost: the journal no longer counts on it
        store.set_chain_state(lost[0], lost[1], "gone")
        store.resolve_alert("discrepancy", accepted.market, accepted_at)
        return accepted
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
                taken_at=accepted_at,
            )
        ]
    )
    store.resolve_alert("discrepancy", accepted.market, accepted_at)
    return accepted
