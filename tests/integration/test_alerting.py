"""Alerting end to end with the real binaries: the engine paused past a threshold -> floor-exporter
-> Prometheus' rule -> Alertmanager -> an SMTP sink (aiosmtpd), a Slack-style webhook and a
PagerDuty-style endpoint on loopback; `floor alerts ack` silences it (no repeat), the engine
resumed and the acknowledgement taken back deliver the resolved notification to each.

The rules are deploy/prometheus/rules/floor-engine.yml with one change: FloorEnginePausedLong
fires past PAUSED_ALERT_S seconds instead of 30 minutes. Alertmanager's config is
deploy/alertmanager/alertmanager.yml rendered with the sinks' addresses and group and repeat
intervals of seconds (floor.devnet.alertmanager.render_config). Prometheus scrapes and
evaluates every second."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller

from activities.deps import Deps
from cli import outputs
from client import ensure_engine
from floor.config import MetricsConfig, StoreConfig
from floor.devnet.alertmanager import Destinations, Timing, render_config, start_alertmanager
from floor.devnet.processes import free_port
from floor.devnet.prometheus import JOB_EXPORTER, ScrapeTarget, scrape_config, start_prometheus
from floor.store import Store
from tests.integration.engine_helpers import engine_settings, wait_for
from tests.json_schema import cli_json
from workers.exporter import serve
from workers.temporal import build_worker

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules" / "floor-engine.yml"
PAUSED_ALERT_S = 3  # FloorEnginePausedLong's threshold here (production: 1800)
REPEAT_S = 4  # every route's repeat_interval here (production: 1h for critical)
ALERT = "FloorEnginePausedLong"
ROUTING_KEY = "floor-test-routing-key"


# ---------------------------------------------------------------------------- the sinks


@dataclass
class Received:
    at: float
    body: dict


@dataclass
class Sinks:
    """What reached each receiver, in order."""

    slack: list[Received] = field(default_factory=list)
    pagerduty: list[Received] = field(default_factory=list)
    email: list[Received] = field(default_factory=list)  # body: subject, from, to, text
    webhook_url: str = ""
    smtp_port: int = 0

    def of(self, alertname: str) -> dict[str, list[Received]]:
        return {
            "slack": [r for r in self.slack if alertname in r.body["attachments"][0]["title"]],
            "pagerduty": [r for r in self.pagerduty if alertname in r.body["payload"]["summary"]],
            "email": [r for r in self.email if alertname in r.body["subject"]],
        }


class WebhookSink(ThreadingHTTPServer):
    """A Slack incoming webhook at /slack and PagerDuty's Events API v2 at /pagerduty, both answering
    as the real ones do (Slack "ok", PagerDuty 202 with a dedup_key)."""

    def __init__(self, sinks: Sinks):
        self.sinks = sinks

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/slack":
                    sinks.slack.append(Received(time.monotonic(), body))
                    self.answer(200, b"ok", "text/plain")
                elif self.path == "/pagerduty":
                    sinks.pagerduty.append(Received(time.monotonic(), body))
                    answer = {"status": "success", "message": "Event processed", "dedup_key": body.get("dedup_key")}
                    self.answer(202, json.dumps(answer).encode(), "application/json")
                else:
                    self.answer(404, b"no such endpoint", "text/plain")

            def answer(self, code: int, text: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class MailSink:
    """aiosmtpd's handler: every message delivered, parsed."""

    def __init__(self, sinks: Sinks):
        self.sinks = sinks

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        self.sinks.email.append(
            Received(
                time.monotonic(),
                {
                    "subject": str(message["Subject"]),
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "text": text.get_content() if text is not None else "",
                },
            )
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def sinks():
    found = Sinks()
    webhooks = WebhookSink(found)
    mail = Controller(MailSink(found), hostname="127.0.0.1", port=free_port())
    mail.start()
    found.webhook_url = webhooks.url
    found.smtp_port = mail.port
    yield found
    mail.stop()
    webhooks.shutdown()


@pytest.fixture
def alertmanager(sinks, tmp_path):
    destinations = Destinations.loopback(
        smtp_port=sinks.smtp_port,
        slack_url=f"{sinks.webhook_url}/slack",
        pagerduty_url=f"{sinks.webhook_url}/pagerduty",
        pagerduty_routing_key=ROUTING_KEY,
    )
    config = render_config(destinations, Timing(group_wait_s=1, group_interval_s=1, repeat_interval_s=REPEAT_S))
    am = start_alertmanager(config, free_port(), tmp_path / "alertmanager", tmp_path / "logs")
    yield am
    am.stop()


def rules_with_pause_threshold(directory: Path, seconds: int) -> Path:
    """The production rules with FloorEnginePausedLong's threshold set to `seconds`."""
    data = yaml.safe_load(RULES.read_text())
    rule = next(r for g in data["groups"] for r in g["rules"] if r.get("alert") == ALERT)
    assert rule["expr"] == "floor_engine_paused_seconds > 1800", rule
    rule["expr"] = f"floor_engine_paused_seconds > {seconds}"
    path = directory / "floor-engine.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------------------- the end-to-end test


async def test_a_paused_engine_pages_every_receiver_until_acknowledged_and_its_resume_resolves(
    temporal_env, stack, web3s, signer, task_queue, tmp_path, cli, sinks, alertmanager
):
    client = temporal_env.client
    settings = engine_settings(stack, task_queue)
    settings = settings.model_copy(
        update={
            "store": StoreConfig(url=f"sqlite:///{tmp_path}/floor.db"),
            "metrics": MetricsConfig(exporter_port=free_port(), poll_s=0.5, alertmanager_url=alertmanager.url),
            "temporal": settings.temporal.model_copy(update={"address": client.service_client.config.target_host}),
        }
    )
    cli.use(settings)
    store = Store.from_settings(settings)
    store.migrate()
    exporter_port = settings.metrics.exporter_port
    poller, exporter = serve(settings, exporter_port, "127.0.0.1", store)
    rules = rules_with_pause_threshold(tmp_path, PAUSED_ALERT_S)
    config = scrape_config(
        [ScrapeTarget(JOB_EXPORTER, f"127.0.0.1:{exporter_port}")],
        scrape_interval_s=1,
        alertmanager_url=alertmanager.url,
        rule_files=[rules],
    )
    # Alerts re-sent every second (a minute in production): the resolved one arrives soon after unack.
    prometheus = start_prometheus(config, free_port(), tmp_path / "prometheus", tmp_path / "logs", resend_delay_s=1)
    started = time.monotonic()
    try:
        async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
            await ensure_engine(client, settings)
            await asyncio.to_thread(prometheus.wait_scraped, [JOB_EXPORTER])

            # Paused: past the threshold the critical alert reaches all three receivers.
            asked = time.monotonic()
            ran = await cli("pause", "--reason", "alerting drill", "--by", "oncall", keyless=True)
            assert ran.code == 0, ran
            await wait_for(lambda: arrived(sinks, "slack", "pagerduty", "email"), 30, f"{ALERT} at every receiver")
            fired = sinks.of(ALERT)
            first = {name: got[0] for name, got in fired.items()}
            assert first["pagerduty"].at - asked >= PAUSED_ALERT_S
            pager = first["pagerduty"].body
            assert pager["routing_key"] == ROUTING_KEY and pager["event_action"] == "trigger", pager
            assert pager["payload"]["severity"] == "critical" and pager["payload"]["source"] == "Floor Engine", pager
            assert pager["payload"]["summary"].startswith(f"[FIRING:1] {ALERT}"), pager
            details = pager["payload"]["custom_details"]
            assert "The engine has been paused for" in details["firing"], details
            assert details["runbook"] == "docs/runbooks/engine-paused.md", details
            dedup_key = pager["dedup_key"]
            assert dedup_key
            slack = first["slack"].body
            attachment = slack["attachments"][0]
            assert slack["channel"] == "#floor-alerts" and attachment["color"] == "danger", slack
            assert attachment["title"].startswith(f"[FIRING:1] {ALERT}"), slack
            assert "The engine has been paused for" in attachment["text"], slack
            assert "Runbook: docs/runbooks/engine-paused.md" in attachment["text"], slack
            mail = first["email"].body
            assert mail["subject"].startswith(f"[FIRING:1] {ALERT}") and mail["to"] == ["oncall@floor.local"], mail
            assert "The engine has been paused for" in mail["text"], mail
            assert "Runbook: docs/runbooks/engine-paused.md" in mail["text"], mail
            # The paused engine's info alert went to chat only.
            info = sinks.of("FloorEnginePaused (")
            assert info["slack"] and not info["pagerduty"] and not info["email"], info

            # An alert about the engine's operations is inhibited while it is paused.
            await asyncio.to_thread(alertmanager.push, [operations_alert()])
            listed = await wait_for(lambda: inhibited(cli), 15, "the operations alert inhibited")
            paused_alert = next(a for a in listed["alerts"] if a["name"] == ALERT)
            operations = next(a for a in listed["alerts"] if a["name"] == "FloorErrorRateHigh")
            assert operations["state"] == "inhibited" and operations["inhibited_by"], operations
            assert paused_alert["state"] == "firing" and paused_alert["severity"] == "critical", paused_alert
            assert paused_alert["runbook_url"] == "docs/runbooks/engine-paused.md", paused_alert

            # Unacknowledged, it repeats every REPEAT_S with the same dedup_key.
            await wait_for(lambda: repeated(sinks), 3 * REPEAT_S, "a repeat notification")
            repeat = sinks.of(ALERT)["pagerduty"][1].body
            assert repeat["event_action"] == "trigger" and repeat["dedup_key"] == dedup_key, repeat

            # Acknowledged: a silence by alice with her comment; no repeat for well past REPEAT_S.
            ran = await cli("alerts", "ack", paused_alert["id"], "--comment", "drill: leave it paused", "--by", "alice")
            assert ran.code == 0 and "acknowledged FloorEnginePausedLong" in ran.out, ran
            silence_id = ran.out.strip().rsplit("silence ", 1)[1]
            await asyncio.sleep(1)  # a notification already on its way
            before = {name: len(got) for name, got in sinks.of(ALERT).items()}
            listed = cli_json(await cli("alerts", "list", "--json"), outputs.AlertsListOutput)
            acked = next(a for a in listed["alerts"] if a["id"] == paused_alert["id"])
            assert acked["state"] == "acknowledged", acked
            assert [(s["id"], s["created_by"], s["comment"]) for s in acked["acks"]] == [
                (silence_id, "alice", "drill: leave it paused")
            ], acked
            await asyncio.sleep(2.5 * REPEAT_S)
            assert {name: len(got) for name, got in sinks.of(ALERT).items()} == before, "repeated while acknowledged"

            # Gone before the pause ends: never notified, since it was inhibited all along.
            await asyncio.to_thread(alertmanager.push, [operations_alert(resolved=True)])
            assert not any(sinks.of("FloorErrorRateHigh").values()), sinks.of("FloorErrorRateHigh")

            # Resumed: the condition clears. The silence holds the resolved notification back
            # until it is taken back; then Prometheus' next re-send of the resolved alert goes out.
            ran = await cli("resume", "--reason", "drill over")
            assert ran.code == 0, ran
            listed = await wait_for(lambda: acknowledged_and_gone(cli, paused_alert["id"]), 30, "the alert resolved")
            assert [s["id"] for s in listed["silences"]] == [silence_id], listed
            assert {name: len(got) for name, got in sinks.of(ALERT).items()} == before, "sent while acknowledged"
            unacked = time.monotonic()
            ran = cli_json(await cli("alerts", "unack", paused_alert["id"], "--json"), outputs.AlertUnackOutput)
            assert [s["id"] for s in ran["expired"]] == [silence_id] and ran["alert_id"] == paused_alert["id"], ran
            await wait_for(lambda: resolved(sinks), 90, "the resolved notification at every receiver")
            phases = (
                f"fired {first['pagerduty'].at - asked:.1f} s after the pause,"
                f" resolved {sinks.of(ALERT)['pagerduty'][-1].at - unacked:.1f} s after the unack"
            )
            done = {name: got[-1].body for name, got in sinks.of(ALERT).items()}
            assert done["pagerduty"]["event_action"] == "resolve", done
            assert done["pagerduty"]["dedup_key"] == dedup_key and done["pagerduty"]["routing_key"] == ROUTING_KEY
            assert done["slack"]["attachments"][0]["title"].startswith(f"[RESOLVED] {ALERT}"), done
            assert done["slack"]["attachments"][0]["color"] == "good", done
            assert done["email"]["subject"].startswith(f"[RESOLVED] {ALERT}"), done
            assert "RESOLVED since" in done["email"]["text"], done
    finally:
        prometheus.stop()
        exporter.shutdown()
        poller.stop()
    print(f"alerting end to end: {time.monotonic() - started:.1f} s ({phases})")


def operations_alert(resolved: bool = False) -> dict:
    """An alert about the engine's operations as Prometheus would send it (firing for 5 minutes,
    or resolved now)."""
    now = dt.datetime.now(dt.UTC)
    return {
        "labels": {
            "alertname": "FloorErrorRateHigh",
            "severity": "warning",
            "area": "operations",
            "chain": "1",
            "protocol": "aave-v3",
            "type": "RpcError",
        },
        "annotations": {"summary": "Errors of type RpcError on chain 1 aave-v3"},
        "startsAt": now.isoformat(),
        "endsAt": (now if resolved else now + dt.timedelta(minutes=5)).isoformat(),
    }


async def arrived(sinks: Sinks, *receivers: str):
    fired = sinks.of(ALERT)
    return all(fired[r] for r in receivers)


async def repeated(sinks: Sinks) -> bool:
    return len(sinks.of(ALERT)["pagerduty"]) >= 2


async def resolved(sinks: Sinks) -> bool:
    last = {name: got[-1].body for name, got in sinks.of(ALERT).items() if got}
    return (
        len(last) == 3
        and last["pagerduty"]["event_action"] == "resolve"
        and all("[RESOLVED]" in text for text in (last["slack"]["attachments"][0]["title"], last["email"]["subject"]))
    )


async def inhibited(cli) -> dict | None:
    listed = cli_json(await cli("alerts", "list", "--json"), outputs.AlertsListOutput)
    states = {a["name"]: a["state"] for a in listed["alerts"]}
    return listed if states.get("FloorErrorRateHigh") == "inhibited" else None


async def acknowledged_and_gone(cli, alert_id: str) -> dict | None:
    listed = cli_json(await cli("alerts", "list", "--json"), outputs.AlertsListOutput)
    gone = all(a["id"] != alert_id for a in listed["alerts"])
    return listed if gone and any(s["alert_id"] == alert_id for s in listed["silences"]) else None


# ---------------------------------------------------------------------------- the commands alone


async def test_floor_alerts_acks_in_the_keys_name_and_says_in_one_line_what_is_wrong(
    settings, tmp_path, cli, alertmanager
):
    from tests.integration.engine_helpers import ADMINS

    settings = settings.model_copy(update={"store": StoreConfig(url=f"sqlite:///{tmp_path}/floor.db")})
    cli.use(settings)  # no Alertmanager configured
    ran = await cli("alerts", "list")
    assert ran.code == 2 and ran.err.strip().startswith("error: no Alertmanager: set metrics.alertmanager_url"), ran

    cli.use(settings.model_copy(update={"metrics": MetricsConfig(alertmanager_url=f"http://127.0.0.1:{free_port()}")}))
    ran = await cli("alerts", "list")
    assert ran.code == 1 and ran.out == "", ran
    assert ran.err.count("\n") == 1 and "does not answer (connection refused)" in ran.err, ran

    cli.use(settings.model_copy(update={"metrics": MetricsConfig(alertmanager_url=alertmanager.url)}))
    listed = cli_json(await cli("alerts", "list", "--json"), outputs.AlertsListOutput)
    assert listed == {"alertmanager_url": alertmanager.url, "alerts": [], "silences": []}, listed
    await asyncio.to_thread(alertmanager.push, [operations_alert()])
    alert_id = (await wait_for(lambda: firing(cli), 10, "the alert listed"))["id"]

    # Signed in as an ADMIN's keystore: the ack is in the key's address.
    cli.key = ADMINS[3]
    ran = cli_json(await cli("alerts", "ack", alert_id[:6], "--comment", "looking", "--json"), outputs.AlertAckOutput)
    assert ran["created_by"] == ADMINS[3].address and ran["alert_id"] == alert_id, ran
    assert ran["alert"] == "FloorErrorRateHigh" and ran["comment"] == "looking", ran
    again = await cli("alerts", "ack", alert_id, "--comment", "me too")
    assert again.code == 1 and "is already acknowledged by " + ADMINS[3].address in again.err, again
    assert again.err.count("\n") == 1, again

    for args, code, words in [
        (("ack", "xyz!", "--comment", "c"), 2, "give its fingerprint"),
        (("ack", "0000000000000000", "--comment", "c"), 1, "no alert 0000000000000000 in Alertmanager"),
        (("ack", alert_id, "--comment", " "), 2, "--comment: say why"),
        (("ack", alert_id, "--comment", "c", "--for", "10s"), 2, "from 1m to 30d"),
        (("unack", "0000000000000000"), 1, "nothing to unack"),
    ]:
        ran = await cli("alerts", *args)
        assert ran.code == code and words in ran.err and ran.err.count("\n") == 1, (args, ran)

    # By the silence's id, as `floor alerts list` shows it.
    silence = cli_json(await cli("alerts", "list", "--json"), outputs.AlertsListOutput)["alerts"][0]["acks"][0]
    ran = await cli("alerts", "unack", silence["id"])
    assert ran.code == 0 and f"expired silence {silence['id']} (by {ADMINS[3].address})" in ran.out, ran
    assert (await firing(cli))["state"] == "firing"


async def firing(cli) -> dict | None:
    listed = cli_json(await cli("alerts", "list", "--json"), outputs.AlertsListOutput)
    return listed["alerts"][0] if listed["alerts"] else None
