"""Running a soak end to end: the stack up, the treasury allocated, the cycles, the report."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from floor.logging import configure_logging
from scripts.soak.plan import FAULTS, make_plan
from scripts.soak.report import write_report
from scripts.soak.run import Finding, Soak, now_iso, out_dir
from scripts.soak.stack import SoakStack

REPO = Path(__file__).resolve().parents[2]


def version() -> str:
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def run_soak(cycles: int, seed: int, out: str, log=print) -> dict[str, Any]:
    """Run `cycles` hourly cycles on the `seed`'s schedule; write the report to `out`; the summary."""
    configure_logging("WARNING")
    # Temporal's own warnings (a killed worker's tasks) are the soak's faults, not news. Put
    # back after: the suite's short soak runs in a process that goes on to other tests.
    temporal_log = logging.getLogger("temporalio")
    level = temporal_log.level
    temporal_log.setLevel(logging.ERROR)
    try:
        return await _soak(cycles, seed, out, log)
    finally:
        temporal_log.setLevel(level)


async def _soak(cycles: int, seed: int, out: str, log) -> dict[str, Any]:
    directory = out_dir(out)
    plan = make_plan(cycles, seed)
    began = time.monotonic()
    # The worker's, Temporal's and the chains' logs: kept when the run found something.
    work = Path(tempfile.mkdtemp(prefix="floor-soak-"))
    log(f"soak: logs and state in {work}")
    if True:
        stack = SoakStack(work)
        soak: Soak | None = None
        try:
            await stack.start()
            soak = Soak(stack)
            await soak.allocate_treasury()
            setup_s = time.monotonic() - began
            log(f"soak: stack up and treasury allocated in {setup_s:.1f}s; {cycles - 1} cycles to run")
            for cycle in plan[1:]:
                record = await soak.cycle(cycle)
                failures = sum(1 for f in soak.findings if f.cycle == cycle.index and f.explained_by is None)
                marks = ",".join(record.faults + record.events) or "-"
                log(f"cycle {cycle.index:3d} {record.seconds:5.1f}s {marks:<24} failures {failures}")
        except Exception as exc:
            if soak is None:
                raise
            soak.findings.append(Finding(len(soak.records) + 1, "aborted", f"{type(exc).__name__}: {exc}"))
            log(f"soak: stopped at cycle {len(soak.records) + 1}: {type(exc).__name__}: {exc}")
        finally:
            await stack.stop()
    assert soak is not None
    elapsed = time.monotonic() - began
    counts = dict.fromkeys(FAULTS, 0)
    for fault in soak.faults:
        counts[fault.kind] += 1
    summary = {
        "cycles": len(soak.records) + 1,  # the first: the treasury's allocation
        "cycles_planned": cycles,
        "invariant_failures": sum(1 for f in soak.findings if f.explained_by is None),
        "faults": counts,
        "finished_at": now_iso(),
        "version": version(),
    }
    write_report(directory, summary, soak, plan, seed, elapsed)
    if not summary["invariant_failures"]:
        shutil.rmtree(work, ignore_errors=True)  # kept only when a finding needs its logs
    return summary
