"""What the CLI prints: rich tables and lines for people, one JSON object for programs.

With `--json` stdout carries that one object and nothing else; errors and refusals always go
to stderr in one line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from floor.operations import short

if TYPE_CHECKING:  # the chain reads import web3: only the commands that read positions need it
    from floor.chain.report import IdleReport, MarketReport

STATUS_STYLE = {"done": "green", "skipped": "green", "partial": "yellow", "failed": "red", "refused": "red"}


def error(message: str) -> None:
    """One line on stderr (newlines inside a message are folded)."""
    print(" ".join(message.split()), file=sys.stderr, flush=True)


class Output:
    def __init__(self, as_json: bool):
        self.as_json = as_json
        console = Console(soft_wrap=True, highlight=False)
        # Piped or logged output: no wrapping of wide tables at 80 columns.
        self.console = console if console.is_terminal else Console(soft_wrap=True, highlight=False, width=200)

    def json(self, data: Any) -> None:
        print(json.dumps(data, default=str), flush=True)

    def line(self, text: str) -> None:
        """Rich markup for people; nothing in --json mode."""
        if not self.as_json:
            self.console.print(text)

    @contextmanager
    def progress(self, title: str) -> Iterator[Callable[[str], None]]:
        """Yields a function to report each new step: a spinner on a terminal, a line per step
        otherwise, nothing in --json mode."""
        if self.as_json:
            yield lambda step: None
        elif self.console.is_terminal:
            with self.console.status(escape(title)) as status:
                yield lambda step: status.update(f"{escape(title)}: {escape(step)}")
        else:
            yield lambda step: self.console.print(f"  step: {escape(step)}")

    def outcome(self, status: str, summary: str) -> None:
        style = STATUS_STYLE.get(status, "bold")
        self.line(f"[{style}]{status}[/]: {escape(summary)}")


def status_lines(data: dict) -> list[str]:
    op, last = data.get("operation"), data.get("last")
    lines = [f"Engine     {escape(data['engine_id'])}", f"State      [bold]{data['state']}[/]"]
    if op:
        lines.append(
            f"Operation  {op['kind']} {escape(op['workflow_id'])} by {escape(op['by'])}: step {escape(op['step'])}"
        )
    if data["state"] == "PAUSED":
        who = f"by {escape(data['paused_by'])} " if data.get("paused_by") else ""
        since = f"since {data['paused_at']}: " if data.get("paused_at") else ""
        lines.append(f"Paused     {who}{since}{escape(data['pause_reason'] or 'no reason given')}")
    for b in data.get("breakers", []):  # the circuit breakers not CLOSED, and why
        lines.append(
            f"Breaker    [red]{escape(b['scope'])} {b['state']}[/] since {b['since']}"
            f" ({b['trigger']}, by {escape(b['by'])}): {escape(b['reason'])}"
        )
    if last:
        style = STATUS_STYLE.get(last["status"], "bold")
        lines.append(
            f"Last       {last['kind']} {escape(last['workflow_id'])} [{style}]{last['status']}[/]"
            f" at {last['finished_at']}: {escape(last['summary'])}"
        )
    lines.append(f"Web UI     {data['ui_url']}")
    return lines


def total_value(rows: list) -> Decimal | None:
    """The sum of the rows' values (positions and idle balances); None if one is not valued."""
    values = [r.value for r in rows]
    return None if any(v is None for v in values) else sum(values, Decimal(0))


def positions_table(rows: list[MarketReport], idle: list[IdleReport] = ()) -> Table:
    """Every market's position, then what the executors hold idle, then the total value."""
    table = Table(title="Positions (read from the chains now)", title_justify="left")
    for name in ("chain", "protocol", "market", "asset"):
        table.add_column(name)
    for name in ("amount", "value (USD)", "APY", "withdrawable", "exit slippage", "block"):
        table.add_column(name, justify="right")
    for r in rows:
        value = "-" if r.value is None else f"{r.value:,.2f}"
        apy = "-" if r.apy is None else f"{r.apy:.2%}" + ("" if r.apy_source == "quoted" else " (measured)")
        slip = "-" if r.exit_slippage_bps is None else f"{r.exit_slippage_bps} bps"
        table.add_row(
            str(r.chain_id),
            escape(r.protocol),
            escape(r.market),
            escape(r.asset),
            short(r.amount, r.decimals),
            value,
            apy,
            short(r.withdrawable, r.decimals),
            slip,
            str(r.block_number),
        )
    if idle:
        table.add_section()
    for r in idle:
        value = "-" if r.value is None else f"{r.value:,.2f}"
        amount = short(r.amount, r.decimals)
        table.add_row(
            str(r.chain_id), "idle", "executor", escape(r.asset), amount, value, "-", amount, "-", str(r.block_number)
        )
    total = total_value([*rows, *idle])
    table.add_section()
    table.add_row("total", "", "", "", "", "-" if total is None else f"[bold]{total:,.2f}[/]", "", "", "", "")
    return table


