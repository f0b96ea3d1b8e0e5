"""Prometheus on loopback for the demo and the tests: its scrape config, the process, its HTTP API.

The Debian package's binary (`/usr/bin/prometheus`, `apt-get install prometheus`) runs on
127.0.0.1 with `--web.enable-lifecycle` (a config change is a `POST /-/reload`, not a restart)
and a TSDB in a directory of the caller's. The scrape config is built here from the engine's
processes (`scrape_targets`); the production-shaped one is deploy/prometheus/prometheus.yml,
with the same job names, so dashboards and alert rules read the same `job` labels everywhere.

    config = scrape_config(scrape_targets(settings, api_port=8700), alertmanager_url=..., rule_files=[...])
    prometheus = start_prometheus(config, port=9090, data_dir=..., log_dir=...)
    prometheus.wait_scraped()                  # every target up and scraped once
    prometheus.query('floor_engine_tvl_total') # the instant vector, as /api/v1/query answers
    prometheus.stop()
"""

from __future__ import annotations

import glob
import json
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from floor.devnet.processes import StackError, check_with, debian_binary, start_ready, stop_process

if TYPE_CHECKING:
    from floor.config import Settings

INSTALL_HINT = "apt-get install -y prometheus"

# The engine's scrape jobs (deploy/prometheus/prometheus.yml has the same names): which process
# exports what is floor/metrics.py's `source` of each metric.
JOB_EXPORTER = "floor-exporter"  # every floor_engine_* series, from the store and the engine's status
JOB_WORKER = "floor-worker"  # each worker's own process series (floor_basefee_*)
JOB_TEMPORAL_SDK = "temporal-sdk"  # each worker's Temporal SDK metrics (temporal_*), on a port of their own
JOB_API = "floor-api"  # the admin API's floor_api_*
JOB_WATCHDOG = "floor-watchdog"  # floor_watchdog_*
JOBS = (JOB_EXPORTER, JOB_WORKER, JOB_TEMPORAL_SDK, JOB_API, JOB_WATCHDOG)


@dataclass(frozen=True)
class ScrapeTarget:
    """One endpoint Prometheus scrapes: its job name, `host:port`, and path."""

    job: str
    address: str
    metrics_path: str = "/metrics"


def scrape_targets(
    settings: Settings,
    *,
    api_port: int | None = None,
    host: str = "127.0.0.1",
) -> list[ScrapeTarget]:
    """The engine's endpoints as `settings` serves them on `host`: the exporter
    (`metrics.exporter_port`), the worker (`metrics.port`), the worker's Temporal SDK metrics
    (`metrics.temporal_port`), the watchdog (`watchdog.metrics_port`) and, given `api_port`,
    the admin API's /metrics. A port that is not set is not scraped."""
    metrics = settings.metrics
    ports = [
        (JOB_EXPORTER, metrics.exporter_port),
        (JOB_WORKER, metrics.port),
        (JOB_TEMPORAL_SDK, metrics.temporal_port),
        (JOB_WATCHDOG, settings.watchdog.metrics_port),
        (JOB_API, api_port),
    ]
    return [ScrapeTarget(job, f"{host}:{port}") for job, port in ports if port is not None]


def scrape_config(
    targets: Iterable[ScrapeTarget],
    *,
    scrape_interval_s: float = 1,
    evaluation_interval_s: float | None = None,
    alertmanager_url: str | None = None,
    rule_files: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """A Prometheus config (as a dict; `write_config` writes it) scraping `targets`,
    one job per job name, every `scrape_interval_s` (1 s for tests and the demo; production
    scrapes every 15 s). `rule_files`: rule files or globs (`deploy/prometheus/rules/*.yml`),
    evaluated every `evaluation_interval_s` (default: the scrape interval). `alertmanager_url`:
    where firing alerts go (`http://127.0.0.1:9093`)."""
    by_job: dict[tuple[str, str], list[str]] = {}
    for target in targets:
        by_job.setdefault((target.job, target.metrics_path), []).append(target.address)
    interval = _duration(scrape_interval_s)
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": _duration(evaluation_interval_s or scrape_interval_s),
        },
        "scrape_configs": [
            {"job_name": job, "metrics_path": path, "static_configs": [{"targets": addresses}]}
            for (job, path), addresses in by_job.items()
        ],
    }
    if rule_files:
        config["rule_files"] = [str(Path(f).resolve()) for f in rule_files]
    if alertmanager_url:
        url = urlsplit(alertmanager_url)
        if not url.netloc:
            raise ValueError(f"alertmanager_url {alertmanager_url!r} has no host:port")
        alertmanager: dict[str, Any] = {"scheme": url.scheme or "http", "static_configs": [{"targets": [url.netloc]}]}
        if url.path.strip("/"):
            alertmanager["path_prefix"] = url.path
        config["alerting"] = {"alertmanagers": [alertmanager]}
    return config


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    """`config` written to `path` as JSON (which is YAML: Prometheus reads it as it is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def check_config(path: Path) -> None:
    """`promtool check config` (its rule files too); StackError with promtool's words if it fails."""
    check_with([debian_binary("promtool", INSTALL_HINT), "check", "config", str(path)], f"promtool check config {path}")


