"""`floor`: the engine's command line. Commands stay thin: input is checked against the config
(cli.amounts) before anything is sent, Temporal work is in cli.engine, chain reads in
floor.chain.report, printing in cli.render.

Exit codes: 0 done or skipped, 1 failed or refused, 2 bad command-line input, 3 partial.
"""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.alerts import alerts_app
from cli.audit import audit_app
from cli.deploy import deploy_app
from cli.exit_drill import exit_drill
from cli.options import (
    ByOpt,
    ConfigOpt,
    JsonOpt,
    KeyOpt,
    NoWaitOpt,
    PasswordFileOpt,
    ReasonOpt,
    command,
    command_key,
    error,
    has_key,
    request,
    settings_from,
)
from cli.risk import risk_app
from cli.roles import roles_app
from cli.sign import sign

# Everything else is imported by the command that needs it: `floor --help` and `floor status`
# stay quick (web3, temporalio, the config's models and the workflows take seconds to import).
if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from cli.amounts import TokenAmount
    from floor.config import Settings

app = typer.Typer(
    help="The Floor Engine's command line: operations, status, positions, history, schedules.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold the config
)
schedules_app = typer.Typer(help="The engine's Temporal Schedules (rebalance and harvest checks).")
app.add_typer(schedules_app, name="schedules")
app.add_typer(risk_app, name="risk")
app.add_typer(audit_app, name="audit")
app.add_typer(roles_app, name="roles")
app.add_typer(alerts_app, name="alerts")
app.add_typer(deploy_app, name="deploy")
app.command("exit-drill")(exit_drill)


def operate(settings: Settings, kind: str, body: dict, key: LocalAccount, as_json: bool, no_wait: bool) -> int:
    from cli import engine
    from cli.render import Output
    from floor.engine import Operation

    return asyncio.run(engine.run_operation(settings, Operation(kind), body, Output(as_json), key, wait=not no_wait))


# ---------------------------------------------------------------------------- operations


