"""The engine's workers run workflows in the SDK's sandbox without its per-payload context calls
(workers/sandbox.py): the sandbox still refuses what a workflow must not do, and the sandbox is
no longer entered to ask which serialization context a payload has."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import pytest
    from temporalio.api.enums.v1 import EventType
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
    from temporalio.worker.workflow_sandbox._runner import _Instance

    from activities.deps import Deps
    from workers.sandbox import ContextFreeSandboxRunner
    from workers.temporal import build_worker


@activity.defn
async def echo(text: str) -> str:
    return text


@workflow.defn
class EchoTwice:
    """A payload in and out, an activity and a local activity: every kind of payload an
    operation's tasks carry."""

    @workflow.run
    async def run(self, text: str) -> str:
        once = await workflow.execute_activity(echo, text, start_to_close_timeout=timedelta(seconds=10))
        return await workflow.execute_local_activity(echo, once + "!", start_to_close_timeout=timedelta(seconds=10))


@workflow.defn
class ReadsTheClock:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # not deterministic: the sandbox refuses it


async def test_the_engines_workers_run_the_context_free_sandbox(temporal_env, settings, signer, web3s, task_queue):
    worker = build_worker(temporal_env.client, task_queue, Deps(settings, signer, web3s))
    assert type(worker.config()["workflow_runner"]) is ContextFreeSandboxRunner


@pytest.mark.parametrize(("runner", "asked"), [(ContextFreeSandboxRunner(), False), (SandboxedWorkflowRunner(), True)])
async def test_no_serialization_context_is_asked_of_the_sandbox(temporal_env, monkeypatch, runner, asked):
    """The SDK's own runner enters the sandbox for every payload's context (the control: this
    test can tell); the engine's does not, and the workflow's payloads come through alike."""
    entered: list[str] = []
    run_code = _Instance._run_code

    def counting(self, code, **extra):
        if "get_serialization_context" in code or "get_external_store_context" in code:
            entered.append(code)
        return run_code(self, code, **extra)

    monkeypatch.setattr(_Instance, "_run_code", counting)
    task_queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_env.client, task_queue=task_queue, workflows=[EchoTwice], activities=[echo], workflow_runner=runner
    ):
        result = await temporal_env.client.execute_workflow(
            EchoTwice.run, "payload", id=f"echo-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
    assert result == "payload!"
    assert bool(entered) is asked


async def test_the_sandbox_still_refuses_a_workflow_reading_the_clock(temporal_env):
    task_queue = f"sandbox-{uuid.uuid4().hex[:8]}"
    handle = None
    async with Worker(
        temporal_env.client,
        task_queue=task_queue,
        workflows=[ReadsTheClock],
        workflow_runner=ContextFreeSandboxRunner(),
    ):
        handle = await temporal_env.client.start_workflow(
            ReadsTheClock.run, id=f"clock-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        failure = ""
        for _ in range(100):
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    failure = event.workflow_task_failed_event_attributes.failure.message
            if failure:
                break
            await asyncio.sleep(0.1)
    await handle.terminate("test over")
    assert "Cannot access datetime.datetime.now" in failure, failure
