"""`floor risk`: the engine's circuit breakers (list, check now, half-open, trip; the engine's
work is in cli.engine), each position's liquidity, and the protocols' smart-contract risk
scores (floor/risk/scores.py) from the packaged risk data, with TVL observations read from the
engine's store when one is configured.

The scores themselves are pure; `floor risk scores` only gathers their inputs (the data file,
the store's `rate_observation` totals, today's date) and prints them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.options import (
    BAD_INPUT,
    ConfigOpt,
    JsonOpt,
    KeyOpt,
    PasswordFileOpt,
    ReasonOpt,
    command,
    command_key,
    settings_from,
)

# Imported by `scores` when it runs: `floor --help` and every other command load this module.
if TYPE_CHECKING:
    from floor.config import Settings
    from floor.risk.scores import RiskScore

risk_app = typer.Typer(help="Protocol risk: smart-contract risk scores and the weight caps they set.")

ScoresConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="config file whose store holds TVL observations (default: as other commands)"),
]
ScoresJsonOpt = Annotated[
    bool, typer.Option("--json", help='print one JSON object ({"scores": [...], ...}) on stdout, nothing else')
]


def _settings(config: Path | None) -> Settings | None:
    """The config as other commands find it, or None when there is none (then no store)."""
    from cli.amounts import InputError

    try:
        return settings_from(config)
    except InputError:
        if config is not None:
            raise
        return None


def scores_table(scores: Sequence[RiskScore], chain_id: int) -> Table:
    table = Table(title=f"Smart-contract risk, chain {chain_id} (0-100, higher is safer)")
    for column in ("protocol", "audit", "tvl", "age", "incidents", "overall", "max weight"):
        table.add_column(column, justify="left" if column == "protocol" else "right")
    for s in scores:
        style = "green" if s.overall >= 80 else "yellow" if s.overall >= 60 else "red"
        tvl = f"{s.tvl}*" if s.tvl_neutral else str(s.tvl)
        table.add_row(
            s.protocol,
            str(s.audit),
            tvl,
            str(s.age),
            str(s.incidents),
            f"[{style}]{s.overall}[/]",
            f"{s.max_weight_bps} bps",
        )
    return table


@risk_app.command("scores")
def scores(
    config: ScoresConfigOpt = None,
    as_json: ScoresJsonOpt = False,
    chain: Annotated[int, typer.Option("--chain", min=1, help="chain id of the deployments scored")] = 1,
    today: Annotated[
        str | None, typer.Option("--today", help="score as of this date, YYYY-MM-DD (default: today, UTC)")
    ] = None,
    notes: Annotated[bool, typer.Option("--notes", help="print each score's notes under the table")] = False,
) -> None:
    """Each protocol's risk score (audit, tvl, age, incidents, overall) and the maximum weight it allows."""
    from cli.amounts import InputError
    from cli.render import Output, error
    from floor.config import ConfigError
    from floor.risk.protocol_data import load_protocol_data
    from floor.risk.scores import score_all

    try:
        as_of = dt.date.fromisoformat(today) if today else dt.datetime.now(dt.UTC).date()
    except ValueError:
        error(f"error: --today must be a date, YYYY-MM-DD, got {today!r}")
        raise typer.Exit(BAD_INPUT) from None
    try:
        settings = _settings(config)
    except InputError as exc:
        error(f"error: {exc}")
        raise typer.Exit(BAD_INPUT) from None
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(BAD_INPUT) from None

    if settings is None:
        observations, source = {}, "none (no config, so no store): tvl neutral"
    else:
        from floor.risk.observations import read_observations

        observations, source = read_observations(settings, chain)
    data = load_protocol_data()
    result = score_all(data, observations, as_of, chain_id=chain)

    out = Output(as_json)
    if as_json:
        out.json(
            {
                "chain_id": chain,
                "as_of": as_of.isoformat(),
                "data_version": data.version,
                "tvl_source": source,
                "scores": [
                    {
                        "protocol": s.protocol,
                        "chain_id": s.chain_id,
                        "audit": s.audit,
                        "tvl": s.tvl,
                        "age": s.age,
                        "incidents": s.incidents,
                        "overall": s.overall,
                        "max_weight_bps": s.max_weight_bps,
                        "tvl_neutral": s.tvl_neutral,
                        "tvl_source": source,
                        "as_of": as_of.isoformat(),
                        "data_version": data.version,
                        "notes": s.notes,
                    }
                    for s in result
                ],
            }
        )
        raise typer.Exit(0)
    out.console.print(scores_table(result, chain))
    out.line(f"risk data version {data.version} (as of {data.as_of}); scored as of {as_of}")
    out.line(f"TVL observations: {escape(source)}; * = neutral (too few observations)")
    if notes:
        for s in result:
            for note in s.notes:
                out.line(f"  {s.protocol}: {escape(note)}")
    raise typer.Exit(0)