@app.command()
@command
def allocate(
    amounts: Annotated[
        list[str] | None,
        typer.Argument(
            help="CHAIN:ASSET:AMOUNT in human units, e.g. 1:USDC:250000 42161:WETH:12.5 "
            "(none: everything the executors hold idle of each strategy token)",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    reason: ReasonOpt = "",
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
    no_wait: NoWaitOpt = False,
) -> int:
    """Place funds the executors hold into the strategy's markets, by weight (signed by your key)."""
    from cli.amounts import parse_allocation
    from cli.render import Output
    from floor.operations import short

    settings = settings_from(config)
    out = Output(as_json)
    parts = parse_allocation(settings, amounts) if amounts else []  # bad amounts: refused before the key is read
    signer = command_key(key, password_file)
    parts = parts or idle_amounts(settings)
    if not parts:
        summary = "the executors hold nothing idle of the strategy's tokens"
        if as_json:
            out.json({"status": "skipped", "summary": summary, "workflow_id": None, "ui_url": None})
        out.outcome("skipped", summary)
        return 0
    out.line("allocating " + ", ".join(f"{short(p.amount, p.decimals)} {p.asset} on chain {p.chain_id}" for p in parts))
    body = {
        "reason": reason,
        "amounts": [{"chain_id": p.chain_id, "asset": p.asset, "amount": str(p.amount)} for p in parts],
    }
    return operate(settings, "allocate", body, signer, as_json, no_wait)


def idle_amounts(settings: Settings) -> list[TokenAmount]:
    from cli.amounts import TokenAmount
    from floor.chain.report import read_idle

    return [
        TokenAmount(chain_id, asset, amount, settings.chain(chain_id).token(asset).decimals)
        for (chain_id, asset), amount in read_idle(settings).items()
        if amount > 0
    ]


@app.command()
@command
def rebalance(
    config: ConfigOpt = None,
    reason: ReasonOpt = "",
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
    no_wait: NoWaitOpt = False,
) -> int:
    """Bring the markets back to the strategy's weights where they drifted past the threshold (signed by your key)."""
    settings = settings_from(config)
    signer = command_key(key, password_file)
    return operate(settings, "rebalance", {"reason": reason}, signer, as_json, no_wait)


@app.command()
@command
def harvest(
    config: ConfigOpt = None,
    reason: ReasonOpt = "",
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
    no_wait: NoWaitOpt = False,
) -> int:
    """Measure the yield earned since the last harvest, by source (no market pays claimable
    rewards yet; signed by your key)."""
    settings = settings_from(config)
    signer = command_key(key, password_file)
    return operate(settings, "harvest", {"reason": reason}, signer, as_json, no_wait)


@app.command("request-capital")
@command
def request_capital(
    chain: Annotated[str, typer.Option("--chain", help="chain id or name")],
    asset: Annotated[str, typer.Option("--asset", help="token symbol")],
    amount: Annotated[str, typer.Option("--amount", help="human units, e.g. 50000 or 1.25")],
    to: Annotated[str, typer.Option("--to", help="a listed destination address")],
    deadline_at: Annotated[
        str | None,
        typer.Option("--deadline", help="ISO 8601 with its zone, e.g. 2030-07-01T12:00:00Z"),
    ] = None,
    config: ConfigOpt = None,
    reason: ReasonOpt = "",
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
    no_wait: NoWaitOpt = False,
) -> int:
    """Deliver capital to one of the treasury's own addresses, from idle funds and markets (signed by your key)."""
    from cli.amounts import address, deadline, token_amount

    settings = settings_from(config)
    part = token_amount(settings, chain, asset, amount)
    body = {
        "reason": reason,
        "chain_id": part.chain_id,
        "asset": part.asset,
        "amount": str(part.amount),
        "destination": address(to),
        "deadline": deadline(deadline_at).isoformat() if deadline_at else None,
    }
    signer = command_key(key, password_file)
    return operate(settings, "request-capital", body, signer, as_json, no_wait)


@app.command("panic-exit")
@command
def panic_exit(
    reason: Annotated[str, typer.Option("--reason", help="why: recorded with the command and the pause")],
    config: ConfigOpt = None,
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
    no_wait: NoWaitOpt = False,
) -> int:
    """Unwind every position to its base asset, within the slippage limit; the engine stays paused (ADMIN, signed)."""
    if not reason.strip():
        raise typer.BadParameter("give the reason for the panic exit", param_hint="--reason")
    settings = settings_from(config)
    signer = command_key(key, password_file)
    return operate(settings, "panic-exit", {"reason": reason}, signer, as_json, no_wait)


# ---------------------------------------------------------------------------- pause, resume


def pause_or_resume(
    config: Path | None,
    pause: bool,
    reason: str,
    by: str | None,
    keys: tuple[Path | None, Path | None],
    as_json: bool,
    onchain: bool = False,
) -> int:
    """The engine's pause or resume (a pause no worker answers is signalled: cli.engine); with
    `onchain`, every executor paused by the guardian first, each transaction printed. A resume
    is signed by the key in `keys` (the keystore and its password file); a pause too when one
    is given, else it goes unsigned."""
    from rich.markup import escape
    from temporalio.service import RPCError

    from cli import engine
    from cli.render import Output

    settings = settings_from(config)
    key, password_file = keys
    signer = command_key(key, password_file) if not pause or has_key(key) else None
    body = request(by, reason)
    out = Output(as_json)
    data: dict = {"engine_id": settings.engine_id, "action": "pause" if pause else "resume"}
    code = 0
    if onchain:  # first: the executors refuse every execute from here, whatever the engine does
        from cli.onchain import pause_executors, pause_line

        data["executors"] = pause_executors(settings)
        for row in data["executors"]:
            out.line(escape(pause_line(row)))
        code = 1 if any(row["outcome"] == "failed" for row in data["executors"]) else 0
    try:
        data["note"], data["applied"] = asyncio.run(
            engine.pause_or_resume_engine(settings, pause, body["reason"], body["by"], signer)
        )
    except (engine.CliError, RPCError) as exc:
        if not onchain:
            raise
        error(f"error: the engine was not paused (the executors' pauses above stand): {exc}")  # Temporal unreachable
        data["note"], data["applied"], code = f"not paused: {exc}", False, 1
    else:
        out.line(escape(data["note"]))  # a reason recorded from a signal's JSON text has brackets: not markup
    if as_json:
        out.json(data)
    return code


@app.command()
@command
def pause(
    reason: ReasonOpt,
    config: ConfigOpt = None,
    by: ByOpt = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="your encrypted keystore: signs the pause (default: $FLOOR_KEY; none: the pause goes unsigned,"
            " as anyone may pause)",
            show_default=False,
        ),
    ] = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
    onchain: Annotated[
        bool,
        typer.Option(
            "--onchain",
            help="also pause every chain's executor with the guardian key (watchdog.guardian), first: for when the"
            " engine cannot be reached or trusted; only the owner unpauses",
        ),
    ] = False,
) -> int:
    """Pause the engine: hold the transaction queues, the running operation and the schedules.
    With no worker answering, the pause is signalled and takes effect when a worker runs.
    Signed by your key when one is given; anyone may pause, unsigned (`--by` names who)."""
    return pause_or_resume(config, True, reason, by, (key, password_file), as_json, onchain)


