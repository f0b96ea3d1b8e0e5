"""`floor risk`: the protocols' smart-contract risk scores (floor/risk/scores.py) from the packaged
risk data, with TVL observations read from the engine's store when one is configured.

The scores themselves are pure; this command only gathers their inputs (the data file, the
store's `rate_observation` totals, today's date) and prints them.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

# Imported by `scores` when it runs: `floor --help` and every other command load this module.
if TYPE_CHECKING:
    from floor.config import Settings
    from floor.risk.scores import RiskScore, TvlPoint

BAD_INPUT = 2

risk_app = typer.Typer(help="Protocol risk: smart-contract risk scores and the weight caps they set.")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="config file whose store holds TVL observations (default: as other commands)"),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help='print one JSON object ({"scores": [...], ...}) on stdout, nothing else')
]

# Observations for one protocol: per market, (timestamp, on-chain total) points.
Observations = Mapping[str, Mapping[str, Sequence["TvlPoint"]]]


def _settings(config: Path | None) -> Settings | None:
    """The config as other commands find it, or None when there is none (then no store)."""
    from cli.amounts import InputError
    from cli.main import settings_from

    try:
        return settings_from(config)
    except InputError:
        if config is not None:
            raise
        return None


def read_observations(settings: Settings, chain_id: int) -> tuple[Observations, str]:
    """The store's TVL totals on `chain_id`, by protocol then market, and a label of the source.
    A store that does not exist yet (a SQLite file never created) is not created here."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url
    from sqlmodel import Session

    from floor.store import RateObservation, Store

    url = make_url(settings.store.url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or not Path(database).is_file():
            return {}, "none (the configured SQLite store does not exist yet): tvl neutral"
    store = Store.from_settings(settings)
    try:
        c = RateObservation.__table__.c
        stmt = (
            select(c.market, c.timestamp, c.total_assets)
            .where(c.chain_id == chain_id, c.total_assets.is_not(None))
            .order_by(c.market, c.timestamp)
        )
        out: dict[str, dict[str, list[TvlPoint]]] = {}
        with Session(store.engine) as session:
            for market, timestamp, total in session.execute(stmt):
                protocol = market.split(":")[1] if market.count(":") >= 2 else market
                out.setdefault(protocol, {}).setdefault(market, []).append((timestamp, int(total)))
    except Exception as exc:  # an unmigrated or unreachable store: say so, score without it
        return {}, f"none (store unreadable: {type(exc).__name__}): tvl neutral"
    finally:
        store.close()
    points = sum(len(s) for markets in out.values() for s in markets.values())
    return out, f"store ({backend}, rate_observation: {points} point(s) on chain {chain_id})"


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
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
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
