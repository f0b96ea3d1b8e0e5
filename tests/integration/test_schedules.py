"""The engine's Temporal Schedules on the dev server: applied from the config idempotently,
updated in place, the checks paused and unpaused with the engine (reconciliation goes on), and
each check asking the engine (which answers by starting the operation or refusing it)."""

from __future__ import annotations

from datetime import timedelta

from activities.deps import Deps
from client import apply_schedules, engine_status, ensure_engine
from floor.engine import Operation
from tests.integration.engine_helpers import commander, engine_settings, wait_for
from workers.temporal import build_worker


async def last_check_answer(client, schedule_id: str, after: int) -> str | None:
    description = await client.get_schedule_handle(schedule_id).describe()
    actions = description.info.recent_actions
    if len(actions) <= after:
        return None
    run = client.get_workflow_handle(actions[-1].action.workflow_id, result_type=str)
    return await run.result()


async def test_schedules_follow_the_config_and_the_engine(temporal_env, stack, web3s, signer, task_queue):
    settings = engine_settings(stack, task_queue)
    engine_id = settings.engine_id
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s)):
        await ensure_engine(client, settings)
        ids = await apply_schedules(client, settings)
        try:
            assert ids == [
                f"{engine_id}/rebalance-check",
                f"{engine_id}/harvest-check",
                f"{engine_id}/reconcile-check",
                f"{engine_id}/risk-check",
                f"{engine_id}/exit-drill-check",
            ]
            assert await apply_schedules(client, settings) == ids  # again: nothing new
            rebalance_check = client.get_schedule_handle(ids[0])
            described = await rebalance_check.describe()
            assert described.schedule.spec.intervals[0].every == timedelta(seconds=900)
            assert not described.schedule.state.paused

            # A changed config updates the schedule in place.
            changed = settings.model_copy(
                update={"engine": settings.engine.model_copy(update={"rebalance_check_every_s": 1_200})}
            )
            assert await apply_schedules(client, changed) == ids
            assert (await rebalance_check.describe()).schedule.spec.intervals[0].every == timedelta(seconds=1_200)

            # Paused with the engine, kept paused by a re-apply, unpaused with the engine.
            await commander(client, settings).pause("incident 7")
            for sid in ids[:2]:
                state = (await client.get_schedule_handle(sid).describe()).schedule.state
                assert state.paused and "incident 7" in state.note
            # Reconciliation and the risk check only read: they go on while the engine is paused.
            for sid in ids[2:]:
                assert not (await client.get_schedule_handle(sid).describe()).schedule.state.paused
            await apply_schedules(client, changed)
            assert (await rebalance_check.describe()).schedule.state.paused

            # A check fired while paused: the engine refuses, and the check says why.
            await rebalance_check.trigger()
            answer = await wait_for(lambda: last_check_answer(client, ids[0], 0), what="the check's answer")
            assert answer == "refused: the engine is paused: only resume is accepted (asked: rebalance)"

            await commander(client, settings).resume("over")
            assert not (await rebalance_check.describe()).schedule.state.paused
            await rebalance_check.trigger()
            answer = await wait_for(lambda: last_check_answer(client, ids[0], 1), what="the second answer")
            assert answer == f"started {engine_id}/rebalance-1"

            async def recorded():
                status = await engine_status(client, engine_id)
                return status.last if status.operation is None and status.last else None

            last = await wait_for(recorded, what="the scheduled rebalance recorded")
            assert last.kind == Operation.REBALANCE and last.status == "skipped"  # nothing held, nothing drifts

            # The Web UI's list without the checks (README): Temporal marks what a schedule started.
            async def listed(query: str) -> list[str]:
                return [w.id async for w in client.list_workflows(f'{query} AND WorkflowId STARTS_WITH "{engine_id}"')]

            async def split() -> tuple[list[str], list[str]] | None:
                ours, checks = (
                    await listed("TemporalScheduledById IS NULL"),
                    await listed("TemporalScheduledById IS NOT NULL"),
                )
                return (ours, checks) if f"{engine_id}/rebalance-1" in ours and len(checks) >= 2 else None

            ours, checks = await wait_for(split, what="the workflows listed apart from the checks")
            assert engine_id in ours and not any("-check" in w for w in ours), ours
            assert all(w.startswith(f"{engine_id}/rebalance-check") for w in checks), checks
        finally:
            for sid in ids:
                await client.get_schedule_handle(sid).delete()