# ---------------------------------------------------------------------------- circuit breakers


def breaker_lines(breakers: list[dict]) -> list[str]:
    if not breakers:
        return ["every breaker is CLOSED"]
    return [
        f"{b['scope']}: {b['state']} since {b['since']} ({b['trigger']}, by {b['by']}): {b['reason']}" for b in breakers
    ]


@risk_app.command("breakers")
@command
def risk_breakers(config: ConfigOpt = None, as_json: JsonOpt = False) -> int:
    """The circuit breakers not CLOSED: scope, state, since when, what tripped them and why."""
    from cli import engine
    from cli.render import Output

    data = asyncio.run(engine.breakers(settings_from(config), "list"))
    out = Output(as_json)
    if as_json:
        out.json(data)
    for line in breaker_lines(data["breakers"]):
        out.line(line)
    return 0


@risk_app.command("check")
@command
def risk_check(
    config: ConfigOpt = None,
    reason: ReasonOpt = "",
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Run a risk check now: read TVL, rates, base fees and prices, and trip or probe breakers
    (signed by your key: an OPERATOR's)."""
    from cli import engine
    from cli.render import Output

    settings = settings_from(config)
    signer = command_key(key, password_file)
    data = asyncio.run(engine.breakers(settings, "check", reason=reason, key=signer))
    out = Output(as_json)
    if as_json:
        out.json(data)
    for e in data["events"]:
        out.line(f"{e['scope']}: {e['from_state']} -> {e['to_state']} ({e['trigger']}): {e['reason']}")
    for line in breaker_lines(data["breakers"]):
        out.line(line)
    return 0


@risk_app.command("liquidity")
@command
def risk_liquidity(config: ConfigOpt = None, as_json: JsonOpt = False) -> int:
    """Each position against its market's available liquidity: ratio, maximum safe withdrawal
    now, queued exits' expected wait, and an alert where the floor could not leave."""
    from cli.render import Output, liquidity_table
    from floor.chain.report import read_report

    rows = read_report(settings_from(config), window_s=None, priced=False)  # no price needed: a stale feed is fine
    out = Output(as_json)
    if as_json:
        out.json({"liquidity": [{"chain_id": r.chain_id, **r.liquidity.model_dump(mode="json")} for r in rows]})
    else:
        out.console.print(liquidity_table(rows))
    return 0


ScopeArg = Annotated[
    str,
    typer.Argument(
        help="engine, or a chain:<id> or protocol:<name> of the strategy's markets, e.g. protocol:aave-v3"
        " (`floor risk breakers` lists the open ones)"
    ),
]
TripScopeArg = Annotated[
    str,
    typer.Argument(
        help="a chain:<id> or protocol:<name> of the strategy's markets, e.g. protocol:aave-v3 (the whole engine:"
        " `floor pause`)"
    ),
]


def change_breaker(
    config: Path | None, action: str, scope: str, reason: str, keys: tuple[Path | None, Path | None], as_json: bool
) -> int:
    from cli import engine
    from cli.render import Output

    settings = settings_from(config)
    signer = command_key(*keys)
    data = asyncio.run(engine.breakers(settings, action, scope, reason, signer))
    out = Output(as_json)
    if as_json:
        out.json(data)
    e = data["event"]
    out.line(f"{e['scope']}: {e['from_state']} -> {e['to_state']}: {e['reason']}")
    return 0


@risk_app.command("half-open")
@command
def risk_half_open(
    scope: ScopeArg,
    reason: ReasonOpt,
    config: ConfigOpt = None,
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Ask for a probe of an OPEN breaker: the next risk check closes it if nothing trips there.
    A reconciliation's breaker (reconcile:...) closes when what it found is accepted instead.
    Signed by your key (an ADMIN's)."""
    return change_breaker(config, "half_open", scope, reason, (key, password_file), as_json)


@risk_app.command("trip")
@command
def risk_trip(
    scope: TripScopeArg,
    reason: ReasonOpt,
    config: ConfigOpt = None,
    key: KeyOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Open a chain's or a protocol's breaker by hand: its markets are routed around from now on.
    The engine's own breaker is not opened by hand: `floor pause` stops the whole engine.
    Signed by your key (an ADMIN's)."""
    return change_breaker(config, "trip", scope, reason, (key, password_file), as_json)
