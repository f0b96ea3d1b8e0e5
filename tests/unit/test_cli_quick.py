"""The console stays quick and says what it knows when the worker is down: `floor --help`
imports none of the heavy modules; the lines `floor status` and `floor pause --onchain` print
without a worker."""

from __future__ import annotations

import subprocess
import sys

from cli.main import unanswered_lines
from cli.onchain import executor_line, pause_line

HEAVY = ("web3", "temporalio", "pydantic", "floor.config", "client", "workflows.engine")


def test_the_command_line_imports_nothing_heavy_before_a_command_runs():
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, cli.main; print([m for m in {HEAVY!r} if m in sys.modules])"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]", loaded


def test_status_without_a_worker_shows_the_recorded_state_and_the_pause_waiting():
    data = {
        "engine_id": "engine-floor",
        "state": "IDLE",
        "execution": "RUNNING",
        "worker_note": "the worker is not answering (no answer within 1 s): is the worker running?",
        "pending_signals": [
            {"signal": "pause_engine", "at": "2030-01-01T00:00:00+00:00", "input": {"by": "oncall", "reason": "[x]"}},
            {"signal": "pause_engine", "at": "2030-01-01T00:00:01+00:00", "input": "bare reason"},
        ],
        "ui_url": "http://127.0.0.1:8233/namespaces/default/workflows/engine-floor",
    }
    lines = unanswered_lines(data)
    assert lines[1].startswith("State      [bold]IDLE[/] (as the engine last recorded it")
    assert (
        lines[3] == r"Pending    pause_engine at 2030-01-01T00:00:00+00:00 by oncall: \[x] (applied when a worker runs)"
    )
    assert lines[4] == "Pending    pause_engine at 2030-01-01T00:00:01+00:00: bare reason (applied when a worker runs)"


def test_executor_lines():
    row = {"chain_id": 1, "executor": "0xE"}
    assert executor_line(row | {"paused": True}) == "chain 1 0xE: PAUSED on chain (execute refused)"
    assert executor_line(row | {"paused": False}) == "chain 1 0xE: not paused"
    assert executor_line(row | {"paused": None, "error": "chain 1: no RPC URL answered"}).endswith(
        "not read (chain 1: no RPC URL answered)"
    )
    paused = row | {"guardian": "0xG", "outcome": "paused", "tx_hash": "0xT", "block": 7}
    assert pause_line(paused) == "chain 1: executor 0xE paused by the guardian 0xG: transaction 0xT (block 7)"
    assert pause_line(row | {"outcome": "already_paused"}) == "chain 1: executor 0xE was already paused: nothing sent"
    assert pause_line(row | {"outcome": "failed", "error": "boom"}) == "chain 1: executor 0xE NOT paused: boom"
