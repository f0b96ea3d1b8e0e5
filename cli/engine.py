"""The CLI's side of Temporal: connect, start or update the engine, ask it for an operation and
follow that operation's child workflow to its end; the engine's status and history.

Exit codes of an operation: 0 done or skipped, 1 failed or refused, 3 partial (2 is bad input,
found before anything here runs).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from rich.markup import escape
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.engine import apply_schedules, ask, engine_status, ensure_engine, pause_or_resume
from cli.render import Output
from floor.config import Settings
from floor.engine import Operation
from floor.messages import AllocateResult
from floor.operations import CapitalResult, HarvestResult, OperationStarted, RebalanceResult
from workers.temporal import connect_client, workflow_ui_url

RESULTS = {
    Operation.ALLOCATE: AllocateResult,
    Operation.REBALANCE: RebalanceResult,
    Operation.HARVEST: HarvestResult,
    Operation.REQUEST_CAPITAL: CapitalResult,
}
EXIT_CODES = {"done": 0, "skipped": 0, "failed": 1, "partial": 3}
POLL = timedelta(seconds=0.25)
QUERY_TIMEOUT = timedelta(seconds=5)
RECORD_TIMEOUT_S = 15.0  # how long the engine may take to record an operation that ended
QUEUE_ANSWER_S = 10.0  # how long a transaction queue may take to answer the CLI


class CliError(Exception):
    """A failure reported in one line on stderr (exit code 1)."""


@dataclass(frozen=True)
class Finished:
    status: str
    summary: str
    result: dict  # the result model as JSON (a failure: status and summary only)


async def connect(settings: Settings) -> Client:
    try:
        return await connect_client(settings.temporal.address, settings.temporal.namespace)
    except RuntimeError as exc:
        raise CliError(f"cannot connect to Temporal at {settings.temporal.address}: {exc}") from None


def ui_link(settings: Settings, workflow_id: str) -> str:
    return workflow_ui_url(settings.temporal.ui_url, settings.temporal.namespace, workflow_id)


async def run_operation(settings: Settings, kind: Operation, request: dict, out: Output, *, wait: bool = True) -> int:
    """Start the engine if needed, ask it for `kind`, and follow the operation to its end.
    `Refused` (the engine's reason) propagates to the caller."""
    client = await connect(settings)
    engine_id = await ensure_engine(client, settings)
    started = await ask(client, engine_id, kind, request)
    link = ui_link(settings, started.workflow_id)
    out.line(f"{kind.value} started: [bold]{escape(started.workflow_id)}[/]")
    out.line(f"  Web UI: {link}")
    if not wait:
        if out.as_json:
            out.json({"kind": kind.value, "status": "started", "workflow_id": started.workflow_id, "ui_url": link})
        return 0
    with out.progress(f"{kind.value} {started.workflow_id}") as on_step:
        finished = await follow(client, started, on_step)
    await recorded(client, engine_id, started.workflow_id)
    if out.as_json:
        out.json({**finished.result, "workflow_id": started.workflow_id, "ui_url": link})
    out.outcome(finished.status, finished.summary)
    return EXIT_CODES.get(finished.status, 1)


async def follow(client: Client, started: OperationStarted, on_step) -> Finished:
    """The operation's result, reporting each new step (its `status` query) on the way."""
    handle = client.get_workflow_handle(started.workflow_id, result_type=RESULTS[started.kind])
    waiting = asyncio.ensure_future(handle.result())
    last = None
    while not waiting.done():
        step = await current_step(handle)
        if step and step != last:
            on_step(step)
            last = step
        await asyncio.wait([waiting], timeout=POLL.total_seconds())
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


async def current_step(handle: WorkflowHandle) -> str | None:
    try:
        return await handle.query("status", result_type=str, rpc_timeout=QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):  # not started yet, or no worker answering now
        return None


async def recorded(client: Client, engine_id: str, workflow_id: str) -> None:
    """Wait (briefly) until the engine has recorded the operation's end, so the next command
    sees the engine idle and the operation in its history and cooldowns."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECORD_TIMEOUT_S
    while loop.time() < deadline:
        status = await engine_status(client, engine_id)
        if status.operation is None or status.operation.workflow_id != workflow_id:
            return
        await asyncio.sleep(POLL.total_seconds())


async def status(settings: Settings) -> dict:
    """The engine's status query as JSON, with the running operation's live step and the
    engine's Web UI link."""
    client = await connect(settings)
    try:
        current = await engine_status(client, settings.engine_id)
    except RPCError as exc:
        raise _engine_error(settings, exc) from None
    data = current.model_dump(mode="json")
    if current.operation is not None:
        step = await current_step(client.get_workflow_handle(current.operation.workflow_id))
        data["operation"]["step"] = step or current.operation.step
    data["ui_url"] = ui_link(settings, settings.engine_id)
    return data


async def history(settings: Settings, limit: int) -> dict:
    """The engine's transitions and finished operations, the last `limit` of each, oldest first."""
    client = await connect(settings)
    handle = client.get_workflow_handle(settings.engine_id)
    try:
        transitions = await handle.query("history", result_type=list, rpc_timeout=QUERY_TIMEOUT)
        operations = await handle.query("results", result_type=list, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as exc:
        raise _engine_error(settings, exc) from None
    return {
        "engine_id": settings.engine_id,
        "transitions": transitions[-limit:],
        "operations": operations[-limit:],
        "chain_events": chain_events(settings, limit),
    }


# What the chain took back, as the queue and reconciliation recorded it (the store's alerts).
CHAIN_EVENTS = ("reorg", "reorg_after_operation", "nonce_gap", "chain_state")


def chain_events(settings: Settings, limit: int) -> list[dict]:
    """The store's chain events, oldest first; none without a store (it is not created here)."""
    from sqlalchemy.exc import SQLAlchemyError

    from floor.chain.marks import store_exists
    from floor.store import Store

    if not store_exists(settings):
        return []
    try:
        with Store.from_settings(settings) as store:
            rows = store.alerts_of(CHAIN_EVENTS, limit)
    except SQLAlchemyError:
        return []
    return [
        {
            "at": a.raised_at.isoformat(timespec="seconds"),
            "kind": a.kind,
            "subject": a.subject,
            "detail": a.detail,
            "resolved_at": a.resolved_at.isoformat(timespec="seconds") if a.resolved_at else None,
        }
        for a in rows
    ]


async def pause_or_resume_engine(settings: Settings, pause: bool, reason: str, by: str) -> str:
    """The engine's note on the pause or resume; `Refused` when it is not allowed now."""
    client = await connect(settings)
    await ensure_engine(client, settings)
    return await pause_or_resume(client, settings.engine_id, pause, reason, by)


async def breakers(settings: Settings, action: str, scope: str = "", by: str = "", reason: str = "") -> dict:
    """`list` the breakers not CLOSED, `check` now, `half_open` or `trip` one; `Refused` with
    the engine's reason when the change is not allowed."""
    from activities.engine import change_breaker, check_risk, engine_breakers

    client = await connect(settings)
    try:
        if action == "list":
            return {"breakers": [b.model_dump(mode="json") for b in await engine_breakers(client, settings.engine_id)]}
        if action == "check":
            return (await check_risk(client, settings.engine_id)).model_dump(mode="json")
        event = await change_breaker(client, settings.engine_id, action, scope, by, reason)
        return {"event": event.model_dump(mode="json")}
    except RPCError as exc:
        raise _engine_error(settings, exc) from None


async def schedules(settings: Settings) -> list[str]:
    client = await connect(settings)
    await ensure_engine(client, settings)
    return await apply_schedules(client, settings)


def _engine_error(settings: Settings, exc: RPCError) -> CliError:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return CliError(f"the engine {settings.engine_id} is not running (start it with `floor schedules apply`)")
    return CliError(f"the engine {settings.engine_id} did not answer: {exc.message}")


async def reconcile_now(settings: Settings) -> dict:
    from activities.engine import reconcile

    client = await connect(settings)
    try:
        result = await reconcile(client, settings)
    except WorkflowFailureError as exc:  # a chain that cannot be read: its reason, in one line
        raise CliError(f"the reconciliation failed: {failure_text(exc)}") from None
    return result.model_dump(mode="json")


def accept_chain(settings: Settings, chain_id: int, by: str, reason: str) -> dict:
    """An operator accepts the chain as it is now (after a reset or a rewrite past finality
    was looked into): its current final block becomes the engine's mark, with who and why.
    Recorded in the store by this process."""
    from datetime import UTC, datetime

    from floor.chain.marks import check_chain, final_block, record_final_mark
    from floor.chain.rpc import connect as connect_chain
    from floor.store import Store

    chain = settings.chain(chain_id)
    w3 = connect_chain(chain.rpc_urls, chain.rpc_timeout_s, chain_id=chain.id)
    with Store.from_settings(settings) as store:
        was = check_chain(w3, chain_id, store.chain_marks().get(chain_id)) or ""
        final = max(final_block(w3, chain.finality, w3.eth.block_number), 0)
        now = datetime.now(UTC)
        note = f"accepted by {by}: {reason}" + (f" ({was})" if was else "")
        mark = record_final_mark(store, w3, chain_id, final, now, note, force=True)
        if mark is None:
            raise CliError(f"chain {chain_id} has no block {final} to remember")
        store.resolve_alert("chain_state", f"chain:{chain_id}", now)
    queues = asyncio.run(_accept_chain_in_queues(settings, chain_id, note))
    return {
        "chain_id": chain_id,
        "block_number": mark.number,
        "block_hash": mark.hash,
        "was": was,
        "note": note,
        "queues": queues,
    }


async def _accept_chain_in_queues(settings: Settings, chain_id: int, note: str) -> list[str]:
    """The signers' queues on the chain that hold themselves on it (`chain_problem`) accept it
    too: what they had in flight fails as ChainReset, their nonce is read again. Returns what
    each answered; a queue whose chain matched is left alone."""
    from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError

    from workflows.txqueue import TxQueueWorkflow

    client = await connect(settings)
    answers = []
    query = (
        f'WorkflowType="TxQueueWorkflow" AND ExecutionStatus="Running" AND WorkflowId STARTS_WITH "txqueue-{chain_id}-"'
    )
    async for found in client.list_workflows(query):
        update = client.get_workflow_handle(found.id).execute_update(TxQueueWorkflow.accept_chain, {"reason": note})
        try:
            answer = await asyncio.wait_for(update, QUEUE_ANSWER_S)
        except WorkflowUpdateFailedError as exc:  # its chain matched what it knew
            answer = f"not changed: {getattr(exc.cause, 'message', exc)}"
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):  # no worker runs it now
            answer = f"no answer within {QUEUE_ANSWER_S:g} s (is the worker running?): run this again once it is"
        answers.append(f"{found.id}: {answer}")
    return answers


def accept(settings: Settings, discrepancy_id: int, by: str, reason: str) -> dict:
    """Recorded in the store by this process (the store is written by activities and processes)."""
    from activities.reconcile import accept_discrepancy
    from floor.store import Store

    accepted = accept_discrepancy(Store.from_settings(settings), discrepancy_id, by, reason)
    return accepted.model_dump(mode="json")