# The allocation planner's note kinds (floor/planning/total.py), in words.
NOTE_KINDS = {
    "market_cap": "a market's cap",
    "protocol_cap": "a protocol's cap",
    "chain_cap": "a chain's cap",
    "cluster_cap": "a correlation cap",
    "holdings": "not enough held",
    "liquidity": "cannot leave now",
    "funds": "deposits share what is free",
    "min_trade": "below the minimum trade",
    "lot": "whole lots only",
    "cap_repair": "a cap kept after the moves",
    "cap_breach": "a cap still exceeded",
    "request": "more asked than held",
}


def note_lines(notes: list[str]) -> list[str]:
    """An operation's notes ("<kind>: <text>") as lines for people: "note (a protocol's cap): ..."."""
    lines = []
    for note in notes:
        kind, _, text = note.partition(": ")
        label = NOTE_KINDS.get(kind)
        lines.append(f"  note ({label}): {escape(text)}" if label else f"  note: {escape(note)}")
    return lines


def liquidity_table(rows: list[MarketReport]) -> Table:
    table = Table(title="Liquidity risk (read from the chains now)", title_justify="left")
    for name in ("chain", "protocol", "market"):
        table.add_column(name)
    for name in ("position", "available", "ratio", "max safe now", "exit"):
        table.add_column(name, justify="right")
    table.add_column("alert")
    for r in rows:
        liq = r.liquidity
        ratio = "-" if liq.ratio_bps is None else f"{liq.ratio_bps / 100:.2f}%"
        exit = "instant" if liq.exit == "instant" else f"queued, ~{liq.expected_wait_s / 86_400:g} d"
        table.add_row(
            str(r.chain_id),
            escape(r.protocol),
            escape(r.market),
            short(liq.position, r.decimals),
            short(liq.market_available, r.decimals),
            ratio,
            short(liq.max_safe_withdrawal, r.decimals),
            exit,
            f"[red]{escape(liq.reason)}[/]" if liq.alert else "",
        )
    return table


def history_tables(data: dict) -> list[Table]:
    transitions = Table(title="Transitions", title_justify="left")
    for name in ("at", "from", "to", "cause", "by", "reason"):
        transitions.add_column(name)
    for t in data["transitions"]:
        transitions.add_row(
            t["at"], t["from_state"], t["to_state"], escape(t["cause"]), escape(t["actor"]), escape(t["reason"])
        )
    operations = Table(title="Finished operations", title_justify="left")
    for name in ("finished", "kind", "status", "workflow", "summary"):
        operations.add_column(name)
    for r in data["operations"]:
        style = STATUS_STYLE.get(r["status"], "bold")
        operations.add_row(
            r["finished_at"], r["kind"], f"[{style}]{r['status']}[/]", escape(r["workflow_id"]), escape(r["summary"])
        )
    tables = [transitions, operations]
    if data.get("chain_events"):
        events = Table(title="What the chains took back", title_justify="left")
        for name in ("at", "kind", "subject", "detail", "resolved"):
            events.add_column(name)
        for e in data["chain_events"]:
            events.add_row(e["at"], e["kind"], escape(e["subject"]), escape(e["detail"]), e["resolved_at"] or "open")
        tables.append(events)
    if data.get("breaker_events"):
        breakers = Table(title="Circuit breakers", title_justify="left")
        for name in ("at", "scope", "from", "to", "trigger", "by", "reason"):
            breakers.add_column(name)
        for e in data["breaker_events"]:
            breakers.add_row(
                e["at"],
                escape(e["scope"]),
                e["from_state"],
                e["to_state"],
                e["trigger"],
                escape(e["actor"]),
                escape(e["reason"]),
            )
        tables.append(breakers)
    if data.get("acceptances"):
        accepted = Table(title="Discrepancies accepted", title_justify="left")
        for name in ("at", "id", "market", "held", "expected", "bps", "by", "why"):
            accepted.add_column(name)
        for d in data["acceptances"]:
            accepted.add_row(
                d["accepted_at"],
                f"#{d['id']}",
                escape(d["market"]),
                d["actual"],
                d["expected"],
                str(d["relative_bps"]),
                escape(d["accepted_by"]),
                escape(d["accepted_reason"]),
            )
        tables.append(accepted)
    return tables
