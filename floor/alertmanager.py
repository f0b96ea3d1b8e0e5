"""Alertmanager's API v2 as the doors use it: the alerts it holds, the silences that
acknowledge them, acknowledging one. An acknowledgement is a silence matching exactly the
alert's labels, with who acknowledged it and why (`floor alerts`, the dashboard's alerts page)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from floor.errors import FloorError

TIMEOUT_S = 5
MIN_PREFIX = 4  # hex digits of an alert's fingerprint enough to name it
_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


class AlertInputError(ValueError):
    """An alert ID or a duration that cannot be: one line, nothing sent (the CLI's exit 2)."""


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

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "alerts"))

    def silences(self) -> list[dict[str, Any]]:
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


def matcher_text(m: dict[str, Any]) -> str:
    op = (
        ("=" if m.get("isEqual", True) else "!=")
        if not m.get("isRegex")
        else ("=~" if m.get("isEqual", True) else "!~")
    )
    return f"{m['name']}{op}{json.dumps(m['value'])}"


def acked_labels(silence: dict[str, Any]) -> dict[str, str] | None:
    """The label set a silence matches exactly (every matcher an equality, alertname among
    them: what `floor alerts ack` creates); None for any other silence."""
    matchers = silence.get("matchers", [])
    if not matchers or any(m.get("isRegex") or not m.get("isEqual", True) for m in matchers):
        return None
    labels = {m["name"]: m["value"] for m in matchers}
    return labels if "alertname" in labels and len(labels) == len(matchers) else None


def silence_row(silence: dict[str, Any]) -> dict[str, Any]:
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


def alert_state(alert: dict[str, Any]) -> str:
    status = alert.get("status", {})
    if status.get("silencedBy"):
        return "acknowledged"
    if status.get("inhibitedBy"):
        return "inhibited"
    return "firing" if status.get("state") == "active" else "unprocessed"


def alert_row(alert: dict[str, Any], silences: dict[str, dict[str, Any]]) -> dict[str, Any]:
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


def listing(alerts: list[dict[str, Any]], silences: list[dict[str, Any]]) -> dict[str, Any]:
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


def find_alert(alerts: list[dict[str, Any]], alert_id: str) -> dict[str, Any]:
    wanted = alert_id.strip().lower()
    if len(wanted) < MIN_PREFIX or not re.fullmatch(r"[0-9a-f]+", wanted):
        raise AlertInputError(f"alert ID {alert_id!r}: give its fingerprint (16 hex digits, or at least {MIN_PREFIX})")
    found = [a for a in alerts if a["fingerprint"].startswith(wanted)]
    if not found:
        raise AlertsError(f"no alert {alert_id} in Alertmanager (`floor alerts list` shows the alerts it holds)")
    if len(found) > 1:
        raise AlertsError(f"alert ID {alert_id} is ambiguous: {', '.join(sorted(a['fingerprint'] for a in found))}")
    return found[0]


def duration(text: str) -> timedelta:
    """`--for`: e.g. 30m, 4h, 1d, 1h30m."""
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise AlertInputError(f"--for {text!r}: a duration such as 30m, 4h, 1d or 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if not 60 <= seconds <= 30 * 86_400:
        raise AlertInputError(f"--for {text!r}: from 1m to 30d")
    return timedelta(seconds=seconds)


def ack_line(ack: dict[str, Any]) -> str:
    comment = f": {ack['comment']}" if ack["comment"] else ""
    return f"by {ack['created_by']} until {ack['ends_at']}{comment} (silence {ack['id']})"


def acknowledge(
    api: AlertmanagerApi, alert_id: str, who: Callable[[], str], comment: str, length: timedelta
) -> dict[str, Any]:
    """Silence the alert `alert_id` names for `length`, by `who()` (asked once the alert is
    found), with `comment`: what `floor alerts ack` and the dashboard's acknowledge do."""
    alert = find_alert(api.alerts(), alert_id)
    silences = {s["id"]: s for s in api.silences()}
    for existing in alert["status"].get("silencedBy", []):
        if existing in silences and acked_labels(silences[existing]) == alert["labels"]:
            row = silence_row(silences[existing])
            raise AlertsError(f"alert {alert['fingerprint']} is already acknowledged {ack_line(row)}: unack it first")
    by = who()
    now = datetime.now(UTC)
    silence_id = api.silence(alert["labels"], now, now + length, by, comment.strip())
    return {
        "silence_id": silence_id,
        "alert_id": alert["fingerprint"],
        "alert": alert["labels"].get("alertname", ""),
        "created_by": by,
        "comment": comment.strip(),
        "ends_at": (now + length).isoformat(timespec="seconds"),
    }


def acked_line(acked: dict[str, Any]) -> str:
    return (
        f"acknowledged {acked['alert']} ({acked['alert_id']}) by {acked['created_by']} until {acked['ends_at']}: "
        f"silence {acked['silence_id']}"
    )
