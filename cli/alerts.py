"""`floor alerts`: the alerts Alertmanager holds (Prometheus fires them from the engine's metrics,
deploy/prometheus/rules/), acknowledged and unacknowledged through Alertmanager's API v2.

An acknowledgement is an Alertmanager silence matching exactly the alert's labels, with who
acknowledged it and why: it mutes the alert on every receiver (its repeats too) until it ends
(`--for`, default 4h) or `floor alerts unack` expires it. A silence also mutes the resolved
notification: unack once the condition clears (Prometheus re-sends a resolved alert for 15
minutes, so the resolved notification still goes out). `floor alerts list` shows such
acknowledgements, whose alert no longer fires, apart.

An alert's ID is its Alertmanager fingerprint (16 hex digits; a unique prefix will do), the
same in every notification. Alertmanager's URL: $FLOOR_ALERTMANAGER_URL, else the config's
`metrics.alertmanager_url`.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.options import KEY_ENV, ConfigOpt, JsonOpt, PasswordFileOpt, command, has_key, settings_from
from floor.errors import FloorError

alerts_app = typer.Typer(help="Alerts from Alertmanager: list them, acknowledge one (a silence), unacknowledge it.")

URL_ENV = "FLOOR_ALERTMANAGER_URL"
TIMEOUT_S = 5
MIN_PREFIX = 4  # hex digits of an alert's fingerprint enough to name it
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}

AuthorOpt = Annotated[
    str | None,
    typer.Option("--by", help="who acknowledges (default: your key's address, else cli:<your OS user>)"),
]
NamingKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key", help=f"your encrypted keystore: its address names you (default: ${KEY_ENV})", show_default=False
    ),
]
AlertIdArg = Annotated[
    str, typer.Argument(help="the alert's ID (its fingerprint, from `floor alerts list`)", show_default=False)
]


class AlertsError(FloorError):
    """Alertmanager does not answer or refuses, or no alert has the ID given: one line, exit 1."""


# ---------------------------------------------------------------------------- Alertmanager's API


class AlertmanagerApi:
    """The few calls of Alertmanager's API v2 the commands make."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        import requests

        try:
            response = requests.request(method, f"{self.url}/api/v2/{path}", json=body, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise AlertsError(f"Alertmanager at {self.url} does not answer ({_reason(exc)})") from None
        if response.status_code >= 400:
            text = " ".join(response.text.split())[:300]
            raise AlertsError(f"Alertmanager at {self.url} refused {method} {path}: HTTP {response.status_code} {text}")
        try:
            return response.json() if response.content else None
        except ValueError:
            raise AlertsError(f"Alertmanager at {self.url} answered {method} {path} with no JSON") from None

    def alerts(self) -> list[dict]:
        return list(self.call("GET", "alerts"))

    def silences(self) -> list[dict]:
        return list(self.call("GET", "silences"))

    def silence(self, labels: dict[str, str], starts: datetime, ends: datetime, by: str, comment: str) -> str:
        body = {
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(labels.items())],
            "startsAt": starts.isoformat(),
            "endsAt": ends.isoformat(),
            "createdBy": by,
            "comment": comment,
        }
        return str(self.call("POST", "silences", body)["silenceID"])

    def expire(self, silence_id: str) -> None:
        self.call("DELETE", f"silence/{silence_id}")


