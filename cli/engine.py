"""The CLI's side of Temporal: the `client` package's calls with the CLI's deadlines (a command
says in one line when no worker answers), the operation followed on screen, the engine's
status and history as the commands print them, and the store's side of reconciliation.

Exit codes of an operation: 0 done or skipped, 1 failed or refused, 3 partial (2 is bad input,
found before anything here runs).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from rich.markup import escape
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowQueryFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode

from client import (
    ANSWER_S,
    Commander,
    NotRunning,
    Refused,
    apply_schedules,
    current_step,
    engine_breakers,
    engine_history,
    engine_roles,
    engine_status,
    ensure_engine,
    failure_text,
    follow,
    not_running,
    pending_signals,
    reconcile,
    recorded,
    send,
    signal_pause,
)
from client import connect as client_connect

# The workflows (and web3 with the activities) are imported by the functions that use them:
# `floor status` needs none of them and must answer quickly.
if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from cli.render import Output
    from floor.catalogue import ConfigChange
    from floor.config import Settings
    from floor.engine import Operation

T = TypeVar("T")

EXIT_CODES = {"done": 0, "skipped": 0, "failed": 1, "partial": 3}
QUEUE_ANSWER_S = 10.0  # how long a transaction queue may take to answer the CLI
# Every call to Temporal has a deadline. Queries and updates need a worker: when none answers
# within these, the command says so in one line instead of waiting.
CONNECT_S = 5.0  # connecting to the Temporal server
# ANSWER_S (client): a worker answers a query, or accepts an update
STATUS_ANSWER_S = 1.0  # `floor status`: after this it shows what Temporal itself knows
START_S = 10.0  # an engine not running yet: started, and its first task run by a worker
UPDATE_S = 60.0  # an update a worker accepted: its answer (a pause holds the queues first)
LONG_S = 300.0  # what reads every chain first (a risk check, a reconciliation), a worker running it
QUERY_TIMEOUT = timedelta(seconds=ANSWER_S)
NO_WORKER = "is the worker running? (`make worker` restarts the demo's)"


class CliError(Exception):
    """A failure reported in one line on stderr (exit code 1)."""


class NoWorker(CliError):
    """No worker answered the engine within the deadline."""


def rpc_failure(exc: RPCError) -> str:
    """A Temporal RPC's failure in one line: one that means no worker answered says so."""
    if _timed_out(exc):
        return f"no worker answered ({exc.message or exc.status.name}): {NO_WORKER}"
    return f"Temporal: {exc.message or exc}"


def _timed_out(exc: RPCError) -> bool:
    """No worker answered: the deadline passed, or the server saw none polling the engine's
    task queue lately (FAILED_PRECONDITION "no poller seen for task queue recently")."""
    if exc.status == RPCStatusCode.FAILED_PRECONDITION:
        return "poller" in (exc.message or "")
    return exc.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)


async def answered(call: Awaitable[T], timeout_s: float, what: str) -> T:
    """`call` (an update, a query) within `timeout_s`, else `NoWorker` naming `what`."""
    try:
        return await asyncio.wait_for(call, timeout_s)
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise NoWorker(f"no worker answered within {timeout_s:g} s ({what}): {NO_WORKER}") from None
    except RPCError as exc:
        if _timed_out(exc):
            raise NoWorker(f"no worker answered within {timeout_s:g} s ({what}): {NO_WORKER}") from None
        raise


async def worker_answers(client: Client, engine_id: str, timeout_s: float = ANSWER_S) -> bool | None:
    """Whether a worker answers the engine's `status` query within `timeout_s` (a query is never
    recorded, so asking leaves nothing behind); None when the engine is not running."""
    try:
        await client.get_workflow_handle(engine_id).query("status", rpc_timeout=timedelta(seconds=timeout_s))
    except WorkflowQueryFailedError:  # a worker answered, with an error
        return True
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        if _timed_out(exc):
            return False
        raise
    return True


