"""Promotion's gates: open critical alerts read from Alertmanager's API (a local HTTP server
answering as Alertmanager v2 does), and a failing gate refusing promotion by its name."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from floor.config import Settings
from floor.deploy.promote import Gate, PromotionRefused, critical_alerts, refuse_on_failure

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
