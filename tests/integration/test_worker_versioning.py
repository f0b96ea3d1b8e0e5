"""Worker versioning: two builds of the worker (`build_worker` with a deployment version each)
on one task queue of the suite's Temporal dev server.

An operation (PINNED, the worker's default) started on build 1 finishes on build 1 after build 2
is made current, while new operations go to build 2; a rollback (build 1 current again) sends
new operations back to build 1, and the operation started on build 2 still finishes there. A
long-lived entity (as the engine and the transaction queues, with their own `workflows/upgrade.py`)
continues as new onto the current build at its next task. Each probe returns the build that ran each of its workflow tasks.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from temporalio import workflow
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion

from activities.deps import Deps
from floor.config import TemporalConfig
from tests.integration.engine_helpers import temporal_cli
from workers.temporal import (
    adopt_if_none_current,
    build_worker,
    current_version,
    set_current_version,
    worker_version,
)
from workflows.upgrade import new_build_current, next_run_versioning


def _build() -> str:
    version = workflow.info().get_current_deployment_version()
    return version.build_id if version else "unversioned"


@workflow.defn(sandboxed=False)
class OperationProbe:
    """An operation: no behaviour of its own, so the worker's default (PINNED)."""

    def __init__(self) -> None:
        self.proceed = False

    @workflow.run
    async def run(self) -> list[str]:
        builds = [_build()]
        await workflow.wait_condition(lambda: self.proceed)
        return [*builds, _build()]

    @workflow.signal
    def go_on(self) -> None:
        self.proceed = True


@workflow.defn(sandboxed=False)
class EntityProbe:
    """A long-lived entity, as the engine and the queues: pinned like every run, it continues as
    new onto the current build once that changes (`workflows/upgrade.py`, their own code). Each
    signal is a task; `stop` ends it."""

    def __init__(self) -> None:
        self.builds: list[str] = []
        self.stopped = False

    @workflow.run
    async def run(self, builds: list[str] | None = None) -> list[str]:
        self.builds = [*(builds or []), _build()]
        await workflow.wait_condition(lambda: self.stopped or new_build_current())
        if self.stopped:
            return self.builds
        workflow.continue_as_new(self.builds, initial_versioning_behavior=next_run_versioning())

    @workflow.signal
    def touch(self) -> None:
        self.builds.append(_build())

    @workflow.signal
    def stop(self) -> None:
        self.stopped = True

    @workflow.query
    def seen(self) -> list[str]:
        return self.builds


async def test_an_operation_finishes_on_its_build_while_new_work_follows_the_current_one(
    temporal_env, settings, task_queue
):
    began = time.monotonic()
    client = temporal_env.client
    deployment = f"floor-test-{uuid.uuid4().hex[:8]}"
    v1, v2 = (worker_version(TemporalConfig(deployment_name=deployment, build_id=b)) for b in ("build-1", "build-2"))
    assert v1 == WorkerDeploymentVersion(deployment, "build-1")
    assert worker_version(TemporalConfig()) is None  # no build id: unversioned, as before
    deps = Deps(settings, None)
    probes = [OperationProbe, EntityProbe]

    async def start(probe, name: str):
        return await client.start_workflow(probe.run, id=f"{task_queue}/{name}", task_queue=task_queue)

    async with build_worker(client, task_queue, deps, extra_workflows=probes, version=v1):
        # The deployment's first build makes itself current (as `floor-worker` does at start).
        assert await adopt_if_none_current(client, v1)
        assert not await adopt_if_none_current(client, v1)
        assert await current_version(client, deployment) == "build-1"
        old_operation = await start(OperationProbe, "operation-on-1")
        entity = await start(EntityProbe, "entity")
        assert await _until_seen(entity, 1) == ["build-1"]

        async with build_worker(client, task_queue, deps, extra_workflows=probes, version=v2):
            # The upgrade: new work goes to build 2.
            assert await set_current_version(client, v2) == "build-1"
            new_operation = await start(OperationProbe, "operation-on-2")
            await entity.signal(EntityProbe.touch)  # a task on its own build, then the next run on build 2
            assert await _until_seen(entity, 3) == ["build-1", "build-1", "build-2"]
            # The operation started on build 1 finishes there; the new one on build 2.
            await old_operation.signal(OperationProbe.go_on)
            assert await old_operation.result() == ["build-1", "build-1"]

            # The rollback: build 1 current again. Build 2 keeps serving what is pinned to it.
            assert await set_current_version(client, v1) == "build-2"
            code, out, err = await temporal_cli(
                client, "worker", "deployment", "describe", "--name", deployment, "--output", "json"
            )
            assert code == 0, err
            described = json.loads(out)
            # What an operator reads: build 1 current; build 2 still has a running operation (draining).
            assert described["routingConfig"]["currentVersionBuildID"] == "build-1", described
            drainage = {v["BuildID"]: v["drainageStatus"] for v in described["versionSummaries"]}
            assert drainage["build-2"] == "draining", drainage
            after_rollback = await start(OperationProbe, "operation-after-rollback")
            await entity.signal(EntityProbe.touch)
            assert await _until_seen(entity, 5) == ["build-1", "build-1", "build-2", "build-2", "build-1"]
            await new_operation.signal(OperationProbe.go_on)
            assert await new_operation.result() == ["build-2", "build-2"]
            await after_rollback.signal(OperationProbe.go_on)
            assert await after_rollback.result() == ["build-1", "build-1"]
            await entity.signal(EntityProbe.stop)
            assert await entity.result() == ["build-1", "build-1", "build-2", "build-2", "build-1"]

    for handle in (old_operation, new_operation, after_rollback):
        described = await handle.describe()
        versioning = described.raw_description.workflow_execution_info.versioning_info
        assert versioning.behavior == VersioningBehavior.PINNED.value, (handle.id, versioning)
    print(f"two builds, upgrade and rollback in {time.monotonic() - began:.1f}s")


async def _until_seen(entity, tasks: int, timeout_s: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = await entity.query(EntityProbe.seen)
        if len(seen) >= tasks or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.05)