async def require_worker(client: Client, settings: Settings) -> float:
    """Fail in one line when no worker answers the engine; else how long an update to start or
    configure the engine may take (longer when it is not running yet: a worker starts it)."""
    answering = await worker_answers(client, settings.engine_id)
    if answering is False:
        raise NoWorker(f"no worker answered the engine {settings.engine_id} within {ANSWER_S:g} s: {NO_WORKER}")
    return UPDATE_S if answering else START_S


def quiet_runtime() -> Runtime:
    """The SDK's runtime for the CLI: its core's own log lines go through Python's logging (to
    stderr), and only its errors. The core writes them to stdout itself, and a retried call is a
    WARN: one put a line into `floor status --json`'s answer when a query to an engine without a
    worker was retried. The CLI says what went wrong in its own one line."""
    global _RUNTIME
    if _RUNTIME is None:
        logs = LoggingConfig(
            filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
        _RUNTIME = Runtime(telemetry=TelemetryConfig(logging=logs))
    return _RUNTIME


_RUNTIME: Runtime | None = None


async def connect(settings: Settings) -> Client:
    """The client's connection, within CONNECT_S."""
    address = settings.temporal.address
    try:
        return await asyncio.wait_for(client_connect(settings, quiet_runtime()), CONNECT_S)
    except TimeoutError:
        raise CliError(f"cannot connect to Temporal at {address}: no answer within {CONNECT_S:g} s") from None
    except RuntimeError as exc:
        raise CliError(f"cannot connect to Temporal at {address}: {exc}") from None


def ui_link(settings: Settings, workflow_id: str) -> str:
    """As workers.temporal.workflow_ui_url (not imported here: see `connect`)."""
    base = settings.temporal.ui_url.rstrip("/")
    return f"{base}/namespaces/{settings.temporal.namespace}/workflows/{workflow_id}"


async def run_operation(
    settings: Settings, kind: Operation, request: dict, out: Output, key: LocalAccount, *, wait: bool = True
) -> int:
    """Ask the running engine for `kind` (as it is configured: the config given here only says
    where the engine is), signed by `key`, and follow the operation to its end. `Refused` (the
    engine's reason, or that it is not running) propagates to the caller; `NoWorker` when no
    worker answers."""
    client = await connect(settings)
    await require_worker(client, settings)
    engine_id = settings.engine_id
    commander = Commander(client, settings, key)
    with refusal_recorded(settings):
        started = await answered(commander.ask(kind, request), UPDATE_S, f"the {kind.value} request")
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
    from cli.render import note_lines

    for line in note_lines(finished.result.get("notes", [])):  # the planner's, in words
        out.line(line)
    if kind.value == "panic-exit":  # Operation is not imported at run time (see `connect`)
        from cli.panic import panic_lines

        for line in panic_lines(finished.result.get("panic", [])):
            out.line(escape(line))
    return EXIT_CODES.get(finished.status, 1)


async def status(settings: Settings) -> dict:
    """The engine's status query as JSON, with the running operation's live step and the
    engine's Web UI link, `worker: "answering"`. When no worker answers within STATUS_ANSWER_S
    (a query needs one), what Temporal itself knows instead (`described`)."""
    client = await connect(settings)
    try:
        current = await engine_status(client, settings.engine_id, STATUS_ANSWER_S)
    except RPCError as exc:
        if not _timed_out(exc):
            raise _engine_error(settings, exc) from None
        return await described(client, settings, _why(exc, STATUS_ANSWER_S))
    data = current.model_dump(mode="json")
    data["worker"] = "answering"
    if current.operation is not None:
        handle = client.get_workflow_handle(current.operation.workflow_id)
        step = await current_step(handle, STATUS_ANSWER_S)
        data["operation"]["step"] = step or current.operation.step
    data["ui_url"] = ui_link(settings, settings.engine_id)
    return data


ENGINE_STATE = "FloorEngineState"  # workflows.engine.ENGINE_STATE's name


def _why(exc: RPCError, waited_s: float) -> str:
    return f"no answer within {waited_s:g} s" if exc.status != RPCStatusCode.FAILED_PRECONDITION else exc.message


async def described(client: Client, settings: Settings, why: str) -> dict:
    """The engine as Temporal's server knows it with no worker: its last recorded state (the
    search attribute FloorEngineState) and the signals it has not handled yet (a pause sent
    while no worker ran), in the status query's shape; `worker: "not answering"`."""
    from temporalio.common import SearchAttributeKey

    handle = client.get_workflow_handle(settings.engine_id)
    try:
        desc = await handle.describe(rpc_timeout=QUERY_TIMEOUT)
    except RPCError as exc:
        raise _engine_error(settings, exc) from None
    state = desc.typed_search_attributes.get(SearchAttributeKey.for_keyword(ENGINE_STATE))
    try:
        pending = await pending_signals(client, settings.engine_id, desc.run_id, ANSWER_S)
    except RPCError:  # the history cannot be read now: the state stands
        pending = []
    return {
        "engine_id": settings.engine_id,
        "state": state or "UNKNOWN",
        "execution": desc.status.name if desc.status else "UNKNOWN",
        "worker": "not answering",
        "worker_note": f"the worker is not answering ({why}): {NO_WORKER}",
        "operation": None,
        "paused_from": None,
        "pause_reason": None,
        "last": None,
        "positions": {},
        "positions_read_at": "",
        "pending_signals": pending,
        "ui_url": ui_link(settings, settings.engine_id),
    }


async def history(settings: Settings, limit: int) -> dict:
    """The engine's transitions and finished operations, the last `limit` of each, oldest first."""
    client = await connect(settings)
    try:
        transitions, operations = await engine_history(client, settings.engine_id, ANSWER_S)
    except RPCError as exc:
        raise _engine_error(settings, exc) from None
    return {
        "engine_id": settings.engine_id,
        "transitions": transitions[-limit:],
        "operations": operations[-limit:],
        "chain_events": chain_events(settings, limit),
        **breakers_and_acceptances(settings, limit),
    }


STORE_CONNECT_TIMEOUT_S = 3


def store_unreachable(settings: Settings) -> str:
    """For `floor status`: why a database server store does not answer, in one line; "" when it
    answers (a SQLite store is a local file: not asked)."""
    import os

    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from floor.store import Store

    if settings.store.url.startswith("sqlite"):
        return ""
    os.environ.setdefault("PGCONNECT_TIMEOUT", str(STORE_CONNECT_TIMEOUT_S))  # libpq's: a silent host
    try:
        with Store.from_settings(settings) as store, store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        return f"the store is unreachable: {store_error(exc)}"
    return ""


def store_error(exc: Exception) -> str:
    """The database driver's own words (its first line: where it failed to connect), without
    SQLAlchemy's wrapping and links."""
    reason = str(getattr(exc, "orig", None) or exc).strip()
    return reason.splitlines()[0] if reason else type(exc).__name__


def breakers_and_acceptances(settings: Settings, limit: int) -> dict:
    """From the store, oldest first, the last `limit` of each: the engine's circuit breaker
    changes (`breaker_events`) and the discrepancies operators accepted, with who, why and when
    (`acceptances`); none without a store (it is not created here)."""
    from sqlalchemy.exc import SQLAlchemyError

    from floor.chain.marks import store_exists
    from floor.store import Store

    if not store_exists(settings):
        return {"breaker_events": [], "acceptances": []}
    try:
        with Store.from_settings(settings) as store:
            events = store.breaker_events(settings.engine_id, limit=limit)
            accepted = store.accepted_discrepancies(limit)
    except SQLAlchemyError:
        return {"breaker_events": [], "acceptances": []}
    return {
        "breaker_events": [
            {
                "at": e.at.isoformat(timespec="seconds"),
                "scope": e.scope,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "trigger": e.trigger,
                "actor": e.actor,
                "reason": e.reason,
            }
            for e in events
        ],
        "acceptances": [
            {
                "accepted_at": d.accepted_at.isoformat(timespec="seconds"),
                "id": d.id,
                "market": d.market,
                "expected": str(d.expected),
                "actual": str(d.actual),
                "relative_bps": d.relative_bps,
                "accepted_by": d.accepted_by,
                "accepted_reason": d.accepted_reason,
            }
            for d in accepted
        ],
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


async def pause_or_resume_engine(
    settings: Settings, pause: bool, reason: str, by: str, key: LocalAccount | None
) -> tuple[str, bool]:
    """The engine's note on the pause or resume, and whether the engine answered. A resume is
    signed by `key`; a pause too when a key is given, else it goes unsigned (`by` names who).
    A pause always goes through: when no worker answers within ANSWER_S it is sent as the
    `pause_engine` signal (open, unsigned), which Temporal records and the engine applies when
    a worker runs (answered False). A resume needs the engine's answer (it may be refused):
    `NoWorker` without one. `Refused` when the engine does not allow it now."""
    client = await connect(settings)
    answering = await worker_answers(client, settings.engine_id)
    if answering is False:
        if not pause:
            raise NoWorker(f"no worker answered within {ANSWER_S:g} s: the engine was not resumed; {NO_WORKER}")
        # The engine runs: a plain signal (nothing more to import or start, so it goes at once).
        handle = client.get_workflow_handle(settings.engine_id)
        await handle.signal("pause_engine", {"reason": reason, "by": by}, rpc_timeout=QUERY_TIMEOUT)
        return signalled(ANSWER_S), False
    try:
        if answering is None and pause:  # an engine not running is started, to be paused from its first step
            await asyncio.wait_for(ensure_engine(client, settings), START_S)
        accept_s = ANSWER_S if pause else UPDATE_S
        with refusal_recorded(settings):
            if key is None:  # only a pause comes here without a key (the command line asks for one)
                note = await send(client, settings.engine_id, "pause", {"reason": reason, "by": by}, accept_s=accept_s)
            elif pause:
                note = await Commander(client, settings, key).pause(reason, accept_s=accept_s)
            else:
                note = await Commander(client, settings, key).resume(reason, accept_s=accept_s)
        return note, True
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        if not pause:
            raise NoWorker(
                f"no worker accepted the resume within {UPDATE_S:g} s: not resumed yet (Temporal may still hand it"
                f" to the next worker; see `floor status`); {NO_WORKER}"
            ) from None
    await asyncio.wait_for(signal_pause(client, settings, reason, by), CONNECT_S)
    return signalled(START_S if answering is None else ANSWER_S), False


def signalled(waited_s: float) -> str:
    return f"no worker answered within {waited_s:g} s: pause signalled; it takes effect when a worker runs"


async def breakers(
    settings: Settings, action: str, scope: str = "", reason: str = "", key: LocalAccount | None = None
) -> dict:
    """`list` the breakers not CLOSED, `check` now, `half_open` or `trip` one (these signed by
    `key`); `Refused` with the engine's reason when the change is not allowed."""
    client = await connect(settings)
    if await worker_answers(client, settings.engine_id) is False:
        raise NoWorker(f"no worker answered the engine {settings.engine_id} within {ANSWER_S:g} s: {NO_WORKER}")
    try:
        if action == "list":
            listed = await answered(engine_breakers(client, settings.engine_id), ANSWER_S, "the breakers query")
            return {"breakers": [b.model_dump(mode="json") for b in listed]}
        commander = Commander(client, settings, key)
        with refusal_recorded(settings):
            if action == "check":  # reads every market on every chain first
                checked = await answered(commander.check_risk(reason), LONG_S, "the risk check")
                return checked.model_dump(mode="json")
            change = commander.trip(scope, reason) if action == "trip" else commander.half_open(scope, reason)
            event = await answered(change, UPDATE_S, f"the breaker's {action}")
        return {"event": event.model_dump(mode="json")}
    except RPCError as exc:
        raise _engine_error(settings, exc) from None


async def configure_engine(settings: Settings, key: LocalAccount) -> ConfigChange:
    """Send the config to the engine, signed by `key` (started with it if not running); what changed."""
    client = await connect(settings)
    start_s = await require_worker(client, settings)
    with refusal_recorded(settings):
        configuring = Commander(client, settings, key).configure("floor configure")
        return await answered(configuring, start_s, "starting or configuring the engine")


async def schedules(settings: Settings, key: LocalAccount) -> tuple[ConfigChange, list[str]]:
    """Configure the engine, signed by `key` (started if not running), then create or update its schedules."""
    client = await connect(settings)
    start_s = await require_worker(client, settings)
    with refusal_recorded(settings):
        configuring = Commander(client, settings, key).configure("floor schedules apply")
        change = await answered(configuring, start_s, "starting or configuring the engine")
    return change, await answered(apply_schedules(client, settings), UPDATE_S, "applying the schedules")


async def roles(settings: Settings, action: str, key: LocalAccount | None = None, **fields) -> dict:
    """`list` the engine's role book; `grant` (account, role, name, reason) or `revoke`
    (account, reason) a role, signed by `key`: the engine's answer and its book after."""
    client = await connect(settings)
    if await worker_answers(client, settings.engine_id) is False:
        raise NoWorker(f"no worker answered the engine {settings.engine_id} within {ANSWER_S:g} s: {NO_WORKER}")
    try:
        data: dict = {"engine_id": settings.engine_id}
        if action != "list":
            commander = Commander(client, settings, key)
            change = commander.grant(**fields) if action == "grant" else commander.revoke(**fields)
            with refusal_recorded(settings):
                answer = await answered(change, UPDATE_S, f"the {action}")
            data["answer"] = answer if isinstance(answer, str) else json_text(answer)
        book = await answered(engine_roles(client, settings.engine_id, ANSWER_S), ANSWER_S, "the roles query")
    except RPCError as exc:
        raise _engine_error(settings, exc) from None
    members = book.members.items() if book is not None else []  # None: not loaded yet (the engine just started)
    data["members"] = [{"account": account, **grant.model_dump(mode="json")} for account, grant in members]
    return data


def json_text(value) -> str:
    import json

    return json.dumps(value, separators=(",", ":"), default=str)


@contextmanager
def refusal_recorded(settings: Settings) -> Iterator[None]:
    """Around sending a signed command: a refusal from the engine is appended to the audit log
    (outcome "refused", the signer, the kind, the engine's reason) when the config has a store,
    then propagates. A store that cannot be written is warned about: the refusal stands."""
    try:
        yield
    except Refused as exc:
        if not isinstance(exc, NotRunning) and exc.command is not None:
            record_refusal(settings, exc)
        raise


def record_refusal(settings: Settings, refused: Refused) -> None:
    import time

    from client.commands import refusal_entry
    from floor.chain.marks import store_exists
    from floor.store import Store

    if not store_exists(settings):
        return
    entry = refusal_entry(settings.engine_id, refused.command, str(refused), int(time.time()))
    try:
        with Store.from_settings(settings) as store:
            store.append_audit([entry])
    except Exception as exc:  # the refusal is what the caller must see; the log's failure is a warning
        from cli.render import error

        error(f"warning: the refusal was not recorded in the audit log: {type(exc).__name__}: {exc}")


def _engine_error(settings: Settings, exc: RPCError) -> CliError:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return CliError(not_running(settings.engine_id))
    if _timed_out(exc):
        return NoWorker(f"no worker answered the engine {settings.engine_id} ({_why(exc, ANSWER_S)}): {NO_WORKER}")
    return CliError(f"the engine {settings.engine_id} did not answer: {exc.message}")


async def reconcile_now(settings: Settings) -> dict:
    client = await connect(settings)
    if await worker_answers(client, settings.engine_id) is False:  # the reconciliation would wait for one
        raise NoWorker(f"no worker answered within {ANSWER_S:g} s: nothing reconciled; {NO_WORKER}")
    try:
        result = await answered(reconcile(client, settings), LONG_S, "the reconciliation")
    except WorkflowFailureError as exc:  # a chain that cannot be read: its reason, in one line
        raise CliError(f"the reconciliation failed: {failure_text(exc)}") from None
    return result.model_dump(mode="json")


def accept_chain(settings: Settings, chain_id: int, by: str, reason: str, key: LocalAccount) -> dict:
    """An operator accepts the chain as it is now (after a reset or a rewrite past finality
    was looked into): its current final block becomes the engine's mark, with who and why.
    Recorded in the store by this process; then the signers' queues on it, and the engine (its
    `reconcile:chain:<id>` breaker closes), are told."""
    from datetime import UTC, datetime

    from floor.chain.marks import check_chain, final_block, record_final_mark
    from floor.chain.rpc import connect as connect_chain
    from floor.risk.breakers import reconcile_scope
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
        "engine": asyncio.run(engine_follows(settings, reconcile_scope(f"chain:{chain_id}"), reason, key)),
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


def accept(settings: Settings, discrepancy_id: int, by: str, reason: str, key: LocalAccount) -> dict:
    """Recorded in the store by this process (the store is written by activities and processes);
    then the engine closes the breaker the discrepancy opened (`engine_follows`: what it said is
    under "engine"). A discrepancy accepted before is refused as such, and the engine is told
    again: a breaker still open for it (the engine did not answer then) closes."""
    from floor.acceptance import accept_discrepancy
    from floor.risk.breakers import reconcile_scope
    from floor.store import DiscrepancyAlreadyAccepted, Store

    with Store.from_settings(settings) as store:
        try:
            accepted = accept_discrepancy(store, discrepancy_id, by, reason)
        except DiscrepancyAlreadyAccepted as exc:
            market = store.discrepancy(discrepancy_id).market
            note = asyncio.run(engine_follows(settings, reconcile_scope(market), reason, key))
            raise CliError(f"{exc} (engine: {note})") from None
    data = discrepancy_json(accepted, accepted=True)
    data["engine"] = asyncio.run(engine_follows(settings, reconcile_scope(accepted.market), reason, key))
    return data


DISCREPANCY_AMOUNTS = ("expected", "actual", "difference", "growth_index")
ACCEPTANCE_FIELDS = {"status", "accepted_by", "accepted_reason", "accepted_at"}


def discrepancy_json(d, *, accepted: bool = False) -> dict:
    """A stored discrepancy as `--json` prints it: amounts as strings of digits (exact in jq and
    JavaScript), times in ISO; the acceptance's fields only once it is accepted."""
    data = d.model_dump(mode="json", exclude=None if accepted else ACCEPTANCE_FIELDS)
    data |= {k: None if getattr(d, k) is None else str(getattr(d, k)) for k in DISCREPANCY_AMOUNTS}
    data["found_at"] = d.found_at.isoformat(timespec="seconds")
    if accepted and d.accepted_at is not None:
        data["accepted_at"] = d.accepted_at.isoformat(timespec="seconds")
    return data


def open_discrepancies(settings: Settings) -> list[dict]:
    """The store's open discrepancies (one per market, with the figures of the run that found
    it last), by id; none without a store (it is not created here)."""
    from floor.chain.marks import store_exists
    from floor.store import Store

    if not store_exists(settings):
        return []
    with Store.from_settings(settings) as store:
        rows = store.open_discrepancies()
    return [discrepancy_json(d) for d in rows]


async def engine_follows(settings: Settings, scope: str, reason: str, key: LocalAccount) -> str:
    """Ask the engine to close the reconciliation's breaker at `scope` (its
    `accept_reconciliation` update, signed by `key`, which asks the store first); what it
    answered, in words. No breaker open there (or a refusal), no engine, or no worker
    answering: said, not an error (the acceptance is recorded; running the same command again
    tells the engine again)."""
    from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

    client = await connect(settings)
    try:
        with refusal_recorded(settings):
            accepting = Commander(client, settings, key).accept_reconciliation(scope, reason)
            event = await asyncio.wait_for(accepting, QUEUE_ANSWER_S)
    except NotRunning:
        return f"the engine {settings.engine_id} is not running: no breaker to close"
    except Refused as exc:
        return f"not changed: {exc}"
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return f"no answer within {QUEUE_ANSWER_S:g} s (is the worker running?): run this again once it is"
    return f"{event.scope}: {event.from_state.value} -> {event.to_state.value}"
