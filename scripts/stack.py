"""The demo's local stack: `up` starts Temporal (with its Web UI), two anvil chains and the
testnet's chain (deploy/networks/testnet.toml) and records their pids; `down` stops exactly the processes whose pids it recorded; `worker`
(`make worker`) restarts only the engine's worker, with the demo's config and signer."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from floor.devnet.processes import (
    StackError,
    require_free,
    start_anvil,
    start_temporal,
    stop_pid,
)

STATE = REPO / "state"
PIDS = STATE / "pids"
LOGS = STATE / "logs"
CONFIG = STATE / "floor.toml"  # written by `make demo`
KEYSTORE = STATE / "signer-keystore.json"  # the engine's signer, made by `make demo`
PASSWORD_FILE = STATE / "signer-keystore.password"
# The worker's scheduler service: signs the schedules' checks (the engine founds it OPERATOR "schedules").
SCHEDULER_KEYSTORE = STATE / "scheduler-keystore.json"
SCHEDULER_PASSWORD_FILE = STATE / "scheduler-keystore.password"
# The demo's command keys (`floor sign`), one per role, made by `make demo`: keystore, password file.
COMMAND_KEYS = {
    role: (STATE / f"{role}-keystore.json", STATE / f"{role}-keystore.password")
    for role in ("admin", "operator", "viewer")
}
WORKER_STOP_S = 30  # the worker lets activities in flight finish for 20 s on SIGTERM (workers.temporal)
DEMO_BLOCK_TIME_S = 2  # a block this often on the demo chains, with or without transactions
TESTNET_CHAIN_ID = 11155111  # deploy/networks/testnet.toml's chain: Sepolia's id


@dataclass(frozen=True)
class Ports:
    temporal: int
    ui: int
    chains: dict[int, int]
    testnet: int  # the testnet's chain (Sepolia's id, 11155111): `floor deploy testnet` deploys there
    relay: int  # the local Flashbots-style relay over chain 1
    metrics: int  # the worker's Prometheus /metrics
    beacon: int  # the Beacon API stand-in over chain 1 (native ETH staking)
    attester: int  # the deposit attester (floor-attester), which vouches for validator deposits
    api: int  # the admin API (floor-api)
    exporter: int  # floor-exporter's /metrics: every floor_engine_* series
    temporal_metrics: int  # the worker's Temporal SDK metrics (temporal_*)
    prometheus: int  # Prometheus (Debian's), scraping the worker, the exporter and the API
    alertmanager: int  # Alertmanager (Debian's), where Prometheus sends firing alerts

    @classmethod
    def from_env(cls) -> Ports:
        def port(name: str, default: int) -> int:
            value = os.environ.get(name, str(default))
            if not value.isdigit() or not 0 < int(value) < 65536:
                raise StackError(f"{name}={value!r} is not a port number")
            return int(value)

        return cls(
            temporal=port("FLOOR_TEMPORAL_PORT", 7233),
            ui=port("FLOOR_UI_PORT", 8233),
            chains={1: port("FLOOR_ETH_PORT", 8545), 42161: port("FLOOR_ARB_PORT", 8546)},
            testnet=port("FLOOR_TESTNET_PORT", 8555),
            relay=port("FLOOR_RELAY_PORT", 8650),
            metrics=port("FLOOR_METRICS_PORT", 9464),
            beacon=port("FLOOR_BEACON_PORT", 5052),
            attester=port("FLOOR_ATTESTER_PORT", 8655),
            api=port("FLOOR_API_PORT", 8700),
            exporter=port("FLOOR_EXPORTER_PORT", 9465),
            temporal_metrics=port("FLOOR_TEMPORAL_METRICS_PORT", 9466),
            prometheus=port("FLOOR_PROMETHEUS_PORT", 9090),
            alertmanager=port("FLOOR_ALERTMANAGER_PORT", 9093),
        )


def write_pid(name: str, pid: int) -> None:
    PIDS.mkdir(parents=True, exist_ok=True)
    (PIDS / f"{name}.pid").write_text(str(pid))


def up(ports: Ports) -> None:
    """Start the stack from nothing; a stack left by an earlier run is stopped first."""
    down(quiet=True)
    require_free(ports.temporal, "Temporal", "FLOOR_TEMPORAL_PORT")
    require_free(ports.ui, "the Temporal Web UI", "FLOOR_UI_PORT")
    for chain_id, port in ports.chains.items():
        require_free(port, f"anvil (chain {chain_id})", "FLOOR_ETH_PORT" if chain_id == 1 else "FLOOR_ARB_PORT")
    require_free(ports.testnet, f"anvil (the testnet, chain {TESTNET_CHAIN_ID})", "FLOOR_TESTNET_PORT")
    require_free(ports.relay, "the local relay", "FLOOR_RELAY_PORT")
    require_free(ports.metrics, "the worker's metrics", "FLOOR_METRICS_PORT")
    require_free(ports.beacon, "the Beacon API stand-in", "FLOOR_BEACON_PORT")
    require_free(ports.attester, "the deposit attester", "FLOOR_ATTESTER_PORT")
    require_free(ports.api, "the admin API", "FLOOR_API_PORT")
    require_free(ports.exporter, "floor-exporter's metrics", "FLOOR_EXPORTER_PORT")
    require_free(ports.temporal_metrics, "the worker's Temporal SDK metrics", "FLOOR_TEMPORAL_METRICS_PORT")
    require_free(ports.prometheus, "Prometheus", "FLOOR_PROMETHEUS_PORT")
    require_free(ports.alertmanager, "Alertmanager", "FLOOR_ALERTMANAGER_PORT")
    # Fresh chains each run, so a fresh Temporal and store too: workflows and snapshots of the
    # last run's chains (their engine, queues and nonces) would describe chains that are gone.
    for stale in (STATE / "temporal.db", STATE / "floor.db", STATE / "floor.db-wal", STATE / "floor.db-shm"):
        stale.unlink(missing_ok=True)
    temporal = start_temporal(ports.temporal, ports.ui, STATE / "temporal.db", LOGS / "temporal.log")
    write_pid("temporal", temporal.pid)
    for chain_id, port in ports.chains.items():
        # Fresh chains each run: the demo deploys and funds from scratch. Finalized 16 blocks
        # behind the head (two epochs of 8 slots): about half a minute of ticks.
        anvil = start_anvil(port, chain_id, LOGS / f"anvil-{chain_id}.log", slots_in_an_epoch=8)
        write_pid(f"anvil-{chain_id}", anvil.pid)
        if chain_id != 1:  # chain 1 is ticked by its relay, under the relay's lock
            write_pid(f"ticker-{chain_id}", start_ticker(chain_id, f"http://127.0.0.1:{port}").pid)
    # The testnet: where `floor deploy testnet` lands first, before promotion to chain 1 (mainnet).
    testnet = start_anvil(ports.testnet, TESTNET_CHAIN_ID, LOGS / f"anvil-{TESTNET_CHAIN_ID}.log")
    write_pid(f"anvil-{TESTNET_CHAIN_ID}", testnet.pid)
    write_pid("relay-1", start_relay(ports.relay, f"http://127.0.0.1:{ports.chains[1]}").pid)
    write_pid("beacon-1", start_beacon(ports.beacon, f"http://127.0.0.1:{ports.chains[1]}").pid)


def start_relay(port: int, anvil_url: str) -> subprocess.Popen:
    """The local Flashbots-style relay over chain 1's anvil, for the demo's private sends."""
    with open(LOGS / "relay-1.log", "ab") as log:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "floor.devnet.relay", "--anvil", anvil_url, "--port", str(port)),
                *("--tick", str(DEMO_BLOCK_TIME_S)),
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_ticker(chain_id: int, anvil_url: str) -> subprocess.Popen:
    """A block every DEMO_BLOCK_TIME_S on a chain (anvil mines only on transactions): as on a
    live chain, confirmations and finality arrive without traffic."""
    with open(LOGS / f"ticker-{chain_id}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "floor.devnet.ticker", "--anvil", anvil_url, "--every", str(DEMO_BLOCK_TIME_S)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_beacon(port: int, anvil_url: str) -> subprocess.Popen:
    """The Beacon API stand-in over chain 1's anvil, for native ETH staking's validators."""
    with open(LOGS / "beacon-1.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "floor.devnet.beacon", "--anvil", anvil_url, "--port", str(port)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_worker() -> subprocess.Popen:
    """`floor-worker` on the demo's config, holding the demo's signer and scheduler key (their
    keystores and passwords in state/), logging to state/logs/worker.log; its pid recorded for `make down`."""
    import secrets

    env = os.environ | {
        "FLOOR_SIGNER__KEYSTORE_PATH": str(KEYSTORE),
        "FLOOR_SIGNER__KEYSTORE_PASSWORD": PASSWORD_FILE.read_text(),
        "FLOOR_FLASHBOTS_REPUTATION_KEY": "0x" + secrets.token_hex(32),  # identifies, holds nothing
    }
    if SCHEDULER_KEYSTORE.is_file():
        env |= {
            "FLOOR_ACCESS__SCHEDULER_KEY__KEYSTORE_PATH": str(SCHEDULER_KEYSTORE),
            "FLOOR_ACCESS__SCHEDULER_KEY__KEYSTORE_PASSWORD": SCHEDULER_PASSWORD_FILE.read_text(),
        }
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "worker.log", "ab") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "floor-worker"), "--config", str(CONFIG)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    write_pid("worker", proc.pid)
    return proc


def start_api() -> subprocess.Popen:
    """`floor-api` on the demo's config (its port: api.port), logging to state/logs/api.log; its
    pid recorded for `make down`."""
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "api.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.main", "--config", str(CONFIG)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    write_pid("api", proc.pid)
    return proc


def restart_worker() -> None:
    """`make worker`: stop the demo's worker (the recorded pid, if it is still the worker) and
    start a new one with the same config and signer. Temporal, the chains and the engine's
    workflows are left alone: a pause signalled while no worker ran takes effect now."""
    if not (CONFIG.is_file() and KEYSTORE.is_file() and PASSWORD_FILE.is_file()):
        raise StackError(f"no demo stack here ({CONFIG} and the signer's keystore): run `make demo` first")
    pid_file = PIDS / "worker.pid"
    if pid_file.exists():
        pid = int(pid_file.read_text())
        if _is_ours(pid) and stop_pid(pid, timeout_s=WORKER_STOP_S):
            print(f"stopped the worker (pid {pid})")
        pid_file.unlink()
    proc = start_worker()
    print(f"started the worker (pid {proc.pid}); its log: {LOGS / 'worker.log'}")


def down(quiet: bool = False) -> None:
    stopped = []
    for pid_file in sorted(PIDS.glob("*.pid")) if PIDS.exists() else []:
        pid = int(pid_file.read_text())
        # Only a process that is still the one recorded: a pid may have been reused since.
        if _is_ours(pid) and stop_pid(pid):
            stopped.append(pid_file.stem)
        pid_file.unlink()
    if not quiet:
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def _is_ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return any(
        word in cmdline
        for word in (
            "anvil",
            "temporal",
            "floor-worker",
            "workers.main",
            "workers.attester",
            "api.main",
            "workers.exporter",
            "prometheus",  # Prometheus, and Debian's prometheus-alertmanager
            "floor.devnet.relay",
            "floor.devnet.beacon",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up", "down", "worker"])
    args = parser.parse_args()
    try:
        if args.command == "up":
            up(Ports.from_env())
        elif args.command == "worker":
            restart_worker()
        else:
            down()
    except StackError as exc:
        raise SystemExit(f"stack: {exc}") from None


if __name__ == "__main__":
    main()
