"""Every panel of every Grafana dashboard (deploy/grafana, made by scripts/dashboards.py) answers
from a real Prometheus scraping a running engine.

The engine runs as in production, each part a process of its own on the session's Temporal
server and anvil chains: `floor-worker` (its own metrics and Temporal's SDK metrics),
`floor-exporter` (every floor_engine_* series, from the store and the engine's status),
`floor-api`, and Debian's Prometheus scraping them every second. The test does what the panels
show: an allocation (chain 1's large batch through the local private relay), a harvest, a
rebalance after drift, a second harvest that measures yield, a capital request that fails, a
reconciliation (one chain's signer below its gas floor: an alert), a risk check, a command from a
key with no role, and admin API requests with a refusal. Then each panel's queries run through
Prometheus' HTTP API as Grafana runs them, the chain variable and Grafana's own intervals
substituted: an instant query (`/api/v1/query`) for a stat, table or bar gauge, a range query
(`/api/v1/query_range`, over the test's run) for a time series or heatmap. None may fail and
none may come back empty.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import tomli_w
from temporalio.client import WorkflowFailureError

from client import ensure_engine, reconcile
from floor import metrics as m
from floor.config import Settings
from floor.devnet.processes import free_port, stop_process, wait_for_port
from floor.devnet.prometheus import (
    JOB_API,
    JOB_EXPORTER,
    JOB_TEMPORAL_SDK,
    JOB_WORKER,
    Prometheus,
    PrometheusError,
    scrape_config,
    scrape_targets,
    start_prometheus,
)
from floor.devnet.relay import LocalRelay
from floor.devnet.worker_process import ROOT, WorkerProcess
from floor.engine import Operation
from scripts import dashboards
from scripts.dashboards import sel
from tests.integration.engine_helpers import (
    OUTSIDER,
    allocate_request,
    commander,
    engine_settings,
    finished,
    fund,
    run_operation,
    write_keystore,
)
from tests.integration.helpers import advance_time, mint

pytestmark = pytest.mark.integration

SCRAPE_S = 1
RATE_INTERVAL = "1m"  # Grafana's $__rate_interval at a 1 s scrape, rounded up
JOBS = (JOB_EXPORTER, JOB_WORKER, JOB_TEMPORAL_SDK, JOB_API)


def engine_config(stack, temporal_env, task_queue: str, relay: LocalRelay, directory: Path) -> tuple[Settings, Path]:
    """The test's engine (the integration helpers' strategy, harvests without a cooldown) with
    every metrics port, a store of its own, the admin API, chain 1's private route through the
    local relay, and chain 42161's signer below its gas floor; its settings and config file."""
    data = engine_settings(stack, task_queue, harvest_cooldown_s=0).model_dump(mode="json", exclude_none=True)
    # A pool too, so exits have a price impact to show (lending markets exit at par).
    data["strategy"]["targets"].append({"chain_id": 1, "protocol": "curve", "market": "3pool", "weight_bps": 600})
    data["access"].pop("scheduler_key", None)  # dumped masked; the worker runs no schedules here
    data["temporal"]["address"] = temporal_env.client.service_client.config.target_host
    data["log_level"] = "INFO"
    data["store"] = {"url": f"sqlite:///{directory / 'floor.db'}"}
    data["metrics"] = {
        "port": free_port(),
        "temporal_port": free_port(),
        "exporter_port": free_port(),
        "poll_s": 1,
        "fee_watch": False,
    }
    data["api"] = {"port": free_port()}
    data["chains"][0]["flashbots"] = {"relay_url": relay.url}
    data["flashbots_reputation_key"] = "0x" + secrets.token_hex(32)  # identifies, holds nothing
    data["reconcile"] = {"min_gas_wei": {"1": 10**17, "42161": 10**30}}
    # Chain 42161 counts a receipt three blocks deep, its blocks a second and a half apart (`tick`):
    # an operation that sends there runs for a few seconds, long enough to be scraped running.
    next(c for c in data["chains"] if c["id"] == 42161)["confirmations"] = 3
    path = directory / "floor.toml"
    path.write_text(tomli_w.dumps(data))
    return Settings(**data), path


