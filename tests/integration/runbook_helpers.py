"""A runbook's recovery as the drills run it: the ```console block of a page of docs/runbooks/.

    $ floor resume --reason "<ticket>: resuming"   # exit 1 (when the command is expected to fail)
    # top up: what a person does outside the engine (the drill does it, by the step's first words)

Each `$` line is split as a shell would (quotes kept together), its `<placeholders>` filled from
the incident, and run: `floor ...` through the test's CLI (its config), `temporal ...` against
the test's Temporal server. A placeholder's value may be a function, called when the line
that needs it runs (an id the incident gives only after an earlier command)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
CONSOLE = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)
EXPECTED = re.compile(r"\s+#\s*exit (\d+)\b.*$")
PLACEHOLDER = re.compile(r"<([a-z][a-z-]*)>")


@dataclass(frozen=True)
class Step:
    line: str  # as written, placeholders unfilled
    manual: bool  # a `#` step a person does
    exit_code: int = 0


def recovery(page: str) -> list[Step]:
    """The steps of the page's one ```console block."""
    blocks = CONSOLE.findall((RUNBOOKS / page).read_text())
    assert len(blocks) == 1, f"{page}: {len(blocks)} console blocks, one wanted"
    steps = []
    for raw in blocks[0].splitlines():
        if raw.startswith("$ "):
            expected = EXPECTED.search(raw)
            line = EXPECTED.sub("", raw[2:]).strip()
            steps.append(Step(line, False, int(expected.group(1)) if expected else 0))
        elif raw.startswith("# "):
            steps.append(Step(raw[2:].strip(), True))
    assert any(not s.manual for s in steps), f"{page}: no command"
    return steps


Value = str | Callable[[], str] | Callable[[], Awaitable[str]]


async def fill(text: str, values: dict[str, Value]) -> str:
    out = text
    for name in PLACEHOLDER.findall(text):
        assert name in values, f"no value for <{name}> in {text!r}"
        value = values[name]
        if callable(value):
            value = value()
            if isinstance(value, Awaitable):
                value = await value
        out = out.replace(f"<{name}>", str(value))
    return out


async def follow(
    page: str,
    values: dict[str, Value],
    *,
    floor: Callable[..., Awaitable],
    temporal: Callable[..., Awaitable[tuple[int, str, str]]],
    manual: dict[str, Callable[[], Awaitable[None] | None]] | None = None,
) -> list[tuple[str, int, str]]:
    """Runs the page's recovery; each command's (line, exit code, output). A command that exits
    other than the page says fails the drill, naming the line."""
    manual = manual or {}
    ran = []
    for step in recovery(page):
        if step.manual:
            action = next((f for words, f in manual.items() if step.line.startswith(words)), None)
            assert action is not None, f"{page}: the drill has no action for the step {step.line!r}"
            done = action()
            if isinstance(done, Awaitable):
                await done
            continue
        argv = shlex.split(await fill(step.line, values))
        if argv[0] == "floor":
            result = await floor(*argv[1:])
            code, out, err = result.code, result.out, result.err
        elif argv[0] == "temporal":
            code, out, err = await temporal(*argv[1:])
        else:
            raise AssertionError(f"{page}: {argv[0]} is neither floor nor temporal: {step.line}")
        assert code == step.exit_code, f"{page}: `{step.line}` exited {code}, not {step.exit_code}:\n{out}\n{err}"
        ran.append((step.line, code, out + err))
    return ran
