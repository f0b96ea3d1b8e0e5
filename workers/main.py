"""`floor-worker`: the worker process. Reads the config, connects to Temporal and the chains,
and runs the engine's workflows and activities until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError

from activities.deps import Deps
from client import Refused, configure_running_queues, connect, engine_config, ensure_engine
from floor import metrics
from floor.catalogue import config_change, engine_input
from floor.chain.feewatch import FeeWatch
from floor.chain.signer import SignerError, signer_from_config
from floor.config import ConfigError, load_settings
from floor.deploy.verify import refuse_mismatched_executors
from floor.logging import configure_logging, get_logger
from floor.operations import EngineConfig
from floor.store import Store
from workers.temporal import GRACEFUL_SHUTDOWN, adopt_if_none_current, build_worker, worker_version


async def run(config_path: str | None) -> None:
    settings = load_settings(config_path)
    configure_logging(settings.log_level)
    log = get_logger(process="floor-worker", task_queue=settings.temporal.task_queue)
    refuse_mismatched_executors(settings)  # with deploy.verify_on_start: the chain holds the code's rules
    signer = signer_from_config(settings.signer) if settings.signer else None
    if signer is None:
        log.warning("no signer configured: the worker can read but not execute")
    client = await connect(settings, runtime=sdk_runtime(settings, log))
    store = Store.from_settings(settings)
    store.migrate()  # to the code's schema before anything writes
    deps = Deps(settings, signer, store=store)
    version = worker_version(settings.temporal)
    worker = build_worker(client, settings.temporal.task_queue, deps, version=version)
    watches = []
    if settings.metrics.port is not None:
        metrics.serve(settings.metrics.port, settings.metrics.address)
        log.info("metrics served", url=f"http://{settings.metrics.address}:{settings.metrics.port}/metrics")
        if settings.metrics.fee_watch:
            watches = [
                FeeWatch(ctx.w3, chain_id, ctx.config.tx.block_time_s).start() for chain_id, ctx in deps.chains.items()
            ]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started",
        temporal=settings.temporal.address,
        chains=[c.id for c in settings.chains],
        signer=signer.address if signer else None,
        version=version.to_canonical_string() if version else "unversioned",
    )
    async with worker:
        if version is not None:
            await adopt_version(client, version, log)
        if signer is not None:
            queues = await configure_running_queues(client, settings, signer.address)
            log.info("running transaction queues configured", queues=queues)
        # The engine runs whenever a worker does: one not running is started (its first run
        # reads its strategy and founders from this worker's settings). A running one is not
        # reconfigured: that is an ADMIN's signed `configure` (`floor schedules apply`).
        # Bounded: an engine owned by a task queue no worker serves must not stall this one; and
        # beside the stop, so a SIGTERM during it is obeyed at once.
        engine = asyncio.create_task(start_engine(client, settings, log))
        await stop.wait()
        engine.cancel()
        log.info("stopping: no new tasks; activities in flight may finish", grace_s=GRACEFUL_SHUTDOWN.seconds)
        for watch in watches:
            watch.stop()
    log.info("worker stopped")


async def adopt_version(client, version, log) -> None:
    try:
        if await adopt_if_none_current(client, version):
            log.info("the deployment had no current version: this build is now current", version=version.build_id)
    except (TimeoutError, RPCError) as exc:
        log.warning("could not read or set the deployment's current version", error=str(exc))


def sdk_runtime(settings, log) -> Runtime | None:
    """With `metrics.temporal_port`, a Temporal runtime serving the SDK's own metrics (`temporal_*`:
    task latencies, slots, poll failures) on that port; the client and the worker share it."""
    port = settings.metrics.temporal_port
    if port is None:
        return None
    address = settings.metrics.address
    host = f"[{address}]" if ":" in address else address
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}")))
    log.info("Temporal SDK metrics served", url=f"http://{host}:{port}/metrics")
    return runtime


async def start_engine(client, settings, log) -> None:
    try:
        await asyncio.wait_for(engine_differs(client, settings, log), 30)
    except (TimeoutError, RPCError, Refused) as exc:
        log.warning("engine not reached; it is not running or not served", engine=settings.engine_id, error=str(exc))


async def engine_differs(client, settings, log) -> None:
    """Start the engine if it is not running; warn, naming what differs, when the running one's
    configuration is not this worker's."""
    running = await engine_config(client, settings.engine_id)
    if running is None:
        await ensure_engine(client, settings)
        log.info("engine started", engine=settings.engine_id)
        return
    if await client.get_workflow_handle(settings.engine_id).query("roles") is None:
        # A run from before signed commands: give it its role book now, not at its next run.
        answer = await client.get_workflow_handle(settings.engine_id).execute_update("load_access", None)
        log.info("engine access", engine=settings.engine_id, answer=answer)
    input = engine_input(settings)
    change = config_change(running, EngineConfig(catalogue=input.catalogue, policy=input.policy))
    if change.changed:
        log.warning(
            "the running engine's configuration differs from this worker's: an ADMIN's signed configure"
            " applies it (floor schedules apply)",
            engine=settings.engine_id,
            differs=change.lines(),
        )
    else:
        log.info("engine running with this worker's configuration", engine=settings.engine_id)


def main() -> None:
    parser = argparse.ArgumentParser(prog="floor-worker", description=__doc__)
    parser.add_argument("--config", help="TOML config file (default: $FLOOR_CONFIG or ./floor.toml)")
    args = parser.parse_args()
    try:
        asyncio.run(run(args.config))
    except (ConfigError, SignerError) as exc:
        raise SystemExit(f"floor-worker: {exc}") from None


if __name__ == "__main__":
    main()
