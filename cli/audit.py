"""`floor audit`: the store's audit log (every command the engine accepted or refused, role
change and engine state change, hash-chained: floor.access.audit): list its rows, or verify
the chain from the first row to the head.

Reads the store the config names (`store.url`) and creates nothing: a SQLite store that does
not exist, or one no worker has migrated to the audit log yet, is an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from cli.options import ConfigOpt, JsonOpt, command, settings_from

# Imported by the commands when they run: `floor --help` and every other command load this module.
if TYPE_CHECKING:
    from floor.access.audit import AuditRow
    from floor.config import Settings
    from floor.store import Store

audit_app = typer.Typer(help="The audit log: every command accepted or refused, hash-chained.")

OUTCOMES = ("accepted", "refused")


@audit_app.command("list")
@command
def audit_list(
    signer: Annotated[str | None, typer.Option("--signer", help="only this signer's rows (an address)")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="only this kind of command, e.g. allocate")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="accepted or refused")] = None,
    since: Annotated[str | None, typer.Option("--since", help="from this time on, ISO 8601 with its zone")] = None,
    until: Annotated[str | None, typer.Option("--until", help="before this time, ISO 8601 with its zone")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="the last N rows that match")] = 50,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """The audit log's rows that match, oldest first."""
    from rich.markup import escape

    from cli.amounts import InputError
    from cli.render import Output

    if outcome is not None and outcome not in OUTCOMES:
        raise InputError(f"--outcome {outcome!r}: accepted or refused")
    start, end = iso_time("--since", since), iso_time("--until", until)
    with open_store(settings_from(config)) as store:
        rows = store.audit_rows(signer=signer, kind=kind, outcome=outcome, since=start, until=end, limit=limit)
    out = Output(as_json)
    if as_json:
        out.json({"rows": [row_json(row) for row in rows]})
    if not rows:
        out.line("no audit row matches")
    for row in rows:
        out.line(escape(row_line(row)))
    return 0


@audit_app.command("verify")
@command
def audit_verify(config: ConfigOpt = None, as_json: JsonOpt = False) -> int:
    """Recompute the audit log's hash chain from its first row to its head; exit 1 naming the
    first row that breaks it (edited, deleted, inserted, or cut from the end) and why."""
    from rich.markup import escape

    from cli.render import Output

    with open_store(settings_from(config)) as store:
        bad = store.verify_audit()
        head = store.audit_head()
    out = Output(as_json)
    if as_json:
        out.json(
            {
                "intact": bad is None,
                "head_seq": None if head is None else head.seq,
                "head_hash": None if head is None else head.hash,
                "bad_row": None if bad is None else bad.row,
                "why": None if bad is None else bad.why,
            }
        )
    if bad is not None or head is None:  # an intact log has its head
        out.line(f"[red]broken[/] at row {bad.row}: {escape(bad.why)}" if bad else "[red]broken[/]: no head")
        return 1
    out.line(f"[green]intact[/]: {head.seq} row(s), the head is row {head.seq} ({head.hash})")
    return 0


def open_store(settings: Settings) -> Store:
    """The configured store, which must exist and hold the audit log (nothing is created here)."""
    from pathlib import Path

    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from floor.store import Store, StoreError

    url = make_url(settings.store.url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not Path(database).is_file():
        raise StoreError(f"no store at {url.database}: nothing was recorded yet (a worker creates it)")
    store = Store.from_settings(settings)
    if not inspect(store.engine).has_table("audit_log"):
        store.close()
        raise StoreError(f"{store!r} has no audit log yet: a worker's start migrates it")
    return store


def iso_time(flag: str, text: str | None) -> datetime | None:
    from cli.amounts import iso_time

    return None if text is None else iso_time(flag, text)


def at_text(seconds: int) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def row_json(row: AuditRow) -> dict:
    """A row as `floor audit list --json` prints it: its time in ISO 8601 (hashed as seconds)."""
    return {**row.model_dump(mode="json"), "at": at_text(row.at)}


def row_line(row: AuditRow) -> str:
    who = f"{row.signer} ({row.role or 'no role'})" if row.signer else "unsigned"
    why = f": {row.reason}" if row.reason else ""
    return f"#{row.seq} {at_text(row.at)} {row.outcome} {row.kind} by {who} in {row.workflow_id}{why}"