class PrometheusError(RuntimeError):
    """Prometheus answered a query with an error (a bad expression, a timeout)."""


@dataclass
class Prometheus:
    """A running Prometheus on 127.0.0.1:`port`."""

    process: subprocess.Popen[bytes]
    port: int
    config_path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def api(self, path: str, params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None) -> Any:
        """GET /api/v1/`path`: its `data`, or PrometheusError with Prometheus' own error text."""
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        try:
            body = response.json()
        except ValueError:
            raise PrometheusError(f"{path}: HTTP {response.status_code}: {response.text[:200]}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query now: the result's series (a scalar or string result as one series)."""
        data = self.api("query", {"query": expr})
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result)

    def wait_for(self, expr: str, timeout_s: float = 30) -> list[dict[str, Any]]:
        """Until `expr` has a result (a series scraped, a condition true); that result."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise StackError(f"Prometheus had no result for {expr} within {timeout_s}s")
            time.sleep(0.2)

    def targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets", {"state": "active"})["activeTargets"])

    def wait_scraped(self, jobs: Iterable[str] | None = None, timeout_s: float = 30) -> None:
        """Until every active target (of `jobs`, when given) has been scraped and is up."""
        wanted = set(jobs) if jobs is not None else None
        deadline = time.monotonic() + timeout_s
        while True:
            targets = [t for t in self.targets() if wanted is None or t["labels"].get("job") in wanted]
            seen = {t["labels"].get("job") for t in targets}
            missing = (wanted or set()) - seen
            down = [t for t in targets if t["health"] != "up"]
            if targets and not missing and not down:
                return
            if time.monotonic() > deadline:
                why = [f"{t['scrapeUrl']}: {t['health']} {t['lastError']}".strip() for t in down]
                why += [f"{job}: no target" for job in sorted(missing)]
                raise StackError(f"Prometheus did not scrape every target within {timeout_s}s: {'; '.join(why)}")
            time.sleep(0.2)

    def reload(self, config: Mapping[str, Any] | None = None) -> None:
        """Reread the config file (after writing `config` to it, when given)."""
        if config is not None:
            write_config(self.config_path, config)
        response = requests.post(f"{self.url}/-/reload", timeout=10)
        if response.status_code != 200:
            raise StackError(f"Prometheus refused to reload {self.config_path}: {response.text.strip()}")

    def stop(self) -> None:
        stop_process(self.process)


def start_prometheus(
    config: Path | Mapping[str, Any],
    port: int,
    data_dir: Path,
    log_dir: Path,
    *,
    retention: str = "1d",
    resend_delay_s: float | None = None,
    timeout_s: float = 30,
) -> Prometheus:
    """Prometheus on 127.0.0.1:`port` with `config` (a file, or a dict written to
    `data_dir`/prometheus.yml), its TSDB in `data_dir`, its log in `log_dir`/prometheus.log;
    returned once `/-/ready` answers. Stop it with `.stop()`. `resend_delay_s`: how soon a
    firing or resolved alert is sent to Alertmanager again (Prometheus' default: a minute)."""
    binary = debian_binary("prometheus", INSTALL_HINT)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    config_path = config if isinstance(config, Path) else write_config(data_dir / "prometheus.yml", config)
    log_path = log_dir / "prometheus.log"
    args = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={data_dir / 'tsdb'}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--log.level=warn",
        *([f"--rules.alert.resend-delay={resend_delay_s}s"] if resend_delay_s is not None else []),
    ]
    process = start_ready(args, f"http://127.0.0.1:{port}", log_path, "Prometheus", timeout_s)
    return Prometheus(process, port, config_path, log_path)


def rule_files_in(directory: Path) -> list[Path]:
    """The alert rule files in `directory` (its *.yml), sorted; none when it does not exist."""
    return sorted(Path(p) for p in glob.glob(str(directory / "*.yml")))


def _duration(seconds: float) -> str:
    """Seconds as a Prometheus duration: whole seconds as `5s`, less as milliseconds."""
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"
