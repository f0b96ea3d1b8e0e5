"""cli: the installed `floor` command as an operator starts it, a fresh process each run, median of
CLI_ROUNDS runs: `floor --help` (cli.help_ms), and `floor status` (cli.status_ms) against a fresh
engine on the bench's own Temporal dev server, its worker answering (in this process), with the
two chains' executors read (their `paused` flags) and a fresh SQLite store (no chain marks yet)."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import tomli_w

from client import ensure_engine
from floor.chain.signer import LocalKeySigner
from floor.config import Settings
from scripts.bench.harness import start_temporal
from scripts.bench.wiring import BENCH_ACCESS, deps
from workers.temporal import build_worker

CLI_ROUNDS = 7


async def floor_ms(*args: str) -> float:
    """The wall time of one run of the installed `floor` (a fresh process), in ms; it must exit 0."""
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "floor"),
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")},  # the config file only
    )
    _, err = await proc.communicate()
    elapsed_ms = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise AssertionError(f"floor {' '.join(args)} exited with {proc.returncode}: {err.decode().strip()}")
    return elapsed_ms


async def bench_cli(stack, signer: LocalKeySigner, tmp: Path) -> dict[str, float]:
    """`floor --help`, and `floor status` against a fresh engine on the bench's Temporal with its
    worker answering (in this process, between the runs' awaits); medians of CLI_ROUNDS runs."""
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        chains=stack.chain_configs(),
        temporal={"task_queue": f"bench-cli-{run}"},
        engine={"workflow_id": f"bench-engine-{run}-cli"},
        access=BENCH_ACCESS,
    )
    help_ms = [await floor_ms("--help") for _ in range(CLI_ROUNDS)]
    env = await start_temporal()
    try:
        data = settings.model_dump(mode="json", exclude_none=True)
        data["temporal"]["address"] = env.client.service_client.config.target_host
        data["store"] = {"url": f"sqlite:///{tmp / f'cli-{run}.db'}"}
        config = tmp / f"cli-{run}.toml"
        config.write_text(tomli_w.dumps(data))
        async with build_worker(env.client, settings.temporal.task_queue, deps(settings, signer)):
            await ensure_engine(env.client, settings)
            await floor_ms("status", "--config", str(config))  # the engine's first query: its worker warms up
            status_ms = [await floor_ms("status", "--config", str(config)) for _ in range(CLI_ROUNDS)]
    finally:
        await env.shutdown()
    return {
        "cli.help_ms": round(statistics.median(help_ms), 1),
        "cli.status_ms": round(statistics.median(status_ms), 1),
    }
