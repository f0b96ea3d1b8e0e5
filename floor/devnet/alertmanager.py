"""Alertmanager on loopback for the demo and the tests, and its config rendered for where it runs.

deploy/alertmanager/alertmanager.yml is the one config: routes by severity, grouping,
inhibitions, receivers and templates. `render_config` gives the same config with other
destinations (the SMTP relay, the recipients, Slack's webhook, PagerDuty's endpoint and key)
and, for tests, shorter group and repeat intervals; nothing else changes. A deployment renders
it from the environment (`Destinations.from_env`):

    python -m floor.devnet.alertmanager render --out /etc/alertmanager/alertmanager.yml \\
        --templates-dir /etc/alertmanager/templates

The Debian package's binary (`/usr/bin/prometheus-alertmanager`, `apt-get install
prometheus-alertmanager`) runs on 127.0.0.1 with clustering off and its silences and
notification log in a directory of the caller's:

    config = render_config(Destinations.loopback(smtp_port=..., slack_url=..., pagerduty_url=...),
                           Timing(group_wait_s=1, group_interval_s=1, repeat_interval_s=5))
    alertmanager = start_alertmanager(config, port=9093, data_dir=..., log_dir=...)
    alertmanager.alerts()          # GET /api/v2/alerts
    alertmanager.stop()
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import requests
import yaml

from floor.devnet.processes import StackError, check_with, debian_binary, start_ready, stop_process

INSTALL_HINT = "apt-get install -y prometheus-alertmanager"

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "alertmanager"
DEPLOY_CONFIG = DEPLOY_DIR / "alertmanager.yml"
TEMPLATES_DIR = DEPLOY_DIR / "templates"

# The environment a deployment renders its config from (`Destinations.from_env`).
ENV_PREFIX = "FLOOR_ALERT_"
SECRET_FILES = {  # under FLOOR_ALERT_SECRETS_DIR (default /etc/alertmanager/secrets)
    "smtp_password": "smtp_auth_password_file",
    "slack_webhook_url": "slack_api_url_file",
    "pagerduty_routing_key": "routing_key_file",
}


@dataclass(frozen=True)
class Destinations:
    """Where notifications go. A secret is either given inline (tests, the demo) or as the path
    of a file holding it (production: the file is mounted from the deployment's secret store,
    and Alertmanager reads it when it sends)."""

    smtp_smarthost: str  # host:port of the SMTP relay
    smtp_from: str
    email_to: str  # one address, or several separated by commas
    slack_channel: str
    pagerduty_url: str  # Events API v2: https://events.pagerduty.com/v2/enqueue
    smtp_require_tls: bool = True
    smtp_auth_username: str | None = None  # None: no SMTP authentication
    smtp_auth_password_file: str | None = None
    slack_api_url: str | None = None
    slack_api_url_file: str | None = None
    pagerduty_routing_key: str | None = None
    pagerduty_routing_key_file: str | None = None

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Destinations:
        """The destinations a rendered config (deploy/alertmanager/alertmanager.yml) names."""
        glob = config.get("global", {})
        receivers = config.get("receivers", [])
        emails = [c for r in receivers for c in r.get("email_configs", [])]
        slacks = [c for r in receivers for c in r.get("slack_configs", [])]
        pagers = [c for r in receivers for c in r.get("pagerduty_configs", [])]
        return cls(
            smtp_smarthost=glob["smtp_smarthost"],
            smtp_from=glob["smtp_from"],
            email_to=emails[0]["to"],
            slack_channel=slacks[0]["channel"],
            pagerduty_url=glob["pagerduty_url"],
            smtp_require_tls=bool(glob.get("smtp_require_tls", True)),
            smtp_auth_username=glob.get("smtp_auth_username"),
            smtp_auth_password_file=glob.get("smtp_auth_password_file"),
            slack_api_url=glob.get("slack_api_url"),
            slack_api_url_file=glob.get("slack_api_url_file"),
            pagerduty_routing_key=pagers[0].get("routing_key"),
            pagerduty_routing_key_file=pagers[0].get("routing_key_file"),
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, base: Path = DEPLOY_CONFIG) -> Destinations:
        """deploy/alertmanager/alertmanager.yml's destinations, each replaced by its FLOOR_ALERT_*
        variable when set: SMTP_SMARTHOST, SMTP_FROM, SMTP_USERNAME, SMTP_REQUIRE_TLS (true or
        false), EMAIL_TO, SLACK_CHANNEL, PAGERDUTY_URL; SECRETS_DIR moves the three secret files
        (smtp_password, slack_webhook_url, pagerduty_routing_key) to another directory."""
        env = os.environ if environ is None else environ
        found = cls.of(load_config(base))

        def var(name: str, default: str | None) -> str | None:
            return env.get(ENV_PREFIX + name, default)

        secrets = var("SECRETS_DIR", None)
        files = {}
        if secrets is not None:
            files = {attr: str(Path(secrets) / name) for name, attr in SECRET_FILES.items()}
        require_tls = (var("SMTP_REQUIRE_TLS", "true" if found.smtp_require_tls else "false") or "").lower()
        if require_tls not in ("true", "false"):
            raise ValueError(f"{ENV_PREFIX}SMTP_REQUIRE_TLS={require_tls!r}: true or false")
        return replace(
            found,
            smtp_smarthost=var("SMTP_SMARTHOST", found.smtp_smarthost) or found.smtp_smarthost,
            smtp_from=var("SMTP_FROM", found.smtp_from) or found.smtp_from,
            smtp_auth_username=var("SMTP_USERNAME", found.smtp_auth_username) or None,
            smtp_require_tls=require_tls == "true",
            email_to=var("EMAIL_TO", found.email_to) or found.email_to,
            slack_channel=var("SLACK_CHANNEL", found.slack_channel) or found.slack_channel,
            pagerduty_url=var("PAGERDUTY_URL", found.pagerduty_url) or found.pagerduty_url,
            smtp_auth_password_file=files.get("smtp_auth_password_file", found.smtp_auth_password_file),
            slack_api_url_file=files.get("slack_api_url_file", found.slack_api_url_file),
            pagerduty_routing_key_file=files.get("routing_key_file", found.pagerduty_routing_key_file),
        )

    @classmethod
    def loopback(
        cls,
        *,
        smtp_port: int,
        slack_url: str,
        pagerduty_url: str,
        pagerduty_routing_key: str = "floor-local-routing-key",
        email_to: str = "oncall@floor.local",
        host: str = "127.0.0.1",
    ) -> Destinations:
        """Local sinks: an SMTP server without TLS or authentication, a Slack-style webhook and
        a PagerDuty-style endpoint, each on `host`."""
        return cls(
            smtp_smarthost=f"{host}:{smtp_port}",
            smtp_from="floor-engine@floor.local",
            email_to=email_to,
            slack_channel="#floor-alerts",
            pagerduty_url=pagerduty_url,
            smtp_require_tls=False,
            slack_api_url=slack_url,
            pagerduty_routing_key=pagerduty_routing_key,
        )


@dataclass(frozen=True)
class Timing:
    """Group and repeat intervals given to the root route and every route under it (tests
    shorten them to seconds; production keeps the file's)."""

    group_wait_s: float
    group_interval_s: float
    repeat_interval_s: float


def load_config(path: Path = DEPLOY_CONFIG) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise StackError(f"{path}: not an Alertmanager config (a mapping)")
    return loaded


def render_config(
    destinations: Destinations | None = None,
    timing: Timing | None = None,
    *,
    templates_dir: Path = TEMPLATES_DIR,
    base: Path = DEPLOY_CONFIG,
) -> dict[str, Any]:
    """`base` (deploy/alertmanager/alertmanager.yml) with `destinations` (default: the file's
    own), `timing` (default: the file's) and its templates read from `templates_dir`."""
    config = copy.deepcopy(load_config(base))
    dest = destinations or Destinations.of(config)
    glob = config.setdefault("global", {})
    glob.update(
        smtp_smarthost=dest.smtp_smarthost,
        smtp_from=dest.smtp_from,
        smtp_hello=dest.smtp_smarthost.rsplit(":", 1)[0],
        smtp_require_tls=dest.smtp_require_tls,
        pagerduty_url=dest.pagerduty_url,
    )
    _secret(glob, "smtp_auth_username", dest.smtp_auth_username, None)
    _secret(glob, "smtp_auth_password", None, dest.smtp_auth_password_file if dest.smtp_auth_username else None)
    _secret(glob, "slack_api_url", dest.slack_api_url, dest.slack_api_url_file)
    config["templates"] = [str(templates_dir / Path(t).name) for t in config.get("templates", [])]
    for receiver in config.get("receivers", []):
        for email in receiver.get("email_configs", []):
            email["to"] = dest.email_to
        for slack in receiver.get("slack_configs", []):
            slack["channel"] = dest.slack_channel
        for pager in receiver.get("pagerduty_configs", []):
            _secret(pager, "routing_key", dest.pagerduty_routing_key, dest.pagerduty_routing_key_file)
    if timing is not None:
        for route in _routes(config["route"]):
            route["group_wait"] = _duration(timing.group_wait_s)
            route["group_interval"] = _duration(timing.group_interval_s)
            route["repeat_interval"] = _duration(timing.repeat_interval_s)
    return config


def _secret(section: dict[str, Any], key: str, inline: str | None, file: str | None) -> None:
    """Set `key` inline, or `key`_file, dropping the other (Alertmanager refuses both)."""
    section.pop(key, None)
    section.pop(f"{key}_file", None)
    if inline is not None:
        section[key] = inline
    elif file is not None:
        section[f"{key}_file"] = file


def _routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from _routes(child)


def _duration(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False, width=120), encoding="utf-8")
    return path


