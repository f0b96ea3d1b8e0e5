"""Promotion's gates: open critical alerts read from Alertmanager's API (a local HTTP server
answering as Alertmanager v2 does), a failing gate refusing promotion by its name, and the soak
gate judging the soak's summary file."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from floor.config import Settings
from floor.deploy.promote import Gate, PromotionRefused, critical_alerts, refuse_on_failure, soak_gate

ALERTS = [
    {"labels": {"alertname": "ReconciliationDiscrepancy", "severity": "critical", "chain": "1"}},
    {"labels": {"alertname": "GasLow", "severity": "warning"}},
]


class Alertmanager(BaseHTTPRequestHandler):
    asked: list[dict] = []

    def do_GET(self):
        url = urlsplit(self.path)
        Alertmanager.asked.append(parse_qs(url.query))
        body = json.dumps(ALERTS if url.path == "/api/v2/alerts" else []).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def alertmanager():
    server = HTTPServer(("127.0.0.1", 0), Alertmanager)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_open_critical_alerts_come_from_alertmanager(alertmanager):
    settings = Settings(
        chains=[{"id": 1, "name": "ethereum", "rpc_urls": ["http://127.0.0.1:8545"]}],
        metrics={"alertmanager_url": alertmanager},
    )
    where, lines = critical_alerts(settings)
    assert where == f"Alertmanager {alertmanager}"
    assert lines == ["ReconciliationDiscrepancy (chain=1, severity=critical)"]
    assert Alertmanager.asked[-1]["silenced"] == ["false"] and Alertmanager.asked[-1]["active"] == ["true"]


def test_a_failing_gate_refuses_by_name():
    refuse_on_failure([Gate("alerts", True, "0 open"), Gate("verified", True, "ok")])
    with pytest.raises(PromotionRefused, match=r"gate reconciliation failed: 1 open discrepancy"):
        refuse_on_failure([Gate("alerts", True, "0 open"), Gate("reconciliation", False, "1 open discrepancy(ies)")])


def test_a_misspelt_network_is_named_with_the_networks_there() -> None:
    from floor.deploy.network import NetworkError, load_network

    with pytest.raises(NetworkError, match=r"network 'testnett': cannot read .*; networks there: mainnet, testnet"):
        load_network("testnett")


# ---------------------------------------------------------------- the soak gate


def soak_file(tmp_path, **changes):
    summary = {
        "cycles": 336,
        "cycles_planned": 336,
        "invariant_failures": 0,
        "faults": {"rpc_timeout": 4, "worker_kill": 2},
        "finished_at": "2026-12-06T10:00:00+00:00",
        "version": "v0.9.0-12-g1a2b3c4",
    } | changes
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(summary))
    return path


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"cycles": 12, "cycles_planned": 336}, "12 of 336 cycles"),
        ({"invariant_failures": 2}, "2 invariant failures"),
        ({"invariant_failures": 1}, "1 invariant failure"),
        ({"cycles": 340, "cycles_planned": 400}, "340 of 400 planned cycles"),
        ({"cycles": 12, "cycles_planned": 12, "invariant_failures": 3}, "12 of 336 cycles; 3 invariant failures"),
    ],
)
def test_the_soak_gate_refuses_naming_why(tmp_path, changes, why):
    gate = soak_gate(soak_file(tmp_path, **changes), 336)
    assert not gate.passed and gate.detail == why
    with pytest.raises(PromotionRefused, match=f"gate soak failed: {why}$"):
        refuse_on_failure([gate])


def test_the_soak_gate_passes_a_finished_clean_soak(tmp_path):
    gate = soak_gate(soak_file(tmp_path, cycles=400, cycles_planned=400), 336)
    assert gate.passed and "400 cycles" in gate.detail and "v0.9.0-12-g1a2b3c4" in gate.detail


def test_the_soak_gate_without_a_summary(tmp_path):
    missing = tmp_path / "nowhere.json"
    assert soak_gate(missing, 336) == Gate("soak", False, f"no summary at {missing}")
    assert soak_gate(missing, 0).passed  # a target that requires no soak
    assert not soak_gate(soak_file(tmp_path, invariant_failures=1), 0).passed  # a soak that failed still counts
    (tmp_path / "summary.json").write_text('{"cycles": 3}')
    assert soak_gate(tmp_path / "summary.json", 336).detail.startswith("the summary at")


def test_a_networks_soak_settings(tmp_path):
    from floor.deploy.network import SOAK_SUMMARY, load_network

    mainnet, testnet = load_network("mainnet"), load_network("testnet")
    assert (mainnet.soak_cycles_required, testnet.soak_cycles_required) == (336, 0)
    assert mainnet.soak_summary_path == SOAK_SUMMARY and SOAK_SUMMARY.parts[-3:] == ("docs", "soak", "summary.json")
    assert soak_gate(Path("/nowhere/x.json"), 336).detail == "no summary at /nowhere/x.json"
    text = (Path(mainnet.file)).read_text()
    own = tmp_path / "mainnet.toml"
    own.write_text(text + 'soak_summary = "soak/summary.json"\nsoak_min_cycles = 24\n')
    network = load_network(str(own))
    assert network.soak_summary_path == tmp_path / "soak" / "summary.json"
    assert network.soak_cycles_required == 24