class Processes:
    """The test's own processes (besides the worker), stopped at the end; their logs on failure."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
        with open(self.directory / f"{name}.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append((name, proc))
        return proc

    def logs(self) -> str:
        parts = []
        for name, proc in self.started:
            text = (self.directory / f"{name}.log").read_text(errors="replace").splitlines()
            parts.append(f"----- {name}, exit {proc.poll()}\n" + "\n".join(text[-60:]))
        return "\n".join(parts)

    def stop_all(self) -> None:
        for _, proc in reversed(self.started):
            stop_process(proc)


async def tick(w3, every_s: float = 1.5) -> None:
    """A block every `every_s`, as on a live chain (anvil mines only on transactions)."""
    while True:
        await asyncio.to_thread(w3.provider.make_request, "evm_mine", [])
        await asyncio.sleep(every_s)


@pytest.fixture
def relay(stack) -> Iterator[LocalRelay]:
    with LocalRelay(stack.chains[1].rpc_url) as running:
        yield running


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    running = Processes(tmp_path)
    yield running
    running.stop_all()


async def floor_cli(config: Path, key, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`floor ARGS --config CONFIG`, signed by `key` (an encrypted keystore in the environment)."""
    keystore, password = write_keystore(key, config.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}
    env |= {"FLOOR_KEY": str(keystore), "FLOOR_KEY_PASSWORD": password.read_text()}
    command = [str(Path(sys.executable).parent / "floor"), *args, "--config", str(config)]
    return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, timeout=120)


def grafana_query(expr: str, chain: str, range_s: int) -> str:
    """`expr` as Grafana sends it: the chain variable and Grafana's intervals substituted."""
    return (
        expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__range", f"{range_s}s")
        .replace("$__interval", f"{SCRAPE_S}s")
        .replace("$chain", chain)
    )


def panel_queries() -> list[tuple[str, str, str, bool]]:
    """(dashboard, panel, expression, instant) of every target of every panel."""
    out = []
    for path, text in dashboards.rendered().items():
        board = json.loads(text)
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                out.append((path.stem, panel["title"], target["expr"], bool(target.get("instant"))))
    return out


def run_panels(prometheus: Prometheus, chain: str, start: float) -> tuple[list[str], list[str], int]:
    """Each panel query run once for `chain`: (failed, empty, how many ran)."""
    failed, empty = [], []
    end = time.time()
    range_s = max(int(end - start) + 1, 60)
    queries = panel_queries()
    for board, title, expr, instant in queries:
        query = grafana_query(expr, chain, range_s)
        where = f"{board} / {title} (chain {chain}): {query}"
        try:
            if instant:
                result = prometheus.query(query)
            else:
                params = {"query": query, "start": start, "end": end, "step": SCRAPE_S}
                result = prometheus.api("query_range", params)["result"]
        except PrometheusError as exc:
            failed.append(f"{where}: {exc}")
            continue
        if not result:
            empty.append(where)
    return failed, empty, len(queries)


