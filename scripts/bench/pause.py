"""engine.pause_hold_ms: how long from a `pause_engine` signal to every queue of the signer
held (their `status` query says so), 20 pauses while a rebalance runs. Runs right after the
rebalance bench, on its chains (allocated, every vault drifted): each engine of its own asks a
rebalance and is paused, resumed and paused again while it runs (a resume is a signed command,
three an engine within the rate limit), then stopped and the chains reverted for the next; a
pause is measured only while the rebalance runs."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from client import Commander, ensure_engine
from floor.chain.signer import LocalKeySigner
from floor.devnet.stack import CHAIN_IDS
from floor.engine import Operation
from floor.txqueue import QueueStatus, queue_id
from scripts.bench.harness import start_temporal
from scripts.bench.rebalance import rebalance_settings, revert, snapshot, stop_workflows
from scripts.bench.wiring import BENCH_ADMIN, deps
from workers.temporal import build_worker

PAUSES = 20
PAUSES_PER_ENGINE = 4  # the first pause and one after each of the three resumes the rate limit allows
POLL_S = 0.005  # the queues' status is read this often while waiting for the hold
RUN_BETWEEN_S = 0.02  # after a resume, the rebalance runs this long before the next pause
MAX_ENGINES = 15  # a rebalance lasts a pause or three: engines until PAUSES were measured


async def _queue_held(client, queue: str) -> bool:
    """Whether the queue's running workflow says it is held. A queue not started yet, or the
    previous engine's terminated run (a query to it would wait for a worker that has gone),
    is not held."""
    handle = client.get_workflow_handle(queue)
    try:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return False
        return bool((await handle.query("status", result_type=QueueStatus)).held)
    except RPCError:
        return False


async def _queues_held(client, queues: list[str], held: bool, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(h == held for h in await asyncio.gather(*(_queue_held(client, q) for q in queues))):
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"queues {queues} not {'held' if held else 'released'} within {timeout_s} s")


async def _running(client, workflow_id: str) -> bool:
    return (await client.get_workflow_handle(workflow_id).describe()).status == WorkflowExecutionStatus.RUNNING


async def bench_pause(stack, signer: LocalKeySigner) -> dict[str, float]:
    run = uuid.uuid4().hex[:8]
    web3s = {cid: local.web3() for cid, local in stack.chains.items()}
    queues = [queue_id(cid, signer.address) for cid in CHAIN_IDS]
    holds_ms: list[float] = []
    env = await start_temporal()
    try:
        client = env.client
        snapshots = snapshot(web3s)
        for n in range(1, MAX_ENGINES + 1):
            if len(holds_ms) >= PAUSES:
                break
            settings = rebalance_settings(stack, f"bench-pause-{run}-{n}", f"bench-pause-{run}-{n}")
            async with build_worker(client, settings.temporal.task_queue, deps(settings, signer, web3s)):
                await ensure_engine(client, settings)
                admin = Commander(client, settings, BENCH_ADMIN)
                rebalance = (await admin.ask(Operation.REBALANCE, {"reason": "bench"})).workflow_id
                engine = client.get_workflow_handle(settings.engine_id)
                for i in range(PAUSES_PER_ENGINE):
                    if len(holds_ms) >= PAUSES or not await _running(client, rebalance):
                        break  # only pauses while the rebalance runs are measured
                    start = time.perf_counter()
                    await engine.signal("pause_engine", {"reason": "bench", "by": "bench"})
                    await _queues_held(client, queues, True)
                    holds_ms.append((time.perf_counter() - start) * 1000)
                    if i < PAUSES_PER_ENGINE - 1:
                        await admin.resume("bench")
                        await _queues_held(client, queues, False)
                        await asyncio.sleep(RUN_BETWEEN_S)
                await stop_workflows(client, [settings.engine_id, rebalance, *queues])
            revert(web3s, snapshots)
            snapshots = snapshot(web3s)
    finally:
        await env.shutdown()
    if os.environ.get("FLOOR_BENCH_PROFILE"):
        print("pause: every hold in order (ms): " + ", ".join(f"{h:.0f}" for h in holds_ms))
    holds_ms.sort()
    p99 = holds_ms[min(len(holds_ms) - 1, round(0.99 * (len(holds_ms) - 1)))]
    print(
        f"pause: {len(holds_ms)} pauses while a rebalance ran, signal to every queue held: "
        f"p50 {statistics.median(holds_ms):.0f} ms, p99 {p99:.0f} ms, min {holds_ms[0]:.0f} ms, max {holds_ms[-1]:.0f} ms"
    )
    return {
        "engine.pause_hold_ms_p50": round(statistics.median(holds_ms), 1),
        "engine.pause_hold_ms_p99": round(p99, 1),
        "engine.pauses": len(holds_ms),
    }
