"""The README's tables, read the way the tests that keep the README true need them: the `floor`
command line's examples (each with the exit code the README gives it, 0 when it gives none)
and the commands its command table documents."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"

_SPAN = re.compile(r"`([^`]*)`")
_EXIT = re.compile(r"\s*\(exit (\d+)\b")


@dataclass(frozen=True)
class Example:
    text: str  # as written, e.g. `floor rebalance --reason "weekly check"`
    args: list[str]  # after `floor`
    exit_code: int  # the README's "(exit N ...)" right after it, else 0


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table: its rows (header first, the |---| line left out) of cells."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in _split_row(line.strip().strip("|"))]
            if not all(set(c) <= set("-: ") for c in cells):
                rows.append(cells)
        elif rows:
            found.append(rows)
            rows = []
    return found


def _split_row(row: str) -> list[str]:
    """Cells split on `|` outside backticks."""
    cells, cell, code = [], "", False
    for ch in row:
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            cells.append(cell)
            cell = ""
        else:
            cell += ch
    return [*cells, cell]


def floor_examples(text: str | None = None) -> list[Example]:
    """Each `floor ...` example of the README's tables, in order: a table's "example" column,
    or, in a table without one, its "command" column (there a command is its own example)."""
    text = README.read_text() if text is None else text
    out = []
    for rows in tables(text):
        header = [h.lower() for h in rows[0]]
        if "example" not in header and "command" not in header:  # a table of something else (roles)
            continue
        column = header.index("example") if "example" in header else header.index("command")
        for row in rows[1:]:
            cell = row[column]
            for span in _SPAN.finditer(cell):
                words = shlex.split(span.group(1))
                if not words or words[0] != "floor":
                    continue
                code = _EXIT.match(cell, span.end())
                out.append(Example(span.group(0), words[1:], int(code.group(1)) if code else 0))
    return out


def documented_commands(text: str | None = None) -> set[str]:
    """The commands the CLI table names in its "command" column: "status", "risk scores", ...
    (the words of each `floor ...` span up to its first option or placeholder)."""
    text = README.read_text() if text is None else text
    names = set()
    for rows in tables(text):
        header = [h.lower() for h in rows[0]]
        if header[:2] != ["command", "example"]:
            continue
        for row in rows[1:]:
            for span in _SPAN.finditer(row[0]):
                words = span.group(1).split()
                if words[:1] != ["floor"]:
                    continue
                path = []
                for word in words[1:]:
                    if not re.fullmatch(r"[a-z][a-z-]*", word):
                        break
                    path.append(word)
                names.add(" ".join(path))
    return names
