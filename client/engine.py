"""The engine's door, from outside a worker: connect to Temporal, start the engine, pause it by
signal, follow operations to their end, and read what it knows. What changes the engine is a
signed command: client.commands.

- `ensure_engine`: start the EngineWorkflow at its fixed id if it is not running; a running
  engine keeps its configuration (a signed `configure` changes it).
- `signal_pause`: the open, unsigned pause that needs no worker to answer.
- `follow`: an operation's child workflow to its result, reporting each step it passes.

The workflows are imported by the functions that use them (the typed handles): importing this
module loads neither the workflows nor the activities.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from floor.access.roles import RoleBook
from floor.catalogue import engine_input
from floor.config import Settings, TemporalConfig
from floor.engine import Operation
from floor.operations import EngineConfig, EngineStatus, OperationStarted
from floor.risk.breakers import Breaker

POLL_S = 0.25  # how often an operation followed is asked for its step
ANSWER_S = 3.0  # a worker answers a query
RECORD_TIMEOUT_S = 15.0  # how long the engine may take to record an operation that ended


class Refused(Exception):
    """The engine refused a request; the message is its validator's reason. `command`: the
    signed command refused (a SignedCommand), when one was sent."""

    def __init__(self, reason: str, command: Any = None):
        super().__init__(reason)
        self.command = command


class NotRunning(Refused):
    """No engine runs at the id asked: nothing was sent to one."""


def not_running(engine_id: str) -> str:
    return f"the engine {engine_id} is not running: a worker starts it (`floor-worker`), or `floor configure`"


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A Temporal client for the config's server and namespace, with the pydantic data
    converter every payload of the engine needs. `runtime`: the SDK runtime to use (a worker's
    carries its Prometheus telemetry; default: the SDK's own)."""
    from temporalio.contrib.pydantic import pydantic_data_converter

    t = settings.temporal
    return await Client.connect(
        t.address,
        namespace=t.namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
        tls=tls_config(t),
    )


def tls_config(t: TemporalConfig) -> TLSConfig | bool:
    """mTLS to the cluster when the config names a client certificate, else plain (a local dev
    server, or a frontend reached inside the cluster's own network)."""
    if t.tls_cert_path is None or t.tls_key_path is None:
        return False
    return TLSConfig(
        client_cert=Path(t.tls_cert_path).read_bytes(),
        client_private_key=Path(t.tls_key_path).read_bytes(),
        server_root_ca_cert=Path(t.tls_server_ca_path).read_bytes() if t.tls_server_ca_path else None,
    )


# ---------------------------------------------------------------------------- start, configure


async def ensure_engine(client: Client, settings: Settings) -> str:
    """Start the engine if it is not running (its first run takes its catalogue, policy and
    founders from the worker's own settings); a running one is left as it is (a signed
    `configure` changes it). Returns once a worker has run it and it has loaded its role book
    (its queries answered: Temporal hands a query to the worker with the engine's first task),
    so a signed command sent next is verified. Returns its workflow id."""
    from workflows.engine import EngineWorkflow

    handle = await client.start_workflow(
        EngineWorkflow.run,
        engine_input(settings).model_dump(mode="json"),
        id=settings.engine_id,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=settings.temporal.task_queue,
        static_summary=f"Floor Engine {settings.engine_name}",
    )
    await handle.query(EngineWorkflow.status)
    await roles_loaded(client, settings.engine_id)
    return settings.engine_id


async def roles_loaded(client: Client, engine_id: str, timeout_s: float = 30.0) -> None:
    """Wait until the engine has loaded its role book (read at its run's start, from the
    worker's settings); a `TimeoutError` after `timeout_s`, `Refused` naming why when its run
    ended instead (e.g. the worker's config names no founding ADMIN)."""
    handle = client.get_workflow_handle(engine_id)
    async with asyncio.timeout(timeout_s):
        while await handle.query("roles") is None:
            if (await handle.describe()).status.name != "RUNNING":
                try:
                    await handle.result()
                except WorkflowFailureError as exc:
                    raise Refused(f"the engine {engine_id} ended: {failure_text(exc)}") from None
                raise Refused(f"the engine {engine_id} ended before it loaded its role book")
            await asyncio.sleep(POLL_S / 5)


async def engine_config(client: Client, engine_id: str) -> EngineConfig | None:
    """The catalogue and policy the running engine uses; None when it is not running (or was
    started with input it refused)."""
    from workflows.engine import EngineWorkflow

    handle = client.get_workflow_handle(engine_id)
    try:
        if (await handle.describe()).status.name != "RUNNING":
            return None
        return await handle.query(EngineWorkflow.config)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


# ---------------------------------------------------------------------------- signals


async def signal_pause(client: Client, settings: Settings, reason: str, by: str) -> None:
    """Pause the engine by its `pause_engine` signal: Temporal records it whether or not a worker
    runs, and the engine pauses when one does (holding its queues before anything else is
    sent). An engine not running is started with it (signal-with-start), paused from its first
    step."""
    from workflows.engine import EngineWorkflow

    await client.start_workflow(
        EngineWorkflow.run,
        engine_input(settings).model_dump(mode="json"),
        id=settings.engine_id,
        task_queue=settings.temporal.task_queue,
        static_summary=f"Floor Engine {settings.engine_name}",
        start_signal="pause_engine",
        start_signal_args=[{"reason": reason, "by": by}],
    )


