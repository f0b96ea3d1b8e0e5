"""An exit drill now (`floor exit-drill`), outside its schedule, and the input both start it with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from temporalio.client import Client

from floor.config import Settings
from floor.errors import UnknownChain
from floor.exit_drill import ExitDrillResult, ExitDrillStart

EXIT_DRILL = "exit-drill"  # the schedule's kind: `<engine id>/exit-drill-check`


def exit_drill_input(settings: Settings, chains: Sequence[int] | None = None) -> ExitDrillStart:
    """Every chain with an executor, or those of `chains` (each must be one)."""
    drillable = [c.id for c in settings.chains if c.executor]
    unknown = sorted(set(chains or ()) - set(drillable))
    if unknown:
        raise UnknownChain(f"chain {unknown[0]} has no executor configured (drillable: {drillable})")
    return ExitDrillStart(chains=list(chains) if chains else drillable, timeout_s=settings.exit_drill.timeout_s)


async def exit_drill(client: Client, settings: Settings, chains: Sequence[int] | None = None, wait: bool = True):
    """Run an exit drill now; its result, or its handle."""
    from workflows.exit_drill import ExitDrillWorkflow

    start = exit_drill_input(settings, chains)
    handle = await client.start_workflow(
        ExitDrillWorkflow.run,
        start.model_dump(mode="json"),
        id=f"{settings.engine_id}/exit-drill-now-{datetime.now(UTC):%Y%m%dT%H%M%S%f}",
        task_queue=settings.temporal.task_queue,
        result_type=ExitDrillResult,
    )
    return await handle.result() if wait else handle
