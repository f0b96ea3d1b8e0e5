"""What every benchmark shares: timing, a Temporal dev server of the bench's own, and the results:
printed as a table and merged into bench-results.json."""

from __future__ import annotations

import json
import time
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from floor.devnet.processes import DEV_SERVER_TUNING, free_port, temporal_binary
from workflows.engine import ENGINE_STATE

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench-results.json"
BENCHES = (
    "multicall",
    "batch",
    "txqueue",
    "rebalance",
    "reconcile",
    "positions",
    "rewards",
    "gas",
    "cli",
    "api",
    "ui",
    "metrics",
    "panic",
    "soak",
)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def start_temporal():
    """A Temporal dev server of the bench's own (with the engine's search attribute)."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        port=free_port(),
        ui=False,
        search_attributes=[ENGINE_STATE],
        dev_server_extra_args=DEV_SERVER_TUNING,  # as the local stack's server (floor/devnet/processes.py)
    )


def write_results(results: dict[str, float]) -> None:
    """Merge into bench-results.json: a benchmark not run this time keeps its last value."""
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps(previous | results, indent=2, sort_keys=True) + "\n")


def print_table(results: dict[str, float]) -> None:
    width = max(len(k) for k in results)
    print(f"{'benchmark':<{width}}  value")
    for name, value in results.items():
        print(f"{name:<{width}}  {value}")
