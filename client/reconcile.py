"""A reconciliation run now (`floor reconcile`), outside its schedule."""

from __future__ import annotations

from temporalio.client import Client

from floor.catalogue import reconcile_input
from floor.config import Settings
from floor.reconcile import ReconcileResult


async def reconcile(client: Client, settings: Settings, wait: bool = True):
    """Run a reconciliation now (`floor reconcile`); its result, or its handle."""
    from datetime import UTC, datetime

    from workflows.reconcile import ReconcileWorkflow

    workflow_id = f"{settings.engine_id}/reconcile-now-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    handle = await client.start_workflow(
        ReconcileWorkflow.run,
        reconcile_input(settings).model_dump(mode="json"),
        id=workflow_id,
        task_queue=settings.temporal.task_queue,
        result_type=ReconcileResult,
    )
    return await handle.result() if wait else handle
