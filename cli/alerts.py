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
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from cli.options import KEY_ENV, ConfigOpt, JsonOpt, PasswordFileOpt, command, has_key, settings_from
from floor.alertmanager import (
    MIN_PREFIX,
    AlertmanagerApi,
    AlertsError,
    ack_line,
    acked_labels,
    acked_line,
    acknowledge,
    duration,
    fingerprint,
    listing,
    silence_row,
)

alerts_app = typer.Typer(help="Alerts from Alertmanager: list them, acknowledge one (a silence), unacknowledge it.")

URL_ENV = "FLOOR_ALERTMANAGER_URL"

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


def alertmanager_url(config: Path | None) -> str:
    from cli.amounts import InputError

    url = os.environ.get(URL_ENV) or settings_from(config).metrics.alertmanager_url
    if not url:
        raise InputError(f"no Alertmanager: set metrics.alertmanager_url in the config, or ${URL_ENV}")
    if not url.startswith(("http://", "https://")):
        raise InputError(f"Alertmanager URL {url!r}: give http://host:port")
    return url


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
    acked = acknowledge(api, alert_id, lambda: author(by, key, password_file), comment, length)
    out = Output(as_json)
    if as_json:
        out.json(acked)
    out.line(escape(acked_line(acked)))
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