@app.command()
@command
def resume(
    reason: ReasonOpt,
    config: ConfigOpt = None,
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Resume a paused engine where the pause left it (signed by your key: an OPERATOR's)."""
    return pause_or_resume(config, False, reason, None, (key, password_file), as_json)


# ---------------------------------------------------------------------------- reading


@app.command()
@command
def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> int:
    """The engine's state, its running operation and step, the last operation's summary, each
    executor's on-chain pause; exit 1 when no worker answers (then the state Temporal last
    recorded and the signals waiting for a worker) or a chain does not match what the engine
    knew. A store's server that does not answer is a warning line."""
    from concurrent.futures import ThreadPoolExecutor

    from rich.markup import escape

    from cli import engine
    from cli.onchain import executor_flags, executor_line
    from cli.render import Output, status_lines

    settings = settings_from(config)
    with ThreadPoolExecutor(max_workers=3) as pool:  # the chains and the store answer while Temporal does
        flags, checked = pool.submit(executor_flags, settings), pool.submit(status_chain_problems, settings)
        store = pool.submit(engine.store_unreachable, settings)
        data = asyncio.run(engine.status(settings))
        data["executors"] = flags.result()
        problems, unchecked = checked.result()
    data["chain_problems"] = problems
    out = Output(as_json)
    if as_json:
        out.json(data)
    answering = data["worker"] == "answering"
    for line in status_lines(data) if answering else unanswered_lines(data):
        out.line(line)
    for row in data["executors"]:
        out.line(escape(f"Executor   {executor_line(row)}"))
    if not answering:
        error(f"error: {data['worker_note']}")
    for problem in problems:
        error(f"error: {problem}")
    if unchecked:
        error(f"warning: {unchecked}")
    if store.result():  # the engine goes on without it: its writes wait (docs/runbooks/database-outage.md)
        error(f"warning: {store.result()}")
    return 1 if problems or not answering else 0


def status_chain_problems(settings: Settings) -> tuple[list[str], str]:
    """Each chain whose state does not match the engine's mark, and a warning when the chains
    could not be asked (the status stands)."""
    from cli.onchain import chain_problems
    from floor.errors import FloorError

    try:
        return chain_problems(settings), ""
    except FloorError as exc:
        return [], f"chains not checked against the engine's marks: {exc}"


def unanswered_lines(data: dict) -> list[str]:
    """`floor status` when no worker answers: what Temporal itself recorded."""
    from rich.markup import escape

    recorded = "as the engine last recorded it" if data["state"] != "UNKNOWN" else "no worker has run the engine yet"
    lines = [
        f"Engine     {escape(data['engine_id'])}",
        f"State      [bold]{data['state']}[/] ({recorded}; execution {data['execution']})",
        f"Worker     [red]{escape(data['worker_note'])}[/]",
    ]
    for s in data["pending_signals"]:
        given = s["input"] if isinstance(s["input"], dict) else {"reason": s["input"]}
        who = f" by {given['by']}" if given.get("by") else ""
        why = f": {given['reason']}" if given.get("reason") else ""
        lines.append(escape(f"Pending    {s['signal']} at {s['at']}{who}{why} (applied when a worker runs)"))
    lines.append(f"Web UI     {data['ui_url']}")
    return lines


@app.command()
@command
def positions(config: ConfigOpt = None, as_json: JsonOpt = False) -> int:
    """Every strategy market's position, value, APY, withdrawable amount and exit slippage, read from the chains now."""
    from cli.render import Output, positions_table, total_value
    from floor.chain.marks import ChainRewritten, chain_problems
    from floor.chain.report import read_idle_report, read_report

    settings = settings_from(config)
    problems = chain_problems(settings)  # a reset chain's numbers would be read as if they were ours
    if problems:
        raise ChainRewritten("; ".join(problems))
    rows = read_report(settings, exit_quotes=True)
    idle = read_idle_report(settings)
    out = Output(as_json)
    if as_json:
        total = total_value([*rows, *idle])
        out.json(
            {
                "positions": [r.model_dump(mode="json") for r in rows],
                "idle": [r.model_dump(mode="json") for r in idle],
                "total_value": None if total is None else format(total, "f"),
            }
        )
    else:
        out.console.print(positions_table(rows, idle))
    return 0


@app.command()
@command
def history(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="the last N of each")] = 20,
) -> int:
    """The engine's state transitions and finished operations, oldest first."""
    from cli import engine
    from cli.render import Output, history_tables

    data = asyncio.run(engine.history(settings_from(config), limit))
    out = Output(as_json)
    if as_json:
        out.json(data)
    else:
        for table in history_tables(data):
            out.console.print(table)
    return 0