async def every_panel_answers(prometheus: Prometheus, start: float, timeout_s: float = 30) -> int:
    """Until every panel answers with data for chain 1 and for every chain (the exporter's
    next poll and Prometheus' next scrape bring the last operations' numbers); how many queries
    each round ran. A query Prometheus refuses fails at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        failed, empty, ran = [], [], 0
        for chain in ("1", ".*"):
            f, e, n = await asyncio.to_thread(run_panels, prometheus, chain, start)
            failed, empty, ran = failed + f, empty + e, ran + n
        assert not failed, "queries Prometheus refused:\n" + "\n".join(failed)
        if not empty:
            return ran
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(empty)} of {ran} panel queries came back empty:\n" + "\n".join(empty))
        await asyncio.sleep(1)


async def test_every_panel_of_every_dashboard_answers_from_a_running_engine(
    temporal_env, stack, web3s, operator_key, task_queue, relay, processes, tmp_path
):
    started = time.time()
    client = temporal_env.client
    settings, config = engine_config(stack, temporal_env, task_queue, relay, tmp_path)
    worker = WorkerProcess("worker", config, operator_key, tmp_path / "worker.log")
    ticker = None
    try:
        processes.start("exporter", "-m", "workers.exporter", "--config", str(config))
        processes.start("api", "-m", "api.main", "--config", str(config))
        prometheus = start_prometheus(
            scrape_config(scrape_targets(settings, api_port=settings.api.port), scrape_interval_s=SCRAPE_S),
            free_port(),
            tmp_path / "prometheus",
            tmp_path,
        )
        processes.started.append(("prometheus", prometheus.process))
        await worker.ready()
        await ensure_engine(client, settings)
        await asyncio.to_thread(wait_for_port, settings.api.port, None, "floor-api")
        await asyncio.to_thread(prometheus.wait_scraped, JOBS)

        # What the overview shows: positions on both chains, chain 1's large batch sent privately.
        fund(settings, web3s)
        ticker = asyncio.ensure_future(tick(web3s[42161]))
        # The operation running shows while it waits for chain 42161's confirmations.
        asked = await commander(client, settings).ask(Operation.ALLOCATE, allocate_request())
        await asyncio.to_thread(prometheus.wait_for, sel(m.OPERATION_RUNNING))
        await finished(client, settings.engine_id, Operation.ALLOCATE, asked.workflow_id)
        await run_operation(client, settings, Operation.HARVEST, {"by": "test"})  # the yield's baseline
        # A month passes and one vault's share price jumps: a rebalance moves funds, a harvest measures yield.
        usdc = settings.chain(1).token("USDC").address
        mint(web3s[1], usdc, settings.chain(1).market("metamorpho", "steakUSDC").vault, 1_500_000 * 10**6)
        for w3 in web3s.values():
            advance_time(w3, 30 * 86_400)
        await run_operation(client, settings, Operation.REBALANCE, {"by": "test", "reason": "drift"})
        await run_operation(client, settings, Operation.HARVEST, {"by": "test"})
        # A capital request larger than the floor fails by name: an error to count.
        too_much = {
            "chain_id": 1,
            "asset": "USDC",
            "amount": str(10**9 * 10**6),
            "destination": settings.chain(1).destinations[0],
            "by": "trading-engine",
            "reason": "more than there is",
        }
        started_capital = await commander(client, settings).ask(Operation.REQUEST_CAPITAL, too_much)
        with pytest.raises(WorkflowFailureError) as failed:
            await client.get_workflow_handle(started_capital.workflow_id).result()
        assert failed.value.cause.type == "InsufficientLiquidity", failed.value.cause
        # The reconciliation's reading (positions, gas: chain 42161's signer is below its floor)
        # and the risk check's (price feed ages).
        await reconcile(client, settings)
        await commander(client, settings).check_risk("the dashboards' test")
        # A key with no role is refused (the command line records it in the audit log), and the
        # admin API refuses a reader who has not signed in.
        refused = await floor_cli(config, OUTSIDER, "rebalance", "--reason", "not mine to ask")
        assert refused.returncode == 1 and b"refused" in refused.stderr, refused
        api = f"http://127.0.0.1:{settings.api.port}"
        assert requests.get(f"{api}/auth/nonce", timeout=10).status_code == 200
        assert requests.get(f"{api}/status", timeout=10).status_code == 401

        ran = await every_panel_answers(prometheus, started)
        board_count = len(dashboards.DASHBOARDS)
        print(f"{ran} panel queries over {board_count} dashboards answered, in {time.time() - started:.0f} s")

        # The chain variable offers both chains.
        chains = prometheus.api("label/chain/values", [("match[]", "floor_engine_tvl_total")])
        assert sorted(chains) == ["1", "42161"]
    except BaseException:
        print(worker.log()[-20_000:])
        print(processes.logs())
        raise
    finally:
        if ticker is not None:
            ticker.cancel()
        worker.stop()
