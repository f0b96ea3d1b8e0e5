"""The soak, short: ten hourly cycles on a stack of its own (a Temporal dev server it restarts,
a worker process it SIGKILLs, a fault proxy before each chain), one of each fault kind, and
every invariant kept after every cycle; the report's three files as `make soak` writes them."""

from __future__ import annotations

import json

from scripts.soak.driver import run_soak
from scripts.soak.plan import FAULTS

SUMMARY_KEYS = {"cycles", "cycles_planned", "invariant_failures", "faults", "finished_at", "version"}


async def test_a_short_soak_keeps_every_invariant_through_one_of_each_fault(tmp_path):
    summary = await run_soak(10, 3, str(tmp_path), log=print)
    report = (tmp_path / "report.md").read_text()
    assert summary["invariant_failures"] == 0, report
    assert summary["cycles"] == summary["cycles_planned"] == 10, report
    assert set(summary["faults"]) == set(FAULTS) and all(n >= 1 for n in summary["faults"].values()), summary
    written = json.loads((tmp_path / "summary.json").read_text())
    assert set(written) == SUMMARY_KEYS and written["faults"] == summary["faults"]
    assert "<svg" in (tmp_path / "soak.svg").read_text()
    for kind in FAULTS:
        assert f"| {kind} |" in report  # every fault injected is in the report, with what the engine did