@app.command()
@command
def reconcile(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    accept: Annotated[
        int | None, typer.Option("--accept", help="accept discrepancy ID (with --reason): the cache follows the chain")
    ] = None,
    accept_chain: Annotated[
        int | None,
        typer.Option(
            "--accept-chain", help="accept chain ID as it is now (with --reason), after a reset or a deep rewrite"
        ),
    ] = None,
    reason: ReasonOpt = "",
    by: ByOpt = None,
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    open_only: Annotated[
        bool, typer.Option("--open", help="list the open discrepancies (one per market), read nothing")
    ] = False,
) -> int:
    """Compare every position, idle balance and recent journalled transaction on every chain
    with the engine's cached view, now; or list the open discrepancies, or accept one (which
    closes the circuit breaker it opened: an acceptance is signed by your key). Exit 1 when a
    discrepancy is found or a chain is not the one the engine knew."""
    from rich.markup import escape

    from cli import engine
    from cli.amounts import InputError
    from cli.render import Output
    from floor.models import units

    settings = settings_from(config)
    out = Output(as_json)
    if open_only:
        if accept is not None or accept_chain is not None:
            raise InputError("--open lists the open discrepancies: give it without --accept or --accept-chain")
        rows = engine.open_discrepancies(settings)
        if as_json:
            out.json({"open": rows})
        if not rows:
            out.line("no open discrepancy")
        for d in rows:
            figures = (
                escape(d["detail"])
                if d["detail"]
                else f"holds {units(int(d['actual']), d['decimals'], d['asset'])}, expected "
                f"{units(int(d['expected']), d['decimals'], d['asset'])}"
            )
            out.line(
                f"#{d['id']} chain {d['chain_id']} {escape(d['market'])}: {figures} ({d['relative_bps']} bps); "
                f"found by {escape(d['run_id'])}, last at {d['found_at']}"
            )
        return 0
    if accept is not None or accept_chain is not None:
        flag = "--accept" if accept is not None else "--accept-chain"
        if not reason.strip():
            raise InputError(f"{flag} needs --reason: an acceptance is recorded with who and why")
        signer = command_key(key, password_file)
        who = by or signer.address
        if accept is not None:
            accepted = engine.accept(settings, accept, who, reason, signer)
            line = (
                f"accepted #{accepted['id']} ({accepted['market']}: "
                f"{units(int(accepted['actual']), accepted['decimals'], accepted['asset'])} held, "
                f"{units(int(accepted['expected']), accepted['decimals'], accepted['asset'])} expected) "
                f"by {accepted['accepted_by']}: {accepted['accepted_reason']}"
            )
        else:
            accepted = engine.accept_chain(settings, accept_chain, who, reason, signer)
            line = f"chain {accepted['chain_id']}: remembered at block {accepted['block_number']}: {accepted['note']}"
            line += "".join(f"\n  {q}" for q in accepted["queues"])
        line += f"\n  engine: {accepted['engine']}"
        if as_json:
            out.json(accepted)
        out.line(escape(line))
        return 0
    result = asyncio.run(engine.reconcile_now(settings))
    if as_json:
        out.json(result)
    out.line(f"{result['status']}: {escape(result['summary'])}")
    for chain in result["chains"]:
        for d in chain["discrepancies"]:
            out.line(
                f"  #{d['id']} chain {chain['chain_id']} {d['market']}: "
                + (
                    escape(d["detail"])
                    if d.get("detail")
                    else f"holds {units(int(d['actual']), d['decimals'], d['asset'])}, expected "
                    f"{units(int(d['expected']), d['decimals'], d['asset'])}"
                )
                + f" ({d['relative_bps']} bps)"
            )
    if result["tripped"] and result.get("breakers"):
        out.line(
            f"the engine is paused: circuit breakers {', '.join(result['breakers'])} stay OPEN until what they "
            "found is accepted (`floor reconcile --accept ID --reason ...`, `--accept-chain ID`), then `floor resume`"
        )
    elif result["tripped"]:  # a run started before the reconciliation had breakers of its own
        out.line("the engine is paused by its circuit breaker: accept or fix, then `floor resume`")
    return 0 if result["status"] == "clean" else 1