def _reason(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.ConnectionError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {TIMEOUT_S}s"
    return type(exc).__name__


def alertmanager_url(config: Path | None) -> str:
    from cli.amounts import InputError

    url = os.environ.get(URL_ENV) or settings_from(config).metrics.alertmanager_url
    if not url:
        raise InputError(f"no Alertmanager: set metrics.alertmanager_url in the config, or ${URL_ENV}")
    if not url.startswith(("http://", "https://")):
        raise InputError(f"Alertmanager URL {url!r}: give http://host:port")
    return url


# ---------------------------------------------------------------------------- alerts and silences


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (prometheus/common's FNV-1a 64 over the sorted
    names and values, each followed by a 0xff byte): an acknowledged alert's ID, computed from
    its silence's matchers once the alert itself is gone."""
    digest = 14695981039346656037
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                digest = ((digest ^ byte) * 1099511628211) % 2**64
    return f"{digest:016x}"


def when(text: str | None) -> str | None:
    """Alertmanager's RFC 3339 time (nanoseconds, Z) as ISO 8601 to the second, with its zone."""
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(UTC).isoformat(timespec="seconds")


def matcher_text(m: dict) -> str:
    op = (
        ("=" if m.get("isEqual", True) else "!=")
        if not m.get("isRegex")
        else ("=~" if m.get("isEqual", True) else "!~")
    )
    return f"{m['name']}{op}{json.dumps(m['value'])}"


def acked_labels(silence: dict) -> dict[str, str] | None:
    """The label set a silence matches exactly (every matcher an equality, alertname among
    them: what `floor alerts ack` creates); None for any other silence."""
    matchers = silence.get("matchers", [])
    if not matchers or any(m.get("isRegex") or not m.get("isEqual", True) for m in matchers):
        return None
    labels = {m["name"]: m["value"] for m in matchers}
    return labels if "alertname" in labels and len(labels) == len(matchers) else None


def silence_row(silence: dict) -> dict:
    labels = acked_labels(silence)
    return {
        "id": silence["id"],
        "state": silence["status"]["state"],
        "created_by": silence.get("createdBy", ""),
        "comment": silence.get("comment", ""),
        "starts_at": when(silence.get("startsAt")),
        "ends_at": when(silence.get("endsAt")),
        "matchers": [matcher_text(m) for m in silence.get("matchers", [])],
        "alert_id": None if labels is None else fingerprint(labels),
    }


def alert_state(alert: dict) -> str:
    status = alert.get("status", {})
    if status.get("silencedBy"):
        return "acknowledged"
    if status.get("inhibitedBy"):
        return "inhibited"
    return "firing" if status.get("state") == "active" else "unprocessed"


def alert_row(alert: dict, silences: dict[str, dict]) -> dict:
    labels = dict(alert.get("labels", {}))
    notes = alert.get("annotations", {})
    status = alert.get("status", {})
    return {
        "id": alert["fingerprint"],
        "name": labels.get("alertname", ""),
        "severity": labels.get("severity"),
        "state": alert_state(alert),
        "summary": notes.get("summary", ""),
        "description": notes.get("description", ""),
        "runbook_url": notes.get("runbook_url"),
        "labels": labels,
        "starts_at": when(alert.get("startsAt")),
        "receivers": sorted(r["name"] for r in alert.get("receivers", [])),
        "acks": [silence_row(silences[s]) for s in status.get("silencedBy", []) if s in silences],
        "inhibited_by": list(status.get("inhibitedBy", [])),
    }


SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def listing(alerts: list[dict], silences: list[dict]) -> dict:
    """What `floor alerts list --json` prints: the alerts Alertmanager holds (most severe first,
    then oldest), each with the acknowledgements (silences) muting it; then the active
    silences that mute none of them (an acknowledged alert that stopped firing: unack it so
    its resolved notification goes out)."""
    by_id = {s["id"]: s for s in silences}
    rows = [alert_row(a, by_id) for a in alerts]
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r["severity"] or "", 3), r["starts_at"] or "", r["name"], r["id"]))
    used = {ack["id"] for r in rows for ack in r["acks"]}
    idle = [silence_row(s) for s in silences if s["status"]["state"] == "active" and s["id"] not in used]
    idle.sort(key=lambda s: (s["starts_at"] or "", s["id"]))
    return {"alerts": rows, "silences": idle}


