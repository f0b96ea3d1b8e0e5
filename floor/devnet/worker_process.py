"""`floor-worker` as an OS process of its own, so it can be SIGKILLed (the crash tests, the soak).

The worker reads a TOML config (`write_config`: the local chains and a Temporal dev server on
a task queue of the caller's), and gets the signer's key from the environment, as in
production. `FLOOR_FAILPOINT=<step>` makes it kill itself at that step (see
`activities.txqueue.failpoint`). Its output goes to a file, to be shown when something fails;
the caller stops every process it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import tomli_w

from floor.config import Settings
from floor.txqueue import FAILPOINT_ENV

ROOT = Path(__file__).resolve().parents[2]  # the checkout: the worker runs its code
STARTED = "worker started"  # workers/main.py logs it once the client is connected


def write_config(path: Path, settings: Settings, temporal_address: str, task_queue: str) -> Path:
    """The worker's config: the chains of `settings` and Temporal; no signer (it comes from the env)."""
    config = {
        "log_level": "INFO",
        "temporal": {"address": temporal_address, "task_queue": task_queue},
        "engine": {"workflow_id": f"engine-{task_queue}"},  # an engine of the task queue's own
        "chains": [chain.model_dump(mode="json", exclude_none=True) for chain in settings.chains],
    }
    path.write_text(tomli_w.dumps(config))
    return path


class WorkerProcess:
    def __init__(self, name: str, config: Path, private_key: str, log_path: Path, failpoint: str | None = None):
        self.name, self.failpoint, self.log_path = name, failpoint, log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}  # nothing inherited
        env |= {"FLOOR_SIGNER__PRIVATE_KEY": private_key, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        if failpoint:
            env[FAILPOINT_ENV] = failpoint
        self.started_at = time.monotonic()
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workers.main", "--config", str(config)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches the caller, not the worker
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def ready(self, timeout_s: float = 30) -> None:
        """Until the worker has connected to Temporal (it polls right after)."""
        deadline = time.monotonic() + timeout_s
        while STARTED not in self.log():
            if self.returncode is not None:
                raise AssertionError(f"{self.name} exited with {self.returncode} before it started")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not start within {timeout_s}s")
            await asyncio.sleep(0.05)

    async def exited(self, timeout_s: float) -> int | None:
        """The exit code once the process is gone, or None if it still runs after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while self.returncode is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.returncode

    def stop(self) -> None:
        """SIGTERM (the worker shuts down cleanly), SIGKILL if it lingers. Only this process."""
        if self.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class Workers:
    """The worker processes one caller started."""

    def __init__(self, directory: Path, config: Path, private_key: str):
        self.directory, self.config, self.private_key = directory, config, private_key
        self.started: list[WorkerProcess] = []

    def start(self, failpoint: str | None = None) -> WorkerProcess:
        name = f"worker-{len(self.started) + 1}" + (f" (FLOOR_FAILPOINT={failpoint})" if failpoint else "")
        log = self.directory / f"worker-{len(self.started) + 1}.log"
        worker = WorkerProcess(name, self.config, self.private_key, log, failpoint)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()

    def logs(self, tail_lines: int = 80) -> str:
        parts = []
        for w in self.started:
            lines = w.log().splitlines()
            shown = "\n".join(lines[-tail_lines:])
            cut = f" (last {tail_lines} of {len(lines)} lines)" if len(lines) > tail_lines else ""
            parts.append(f"----- {w.name}, pid {w.pid}, exit {w.returncode}, log {w.log_path}{cut}\n{shown}")
        return "\n".join(parts)

    @contextlib.contextmanager
    def shown_on_failure(self) -> Iterator[None]:
        """On any failure in the block, print the workers' logs (pytest shows captured output)."""
        try:
            yield
        except BaseException:
            print(self.logs())
            raise