def check_config(path: Path) -> None:
    """`amtool check-config` (templates too); StackError with amtool's words if it fails."""
    check_with([debian_binary("amtool", INSTALL_HINT), "check-config", str(path)], f"amtool check-config {path}")


class AlertmanagerError(RuntimeError):
    """Alertmanager refused a request (its API's error text)."""


@dataclass
class Alertmanager:
    """A running Alertmanager on 127.0.0.1:`port`."""

    process: subprocess.Popen[bytes]
    port: int
    config_path: Path
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def api(self, method: str, path: str, body: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """`method` /api/v2/`path`: the decoded answer, or AlertmanagerError with its text."""
        response = self.session.request(method, f"{self.url}/api/v2/{path}", json=body, params=params, timeout=10)
        if response.status_code >= 400:
            raise AlertmanagerError(f"{method} {path}: HTTP {response.status_code}: {response.text.strip()[:300]}")
        return response.json() if response.content else None

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "alerts"))

    def silences(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "silences"))

    def push(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Post alerts as Prometheus does (labels, annotations, startsAt, endsAt)."""
        self.api("POST", "alerts", list(alerts))

    def reload(self, config: Mapping[str, Any] | None = None) -> None:
        """Reread the config file (after writing `config` to it, when given)."""
        if config is not None:
            write_config(self.config_path, config)
        response = self.session.post(f"{self.url}/-/reload", timeout=10)
        if response.status_code != 200:
            raise StackError(f"Alertmanager refused to reload {self.config_path}: {response.text.strip()}")

    def stop(self) -> None:
        self.session.close()
        stop_process(self.process)


def start_alertmanager(
    config: Path | Mapping[str, Any],
    port: int,
    data_dir: Path,
    log_dir: Path,
    *,
    timeout_s: float = 30,
) -> Alertmanager:
    """Alertmanager on 127.0.0.1:`port` with `config` (a file, or a dict written to
    `data_dir`/alertmanager.yml and checked by amtool), clustering off, its silences and
    notification log in `data_dir`, its log in `log_dir`/alertmanager.log; returned once
    `/-/ready` answers. Stop it with `.stop()`."""
    binary = debian_binary("prometheus-alertmanager", INSTALL_HINT)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(config, Path):
        config_path = config
    else:
        config_path = write_config(data_dir / "alertmanager.yml", config)
        check_config(config_path)
    log_path = log_dir / "alertmanager.log"
    url = f"http://127.0.0.1:{port}"
    args = [
        binary,
        f"--config.file={config_path}",
        f"--storage.path={data_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url={url}",
        "--cluster.listen-address=",  # one instance: no gossip port, no settling wait
        "--log.level=warn",
    ]
    process = start_ready(args, url, log_path, "Alertmanager", timeout_s)
    return Alertmanager(process, port, config_path, log_path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m floor.devnet.alertmanager", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser(
        "render", help="write deploy/alertmanager/alertmanager.yml with the destinations of $FLOOR_ALERT_*"
    )
    render.add_argument("--out", type=Path, help="the file to write (default: stdout)")
    render.add_argument("--templates-dir", type=Path, default=TEMPLATES_DIR, help="where the templates are read")
    args = parser.parse_args(argv)
    config = render_config(Destinations.from_env(), templates_dir=args.templates_dir)
    if args.out is None:
        sys.stdout.write(yaml.safe_dump(config, sort_keys=False, width=120))
        return 0
    check_config(write_config(args.out, config))
    print(f"wrote {args.out} (amtool check-config: SUCCESS)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