@app.command()
@command
def gas(config: ConfigOpt = None, as_json: JsonOpt = False) -> int:
    """Each chain's next base fee, the predictor's next blocks with their 90% intervals, and its
    error over the chain's recent blocks against "fee in h blocks = fee now", measured now;
    the chain's fee model and, on an L2, the L1 data fee of a typical executor transaction."""
    from cli.render import Output
    from floor.chain.gas_report import gas_report

    reports = gas_report(settings_from(config))
    out = Output(as_json)
    if as_json:
        out.json({"chains": [r.model_dump(mode="json") for r in reports]})
    for r in reports:
        out.line(f"chain {r.chain_id}: block {r.latest_block}, next base fee {r.next_base_fee_wei / 1e9:.4f} gwei")
        if r.l1_data_fee_wei is None:
            out.line(f"  fee model {r.fee_model}")
        else:
            paid = "inside gas used" if r.l1_fee_in_gas else "on top of gas"
            out.line(
                f"  fee model {r.fee_model} (oracle {r.gas_price_oracle}): L1 data fee of a typical executor "
                f"transaction ({r.typical_tx_bytes} bytes) {r.l1_data_fee_wei / 1e9:.4f} gwei, {paid}"
            )
        for h in r.horizons:
            measured = (
                f"MAE {h.mae_wei / 1e9:.4f} gwei vs naive {h.naive_mae_wei / 1e9:.4f} (ratio {h.ratio}), "
                f"interval held {h.coverage:.1%} over {h.measured_over} blocks"
                if h.mae_wei is not None and h.naive_mae_wei
                else f"not measurable over {r.blocks} blocks"
            )
            out.line(
                f"  {h.horizon:>2} blocks ahead: {h.point_wei / 1e9:.4f} gwei "
                f"[{h.low_wei / 1e9:.4f}, {h.high_wei / 1e9:.4f}]; {measured}"
            )
    return 0


@app.command()
@command
def configure(
    config: ConfigOpt = None, key: KeyOpt = None, password_file: PasswordFileOpt = None, as_json: JsonOpt = False
) -> int:
    """Send the config's strategy, caps and policy to the engine (started with them if not running),
    signed by your key (an ADMIN's), and print what changed. Operations never reconfigure the
    engine: this and `floor schedules apply` do."""
    from rich.markup import escape

    from cli import engine
    from cli.render import Output

    settings = settings_from(config)
    change = asyncio.run(engine.configure_engine(settings, command_key(key, password_file)))
    out = Output(as_json)
    if as_json:
        out.json(configure_json(settings.engine_id, change))
    for line in change.lines():
        out.line(escape(line))
    return 0


def configure_json(engine_id: str, change) -> dict:
    """What `floor configure --json` prints (and `floor schedules apply --json` under "config")."""
    return {
        "engine_id": engine_id,
        "changed": change.changed,
        **change.model_dump(mode="json"),
        "lines": change.lines(),
    }


@schedules_app.command("apply")
@command
def schedules_apply(
    config: ConfigOpt = None, key: KeyOpt = None, password_file: PasswordFileOpt = None, as_json: JsonOpt = False
) -> int:
    """Configure the engine from the config (started if not running; signed by your key, an
    ADMIN's), print what changed, then create or update its schedules."""
    from rich.markup import escape

    from cli import engine
    from cli.render import Output

    settings = settings_from(config)
    change, ids = asyncio.run(engine.schedules(settings, command_key(key, password_file)))
    out = Output(as_json)
    if as_json:
        out.json(
            {"engine_id": settings.engine_id, "config": configure_json(settings.engine_id, change), "schedules": ids}
        )
    for line in change.lines():
        out.line(escape(line))
    for sid in ids:
        out.line(sid)
    return 0


app.command()(sign)  # cli/sign.py


def main() -> None:
    """The `floor` entry point. A process that used a Temporal client can crash while the
    interpreter finalises (sdk-python#300), so it leaves with os._exit once output is flushed."""
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # a bug: show it, and still leave without finalising
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
