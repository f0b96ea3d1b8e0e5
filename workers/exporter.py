"""`floor-exporter`: every `floor_engine_*` series (`floor/metrics.py`) on `/metrics`, one process
per deployment, on `metrics.exporter_port` at `metrics.address`. A scrape renders what the store
holds now (`floor/exporter.py`); the engine's and the queues' status come from a background
poll of their Temporal queries every `metrics.poll_s` (each query given 2 s), so a scrape never
waits on Temporal, and `floor_engine_status_answering` says whether the engine answered. It
never reads a chain and holds no key."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from temporalio.client import Client

from floor.config import ConfigError, Settings, load_settings
from floor.exporter import EngineCollector, QueueReading, StatusReading, queue_reading, risk_scores
from floor.logging import configure_logging, get_logger
from floor.store import Store

QUERY_TIMEOUT_S = 2.0  # each status query; the engine or a queue slower than this is not answering
QUEUES = 'WorkflowType="TxQueueWorkflow" AND ExecutionStatus="Running"'

log = get_logger(process="floor-exporter")


class StatusPoller:
    """Asks the engine (`status`) and every running transaction queue (`status`) every `poll_s`
    on a thread of its own; `latest()` is the last answer, at once. The Temporal client is made
    on the poll's own loop, and made again after a failure."""

    def __init__(
        self,
        settings: Settings,
        poll_s: float | None = None,
        timeout_s: float = QUERY_TIMEOUT_S,
        connect: Callable[[Settings], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.poll_s = poll_s if poll_s is not None else settings.metrics.poll_s
        self.timeout_s = timeout_s
        self._connect = connect
        self._latest = StatusReading()
        self._polled = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Client | None = None

    def latest(self) -> StatusReading:
        return self._latest

    def wait_polled(self, timeout_s: float) -> bool:
        """Whether a poll has finished (the first, or any since `start`), waiting up to `timeout_s`."""
        return self._polled.wait(timeout_s)

    def start(self) -> StatusPoller:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._run()), name="floor-exporter-poll", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    async def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._latest = await self.poll()
            self._polled.set()
            rest = self.poll_s - (time.monotonic() - started)
            while rest > 0 and not self._stop.is_set():
                await asyncio.sleep(min(rest, 0.2))
                rest = self.poll_s - (time.monotonic() - started)

    async def poll(self) -> StatusReading:
        """One poll: the engine's status and the queues', each within the timeout."""
        now = time.time()
        try:
            client = await self._client_now()
        except Exception as exc:  # Temporal unreachable: nothing answers
            log.warning("status poll: Temporal not reached", error=_short(exc))
            return StatusReading(answering=False, at=now)
        engine, queues = await asyncio.gather(self._engine(client), self._queues(client))
        return StatusReading(answering=engine is not None, engine=engine, queues=queues, at=now)

    async def _client_now(self) -> Client:
        if self._client is None:
            from client.engine import connect

            make = self._connect or connect
            self._client = await asyncio.wait_for(make(self.settings), self.timeout_s)
        return self._client

    async def _engine(self, client: Client) -> Any:
        from client.engine import engine_status

        try:
            return await asyncio.wait_for(
                engine_status(client, self.settings.engine_id, self.timeout_s), self.timeout_s + 0.5
            )
        except Exception as exc:  # no worker, no engine, or Temporal gone: not answering
            log.info("status poll: the engine did not answer", engine=self.settings.engine_id, error=_short(exc))
            return None

    async def _queues(self, client: Client) -> tuple[QueueReading, ...] | None:
        try:
            ids = await asyncio.wait_for(self._queue_ids(client), self.timeout_s)
        except Exception as exc:
            log.info("status poll: queues not listed", error=_short(exc))
            return None
        answers = await asyncio.gather(*(self._queue(client, id) for id in ids))
        return tuple(a for a in answers if a is not None)

    async def _queue_ids(self, client: Client) -> list[str]:
        chains = {f"txqueue-{chain.id}-" for chain in self.settings.chains}
        return [w.id async for w in client.list_workflows(QUEUES) if any(w.id.startswith(c) for c in chains)]

    async def _queue(self, client: Client, workflow_id: str) -> QueueReading | None:
        from datetime import timedelta

        handle = client.get_workflow_handle(workflow_id)
        try:
            raw = await asyncio.wait_for(
                handle.query("status", rpc_timeout=timedelta(seconds=self.timeout_s)), self.timeout_s + 0.5
            )
            return queue_reading(raw)
        except Exception as exc:
            log.info("status poll: a queue did not answer", queue=workflow_id, error=_short(exc))
            return None


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def serve(settings: Settings, port: int, address: str, store: Store | None = None) -> tuple[StatusPoller, Any]:
    """Start the poller and the HTTP server on `address:port`; returns the poller and the server."""
    store = store or Store.from_settings(settings)
    store.migrate()  # the tables it reads, if no worker has migrated yet
    poller = StatusPoller(settings).start()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(store, settings, poller.latest, risk_scores(settings)))
    server, _thread = start_http_server(port, addr=address, registry=registry)
    return poller, server


def main() -> None:
    parser = argparse.ArgumentParser(prog="floor-exporter", description=__doc__)
    parser.add_argument("--config", help="TOML config file (default: $FLOOR_CONFIG or ./floor.toml)")
    parser.add_argument("--port", type=int, help="listen here (default: metrics.exporter_port)")
    args = parser.parse_args()
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        raise SystemExit(f"floor-exporter: {exc}") from None
    configure_logging(settings.log_level)
    port = args.port or settings.metrics.exporter_port
    if port is None:
        raise SystemExit("floor-exporter: set metrics.exporter_port (or --port)")
    address = settings.metrics.address
    poller, server = serve(settings, port, address)
    log.info("exporter serving", url=f"http://{address}:{port}/metrics", poll_s=poller.poll_s)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    log.info("exporter stopping")
    server.shutdown()
    poller.stop()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # a Temporal client at interpreter exit can crash the exit (sdk-python#300)


if __name__ == "__main__":
    main()