def find_alert(alerts: list[dict], alert_id: str) -> dict:
    from cli.amounts import InputError

    wanted = alert_id.strip().lower()
    if len(wanted) < MIN_PREFIX or not re.fullmatch(r"[0-9a-f]+", wanted):
        raise InputError(f"alert ID {alert_id!r}: give its fingerprint (16 hex digits, or at least {MIN_PREFIX})")
    found = [a for a in alerts if a["fingerprint"].startswith(wanted)]
    if not found:
        raise AlertsError(f"no alert {alert_id} in Alertmanager (`floor alerts list` shows the alerts it holds)")
    if len(found) > 1:
        raise AlertsError(f"alert ID {alert_id} is ambiguous: {', '.join(sorted(a['fingerprint'] for a in found))}")
    return found[0]


def duration(text: str) -> timedelta:
    """`--for`: e.g. 30m, 4h, 1d, 1h30m."""
    from cli.amounts import InputError

    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise InputError(f"--for {text!r}: a duration such as 30m, 4h, 1d or 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if not 60 <= seconds <= 30 * 86_400:
        raise InputError(f"--for {text!r}: from 1m to 30d")
    return timedelta(seconds=seconds)


def author(by: str | None, key: Path | None, password_file: Path | None) -> str:
    """Who acknowledges: --by, else the key's address (read from the keystore; decrypted only
    when the file does not say), else cli:<your OS user>."""
    from cli.options import request

    if by:
        return by
    if not has_key(key):
        return str(request(None, "")["by"])
    from eth_utils.address import to_checksum_address

    from cli.options import command_key

    path = key or Path(os.environ[KEY_ENV])
    try:
        address = json.loads(path.read_text(encoding="utf-8")).get("address")
    except (OSError, ValueError, AttributeError):
        address = None
    if isinstance(address, str) and re.fullmatch(r"(0x)?[0-9a-fA-F]{40}", address):
        return to_checksum_address(address if address.startswith("0x") else "0x" + address)
    return str(command_key(key, password_file).address)


# ---------------------------------------------------------------------------- the commands


def ack_line(ack: dict) -> str:
    comment = f": {ack['comment']}" if ack["comment"] else ""
    return f"by {ack['created_by']} until {ack['ends_at']}{comment} (silence {ack['id']})"


@alerts_app.command("list")
@command
def alerts_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> int:
    """The alerts Alertmanager holds and who acknowledged them.

    Most severe first: firing, acknowledged (by whom, why, until when) or inhibited; then the
    acknowledgements whose alert no longer fires."""
    from rich.table import Table

    from cli.render import Output

    api = AlertmanagerApi(alertmanager_url(config))
    data = {"alertmanager_url": api.url, **listing(api.alerts(), api.silences())}
    out = Output(as_json)
    if as_json:
        out.json(data)
        return 0
    if not data["alerts"]:
        out.line(f"no alert in Alertmanager ({escape(api.url)})")
    else:
        table = Table(title=f"Alerts ({api.url})", title_justify="left")
        for name in ("id", "severity", "alert", "state", "since", "summary"):
            table.add_column(name)
        for row in data["alerts"]:
            state = row["state"]
            for ack in row["acks"]:
                state += f"\n{ack_line(ack)}"  # who, why, until when
            table.add_row(
                row["id"],
                escape(row["severity"] or "-"),
                escape(row["name"]),
                escape(state),
                row["starts_at"] or "-",
                escape(row["summary"]),
            )
        out.console.print(table)
    for silence in data["silences"]:
        what = f"alert {silence['alert_id']}" if silence["alert_id"] else ", ".join(silence["matchers"])
        again = silence["alert_id"] or silence["id"]
        out.line(escape(f"no longer firing: {what}, acknowledged {ack_line(silence)}; `floor alerts unack {again}`"))
    return 0


@alerts_app.command("ack")
@command
def alerts_ack(
    alert_id: AlertIdArg,
    comment: Annotated[str, typer.Option("--comment", help="why, and what you are doing about it", show_default=False)],
    for_: Annotated[
        str, typer.Option("--for", help="how long it stays acknowledged at most (e.g. 30m, 4h, 1d)")
    ] = "4h",
    by: AuthorOpt = None,
    key: NamingKeyOpt = None,
    password_file: PasswordFileOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Acknowledge an alert: an Alertmanager silence of it, with your name and comment.

    The silence matches exactly the alert's labels; its author is --by, else your key's
    address, else cli:<your OS user>. The alert's notifications stop on every receiver until
    `floor alerts unack` or --for ends. Prints the silence's id."""
    from cli.amounts import InputError
    from cli.render import Output

    if not comment.strip():
        raise InputError("--comment: say why (it is shown with the acknowledgement)")
    length = duration(for_)
    api = AlertmanagerApi(alertmanager_url(config))
    alert = find_alert(api.alerts(), alert_id)
    silences = {s["id"]: s for s in api.silences()}
    for existing in alert["status"].get("silencedBy", []):
        if existing in silences and acked_labels(silences[existing]) == alert["labels"]:
            row = silence_row(silences[existing])
            raise AlertsError(f"alert {alert['fingerprint']} is already acknowledged {ack_line(row)}: unack it first")
    who = author(by, key, password_file)
    now = datetime.now(UTC)
    silence_id = api.silence(alert["labels"], now, now + length, who, comment.strip())
    ends = (now + length).isoformat(timespec="seconds")
    name = alert["labels"].get("alertname", "")
    out = Output(as_json)
    if as_json:
        out.json(
            {
                "silence_id": silence_id,
                "alert_id": alert["fingerprint"],
                "alert": name,
                "created_by": who,
                "comment": comment.strip(),
                "ends_at": ends,
            }
        )
    out.line(escape(f"acknowledged {name} ({alert['fingerprint']}) by {who} until {ends}: silence {silence_id}"))
    return 0


@alerts_app.command("unack")
@command
def alerts_unack(
    target: Annotated[
        str,
        typer.Argument(
            help="the alert's ID (its fingerprint), or the silence's id `floor alerts list` shows", show_default=False
        ),
    ],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> int:
    """Take an acknowledgement back: expire its silence.

    Give the silence's id, or the alert's ID (every active silence muting it is expired, also
    once the alert no longer fires). Its notifications go out again, the resolved one included."""
    from cli.render import Output

    api = AlertmanagerApi(alertmanager_url(config))
    silences = [s for s in api.silences() if s["status"]["state"] in ("active", "pending")]
    wanted = target.strip().lower()
    chosen = [s for s in silences if s["id"].lower() == wanted]
    alert_id = None
    if not chosen:
        alerts = api.alerts()
        alert = next((a for a in alerts if a["fingerprint"] == wanted), None)
        if alert is None and len(wanted) >= MIN_PREFIX and re.fullmatch(r"[0-9a-f]+", wanted):
            matches = [a for a in alerts if a["fingerprint"].startswith(wanted)]
            alert = matches[0] if len(matches) == 1 else None
        if alert is not None:
            alert_id = alert["fingerprint"]
            muting = set(alert["status"].get("silencedBy", []))
            chosen = [s for s in silences if s["id"] in muting]
        else:  # an acknowledged alert that no longer fires: its ack's matchers name it
            chosen = [s for s in silences if (labels := acked_labels(s)) and fingerprint(labels).startswith(wanted)]
            alert_id = fingerprint(acked_labels(chosen[0]) or {}) if chosen else None
        if not chosen:
            raise AlertsError(f"nothing to unack: no active silence or acknowledged alert {target}")
    for silence in chosen:
        api.expire(silence["id"])
    rows = [{**silence_row(s), "state": "expired"} for s in chosen]
    out = Output(as_json)
    if as_json:
        out.json({"alert_id": alert_id, "expired": rows})
    for row in rows:
        what = f"alert {row['alert_id']}" if row["alert_id"] else ", ".join(row["matchers"])
        out.line(escape(f"unacknowledged {what}: expired silence {row['id']} (by {row['created_by']})"))
    return 0
