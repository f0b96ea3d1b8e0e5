"""`floor exit-drill`: the full exit of every position simulated on an anvil fork of each chain
(ExitDrillWorkflow, run by the worker now, outside its daily schedule), or the latest drills the
store holds (`--last`). Like the reconciliation it only reads the chains, so starting one is not
a signed command: the engine's state does not change and nothing is sent to a chain.

Exit codes: 0 every exit went (or `--last`), 1 an exit would fail or a chain could not be drilled,
2 bad input.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from cli.options import ConfigOpt, JsonOpt, command, settings_from

if TYPE_CHECKING:
    from floor.config import Settings
    from floor.exit_drill import ChainDrill

ChainOpt = Annotated[int | None, typer.Option("--chain", min=1, help="drill this chain only (default: every chain)")]
LastOpt = Annotated[
    bool, typer.Option("--last", help="print the latest drill of each chain from the store; run nothing")
]


@command
def exit_drill(
    config: ConfigOpt = None, chain: ChainOpt = None, last: LastOpt = False, as_json: JsonOpt = False
) -> int:
    """Simulate the full exit of every position on a fork of each chain now: per position ok or
    failed (with the revert decoded), its slippage in bps and whether it is instant or queued
    (with the wait); `--last`: the latest drill of each chain, from the store. Exit 1 when an
    exit would fail."""
    from cli.amounts import InputError
    from cli.render import Output

    settings = settings_from(config)
    if chain is not None and chain not in {c.id for c in settings.chains if c.executor}:
        raise InputError(f"--chain {chain}: not a configured chain with an executor")
    out = Output(as_json)
    if last:
        drills = latest(settings, chain)
        if as_json:
            out.json({"drills": [d.model_dump(mode="json") for d in drills]})
        if not drills:
            out.line("no exit drill recorded yet (`floor exit-drill` runs one)")
        for drill in drills:
            print_drill(out, drill)
        return 0
    result = asyncio.run(run_now(settings, chain))
    if as_json:
        out.json(result.model_dump(mode="json"))
    out.line(f"{result.status}: {escape(result.summary)}")
    for drill in result.chains:
        print_drill(out, drill)
    return 0 if result.status == "ok" else 1


def print_drill(out, drill: ChainDrill) -> None:
    from floor.exit_drill import exit_line

    if drill.error:
        out.line(f"chain {drill.chain_id}: not drilled at {drill.drilled_at:%Y-%m-%d %H:%M} UTC: {escape(drill.error)}")
        return
    out.line(
        f"chain {drill.chain_id}: drilled at {drill.drilled_at:%Y-%m-%d %H:%M} UTC on a fork at block "
        f"{drill.block_number} (limit {drill.limit_bps} bps), {drill.run_id}"
    )
    if not drill.exits:
        out.line("  nothing held")
    for e in drill.exits:
        out.line("  " + escape(exit_line(e)))


async def run_now(settings: Settings, chain: int | None):
    from temporalio.client import WorkflowFailureError

    from cli.engine import LONG_S, NO_WORKER, CliError, NoWorker, answered, connect, worker_answers
    from client import failure_text
    from client.exit_drill import exit_drill as start_drill

    client = await connect(settings)
    if await worker_answers(client, settings.engine_id) is False:  # the drill would wait for one
        raise NoWorker(f"no worker answered within a few seconds: nothing drilled; {NO_WORKER}")
    try:
        return await answered(start_drill(client, settings, [chain] if chain else None), LONG_S, "the exit drill")
    except WorkflowFailureError as exc:
        raise CliError(f"the exit drill failed: {failure_text(exc)}") from None


def latest(settings: Settings, chain: int | None) -> list[ChainDrill]:
    """The store's latest drill per chain (none when the store holds none, or cannot be read)."""
    from sqlalchemy.exc import SQLAlchemyError

    from floor.store import Store

    try:
        with Store.from_settings(settings) as store:
            return store.latest_exit_drills([chain] if chain else None)
    except SQLAlchemyError:
        return []
