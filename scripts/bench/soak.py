"""soak.cycles_per_min: a short soak (one of each fault kind) on a stack of its own, timed from
the first process started to the report written, as `make soak` runs its two weeks."""

from __future__ import annotations

import asyncio
import tempfile
import time

from scripts.soak.driver import run_soak

SOAK_CYCLES = 12
SOAK_SEED = 7


def bench_soak() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="floor-bench-soak-") as out:
        began = time.monotonic()
        summary = asyncio.run(run_soak(SOAK_CYCLES, SOAK_SEED, out, log=lambda _: None))
        minutes = (time.monotonic() - began) / 60
    if summary["invariant_failures"] or summary["cycles"] < SOAK_CYCLES:
        raise SystemExit(f"bench soak: {summary}")
    return {"soak.cycles_per_min": round(summary["cycles"] / minutes, 1)}