# ---------------------------------------------------------------------------- queries


def _deadline(timeout_s: float | None) -> timedelta | None:
    return None if timeout_s is None else timedelta(seconds=timeout_s)


async def engine_status(client: Client, engine_id: str, timeout_s: float | None = None) -> EngineStatus:
    """The engine's `status` query; with `timeout_s`, an RPCError when no worker answers in time."""
    handle = client.get_workflow_handle(engine_id)
    return await handle.query("status", result_type=EngineStatus, rpc_timeout=_deadline(timeout_s))


async def engine_breakers(client: Client, engine_id: str) -> list[Breaker]:
    from workflows.engine import EngineWorkflow

    raw = await client.get_workflow_handle(engine_id).query(EngineWorkflow.breakers)
    return [Breaker.model_validate(b) for b in raw]


async def engine_roles(client: Client, engine_id: str, timeout_s: float | None = None) -> RoleBook | None:
    """The engine's role book (its `roles` query: who holds which role); None until the engine
    has loaded it (at its run's start)."""
    handle = client.get_workflow_handle(engine_id)
    raw = await handle.query("roles", rpc_timeout=_deadline(timeout_s))
    return None if raw is None else RoleBook.model_validate(raw)


async def engine_history(client: Client, engine_id: str, timeout_s: float | None = None) -> tuple[list, list]:
    """The engine's transitions and finished operations (as JSON), oldest first."""
    handle = client.get_workflow_handle(engine_id)
    transitions = await handle.query("history", result_type=list, rpc_timeout=_deadline(timeout_s))
    operations = await handle.query("results", result_type=list, rpc_timeout=_deadline(timeout_s))
    return transitions, operations


async def pending_signals(client: Client, workflow_id: str, run_id: str | None, timeout_s: float) -> list[dict]:
    """The signals the workflow has not handled yet (received after its last completed
    workflow task), oldest first: name, when, and its input. Read from its history: no worker
    needed."""
    from datetime import UTC

    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.enums.v1 import EventType
    from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest

    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id or ""),
        maximum_page_size=100,
    )
    response = await client.workflow_service.get_workflow_execution_history_reverse(
        request, retry=True, timeout=timedelta(seconds=timeout_s)
    )
    pending = []
    for event in response.history.events:  # newest first
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            break
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            continue
        attrs = event.workflow_execution_signaled_event_attributes
        try:
            args = await client.data_converter.decode(attrs.input.payloads) if attrs.input.payloads else []
        except Exception:  # not JSON the converter reads: named, not shown
            args = ["(input not readable)"]
        at = event.event_time.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")
        pending.append({"signal": attrs.signal_name, "at": at, "input": args[0] if args else None})
    return pending[::-1]


# ---------------------------------------------------------------------------- following an operation


@dataclass(frozen=True)
class Finished:
    status: str
    summary: str
    result: dict  # the result model as JSON (a failure: status and summary only)


def result_types() -> dict:
    """Each operation's result model."""
    from floor.messages import AllocateResult
    from floor.operations import CapitalResult, HarvestResult, RebalanceResult
    from floor.panic import PanicExitResult

    return {
        Operation.ALLOCATE: AllocateResult,
        Operation.REBALANCE: RebalanceResult,
        Operation.HARVEST: HarvestResult,
        Operation.REQUEST_CAPITAL: CapitalResult,
        Operation.PANIC_EXIT: PanicExitResult,
    }


async def follow(client: Client, started: OperationStarted, on_step: Callable[[str], None]) -> Finished:
    """The operation's result, calling `on_step` with each new step (its `status` query) on the way."""
    handle = client.get_workflow_handle(started.workflow_id, result_type=result_types()[started.kind])
    waiting = asyncio.ensure_future(handle.result())
    last = None
    while not waiting.done():
        step = await current_step(handle)
        if step and step != last:
            on_step(step)
            last = step
        await asyncio.wait([waiting], timeout=POLL_S)
    try:
        result = waiting.result()
    except WorkflowFailureError as exc:
        summary = failure_text(exc)
        return Finished("failed", summary, {"status": "failed", "summary": summary})
    return Finished(result.status, result.summary, result.model_dump(mode="json"))


def failure_text(exc: BaseException) -> str:
    """The root cause of a failed workflow (an activity's error, not "Activity task failed")."""
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    kind, text = getattr(cause, "type", None) or type(cause).__name__, str(cause)
    return text if text.startswith(f"{kind}: ") else f"{kind}: {text}"


async def current_step(handle: WorkflowHandle, timeout_s: float = ANSWER_S) -> str | None:
    """A running operation's step; None when it cannot say now (not started, no worker)."""
    try:
        return await handle.query("status", result_type=str, rpc_timeout=timedelta(seconds=timeout_s))
    except (RPCError, WorkflowQueryFailedError):
        return None


async def recorded(client: Client, engine_id: str, workflow_id: str) -> None:
    """Wait (briefly) until the engine has recorded the operation's end, so the next request
    sees the engine idle and the operation in its history and cooldowns."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECORD_TIMEOUT_S
    while loop.time() < deadline:
        try:
            status = await engine_status(client, engine_id, ANSWER_S)
        except RPCError:  # no worker answers now: the next request will say so
            return
        if status.operation is None or status.operation.workflow_id != workflow_id:
            return
        await asyncio.sleep(POLL_S)
