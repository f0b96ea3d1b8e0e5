"""The engine's checks as Temporal Schedules: the rebalance and harvest checks (paused when the
engine is), the reconciliation, the risk check and the exit drill (never paused: they only read,
and matter most while the engine is paused). Created or updated from the config; applying twice changes
nothing."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.service import RPCError

from client.engine import engine_status
from client.exit_drill import EXIT_DRILL, exit_drill_input
from floor.catalogue import reconcile_input
from floor.config import Settings
from floor.engine import EngineState, Operation

CHECKS = (Operation.REBALANCE, Operation.HARVEST)
RISK_CHECK = "risk"  # the circuit breakers' check: a schedule of its own, never paused


def schedule_id(engine_id: str, kind: Operation | str) -> str:
    return f"{engine_id}/{getattr(kind, 'value', kind)}-check"


async def apply_schedules(client: Client, settings: Settings) -> list[str]:
    """Create or update the rebalance and harvest checks from the config; paused when the
    engine is. Running it twice changes nothing. Returns the schedule ids."""
    from workflows.engine import EngineCheckWorkflow

    engine_id = settings.engine_id
    paused = False
    with contextlib.suppress(RPCError):
        paused = (await engine_status(client, engine_id)).state == EngineState.PAUSED
    every = {
        Operation.REBALANCE: settings.engine.rebalance_check_every_s,
        Operation.HARVEST: settings.engine.harvest_check_every_s,
    }
    ids = []
    for kind in CHECKS:
        sid = schedule_id(engine_id, kind)
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                EngineCheckWorkflow.run,
                {"engine_id": engine_id, "kind": kind.value},
                id=f"{engine_id}/{kind.value}-check",
                task_queue=settings.temporal.task_queue,
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every[kind]))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(paused=paused, note="the engine is paused" if paused else ""),
        )
        try:
            await client.create_schedule(sid, schedule)
        except ScheduleAlreadyRunningError:

            def keep_pause(current, schedule=schedule):
                schedule.state = current.description.schedule.state  # paused or not, as the engine left it
                return ScheduleUpdate(schedule=schedule)

            await client.get_schedule_handle(sid).update(keep_pause)
        ids.append(sid)
    ids.append(await _apply_reconcile_schedule(client, settings))
    ids.append(await _apply_risk_schedule(client, settings))
    ids.append(await _apply_exit_drill_schedule(client, settings))
    return ids


async def _apply_reconcile_schedule(client: Client, settings: Settings) -> str:
    """Reconciliation reads only, so it keeps running while the engine is paused: that is
    when an operator most wants to know what the chain holds."""
    from workflows.reconcile import ReconcileWorkflow

    action = ScheduleActionStartWorkflow(
        ReconcileWorkflow.run,
        reconcile_input(settings).model_dump(mode="json"),
        id=f"{settings.engine_id}/reconcile",
        task_queue=settings.temporal.task_queue,
    )
    return await _apply_unpaused(
        client, schedule_id(settings.engine_id, "reconcile"), action, settings.reconcile.every_s
    )


async def _apply_risk_schedule(client: Client, settings: Settings) -> str:
    """The risk check reads only, and must watch while the engine is paused (a drain does not
    wait), so it is never paused with the engine."""
    from workflows.engine import EngineCheckWorkflow

    action = ScheduleActionStartWorkflow(
        EngineCheckWorkflow.run,
        {"engine_id": settings.engine_id, "kind": RISK_CHECK},
        id=f"{settings.engine_id}/{RISK_CHECK}-check",
        task_queue=settings.temporal.task_queue,
    )
    return await _apply_unpaused(
        client, schedule_id(settings.engine_id, RISK_CHECK), action, settings.risk.check_every_s
    )


async def _apply_exit_drill_schedule(client: Client, settings: Settings) -> str:
    """The exit drill works on forks only, and a paused engine is when its answer matters most
    (can the floor still get out?), so it is never paused with the engine."""
    from workflows.exit_drill import ExitDrillWorkflow

    action = ScheduleActionStartWorkflow(
        ExitDrillWorkflow.run,
        exit_drill_input(settings).model_dump(mode="json"),
        id=f"{settings.engine_id}/{EXIT_DRILL}",
        task_queue=settings.temporal.task_queue,
    )
    return await _apply_unpaused(
        client, schedule_id(settings.engine_id, EXIT_DRILL), action, settings.exit_drill.every_s
    )


async def _apply_unpaused(client: Client, sid: str, action: ScheduleActionStartWorkflow, every_s: int) -> str:
    """Create or update a schedule the engine's pause does not touch."""
    schedule = Schedule(
        action=action,
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=every_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(sid, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(sid).update(lambda _: ScheduleUpdate(schedule=schedule))
    return sid
