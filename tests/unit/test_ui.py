"""The admin dashboard's pages without a browser (a stand-in engine, a SQLite store): every page
renders for a session and is the sign-in page without one; a VIEWER's pages carry no control,
an ADMIN's every one; the typed data the page has a wallet sign is the engine's own; the plots
draw the store's history; the exit drill page exists only with its table; the vendored htmx is
the version package.json names. The browser's own tests: tests/integration/test_ui_browser.py."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data

from api.ui.commands import controls_for
from api.ui.svg import Series, line_chart
from client.signing import command_domain
from floor import metrics as m
from floor.access.commands import STRUCTS, Kind, digest, recover
from floor.access.roles import Role
from floor.exit_drill import ChainDrill, DrilledExit
from floor.store import MarketMark, Store, TxJournal
from tests.unit.test_api import ADMIN, VIEWER, FakeClient, FakeHandle, app_for, login, settings

REPO = Path(__file__).resolve().parents[2]
PAGES = (
    "/ui/",
    "/ui/positions",
    "/ui/operations",
    "/ui/transactions",
    "/ui/risk",
    "/ui/alerts",
    "/ui/audit",
    "/ui/history",
)


class HistoryHandle(FakeHandle):
    async def query(self, name: Any, *args: Any, result_type: Any = None, rpc_timeout: Any = None) -> Any:
        if name in ("history", "results"):
            return []
        return await super().query(name, *args, result_type=result_type, rpc_timeout=rpc_timeout)


class Engine(FakeClient):
    """The stand-in engine of tests/unit/test_api.py, answering the operations page's queries too."""

    def get_workflow_handle(self, id: str) -> HistoryHandle:
        return HistoryHandle(self, id)


def store_of(tmp_path: Any) -> Store:
    store = Store(settings(tmp_path).store.url)
    store.migrate()
    return store


def test_without_a_session_every_page_is_the_sign_in_page(tmp_path) -> None:
    http = app_for(Engine(), tmp_path)
    for path in PAGES:
        answer = http.get(path)
        assert answer.status_code == 401, path
        assert "Sign in with wallet" in answer.text and 'action="/ui/login"' in answer.text


def test_a_viewer_reads_every_page_and_sees_no_control_an_admin_sees_them_all(tmp_path) -> None:
    store_of(tmp_path).close()
    http = app_for(Engine(), tmp_path)
    assert login(http, VIEWER).status_code == 200
    for path in PAGES:
        answer = http.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert "data-control" not in answer.text and 'id="confirm"' not in answer.text, path
    overview = http.get("/ui/").text
    assert 'id="engine-state"' in overview and ">IDLE<" in overview
    http.cookies.clear()
    assert login(http, ADMIN).status_code == 200
    overview = http.get("/ui/").text
    shown = set(re.findall(r'data-control="([a-z_]+)"', overview))
    assert shown == {"pause", "resume", "rebalance", "harvest", "request_capital", "trip_breaker", "half_open_breaker"}
    assert controls_for(Role.OPERATOR) == ["pause", "resume", "rebalance", "harvest"]
    assert controls_for(Role.VIEWER) == []


def test_the_typed_data_the_page_has_signed_is_the_engines_and_is_said_in_plain_words(tmp_path) -> None:
    http = app_for(Engine(), tmp_path)
    assert login(http, VIEWER).status_code == 200
    answer = http.post("/ui/prepare/pause", json={"reason": "drill"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["command"]["domain"] == command_domain(settings()).model_dump(mode="json")
    assert body["plain"][0].startswith("Pause the engine") and "Reason: drill" in body["plain"]
    # What a wallet's eth_signTypedData_v4 signs is the digest the engine verifies.
    signed = Account.sign_message(encode_typed_data(full_message=body["typed_data"]), VIEWER.key)
    fields = STRUCTS[Kind.PAUSE].model_validate(body["command"]["message"])
    hashed = digest(Kind.PAUSE, fields, command_domain(settings()))
    assert recover("0x" + bytes(signed.signature).hex(), hashed) == bytes.fromhex(VIEWER.address[2:])
    capital = {
        "chainId": 1,
        "asset": "USDC",
        "amount": "2500000",
        "destination": ADMIN.address,
        "deliverBy": 0,
        "partial": False,
        "exitPollSeconds": 3600,
        "reason": "payroll",
    }
    words = http.post("/ui/prepare/request_capital", json=capital).json()["plain"]
    assert "2500000 base units" in words[0] and ADMIN.address in words[0]
    bad = http.post("/ui/prepare/request_capital", json={**capital, "amount": "-1"})
    assert bad.status_code == 422 and "amount" in bad.json()["error"]["message"]
    assert http.post("/ui/prepare/configure", json={}).status_code == 404


def test_the_history_page_plots_the_stores_marks_journal_and_harvests(tmp_path) -> None:
    store = store_of(tmp_path)
    now = datetime.now(UTC)
    marks = [
        MarketMark(
            chain_id=1,
            protocol=protocol,
            market=f"1:{protocol}:USDC",
            asset="USDC",
            decimals=6,
            amount=10**12,
            withdrawable=10**12,
            value_usd=f"{1_000_000 + 1000 * i + n}",
            apy=0.03 + n / 100,
            apy_source="quoted",
            block_number=100 + i,
            taken_at=now - timedelta(hours=24 - i),
        )
        for i in range(24)
        for n, protocol in enumerate(("aave-v3", "compound-v3"))
    ]
    store.record_market_marks(marks)
    store.record_metric_events(
        [
            m.HARVEST_YIELD.event_row(2.5, f"h-{i}", now - timedelta(hours=i), chain=1, token="USDC", source="rebase")
            for i in range(3)
        ]
    )
    journal = TxJournal(
        operation_id="op-1",
        intent_id="op-1/i",
        chain_id=1,
        tx_hash="0x" + "ab" * 32,
        nonce=0,
        status=1,
        block_number=110,
        gas_used=100_000,
        effective_gas_price=10**9,
        calls=1,
        recorded_at=now - timedelta(hours=2),
    )
    store.record_transactions([journal])
    store.close()
    http = app_for(Engine(), tmp_path)
    assert login(http, VIEWER).status_code == 200
    page = http.get("/ui/history?days=7").text
    for chart in ("tvl", "apy", "drift", "yield", "gas"):
        assert f'id="chart-{chart}"' in page
    tvl = re.search(r'<svg id="chart-tvl".*?</svg>', page, re.S).group(0)
    assert re.findall(r'data-label="([^"]+)" data-points="(\d+)"', tvl) == [("aave-v3", "24"), ("compound-v3", "24")]
    assert "time (UTC)" in tvl and ">USD<" in tvl
    gas = re.search(r'<svg id="chart-gas".*?</svg>', page, re.S).group(0)
    assert 'data-label="chain 1" data-points="1"' in gas
    assert "0.0001" in page  # 100,000 gas at 1 gwei, in ETH, in the latest values


def test_an_empty_chart_says_so_and_every_text_is_escaped() -> None:
    svg = str(line_chart("c", "<b>", "USD", [Series("x", [])]))
    assert "no data in the store" in svg and "<b>" not in svg
    at = datetime(2026, 1, 1, tzinfo=UTC)
    svg = str(line_chart("c", "t", "USD", [Series("<script>", [(at, 1.0), (at + timedelta(hours=1), 2.0)])]))
    assert "<script>" not in svg and "&lt;script&gt;" in svg


def test_the_exit_drill_page_exists_only_with_its_tables(tmp_path) -> None:
    store = store_of(tmp_path)
    store.downgrade("0008")  # a store from before the drills
    http = app_for(Engine(), tmp_path)
    assert login(http, VIEWER).status_code == 200
    assert http.get("/ui/drills").status_code == 404
    assert 'href="/ui/drills"' not in http.get("/ui/audit").text
    store.migrate()
    drill = ChainDrill(
        chain_id=1,
        run_id="drill-1",
        drilled_at=datetime.now(UTC),
        block_number=123,
        limit_bps=100,
        exits=[
            DrilledExit(
                market="1:aave-v3:USDC",
                protocol="aave-v3",
                asset="USDC",
                decimals=6,
                position=5 * 10**6,
                mode="instant",
                status="ok",
                amount=5 * 10**6,
                realised=4_990_000,
                slippage_bps=20,
                gas_used=90_000,
            )
        ],
    )
    store.record_exit_drill(drill)
    store.close()
    http = app_for(Engine(), tmp_path)
    assert login(http, VIEWER).status_code == 200
    page = http.get("/ui/drills")
    assert page.status_code == 200 and "1:aave-v3:USDC" in page.text and "4.990000" in page.text
    assert 'href="/ui/drills"' in http.get("/ui/audit").text


def test_sign_in_without_javascript_with_a_pasted_signature(tmp_path) -> None:
    http = app_for(Engine(), tmp_path)
    page = http.get(f"/ui/login?address={VIEWER.address.lower()}")
    message = re.search(r'<textarea id="message"[^>]*>(.*?)</textarea>', page.text, re.S).group(1)
    message = message.replace("&#39;", "'").replace("&amp;", "&")
    assert VIEWER.address in message
    signature = "0x" + bytes(Account.sign_message(encode_defunct(text=message), VIEWER.key).signature).hex()
    answer = http.post("/ui/login", data={"message": message, "signature": signature}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert http.get("/ui/").status_code == 200
    replayed = http.post("/ui/login", data={"message": message, "signature": signature})
    assert replayed.status_code == 401 and "nonce" in replayed.text


def test_the_vendored_htmx_is_the_version_package_json_names() -> None:
    vendor = REPO / "api/ui/static/vendor"
    version = json.loads((REPO / "package.json").read_text())["dependencies"]["htmx.org"]
    assert f"htmx.org {version}" in (vendor / "VERSION").read_text()
    assert (vendor / "htmx.LICENSE").read_text().startswith("Zero-Clause BSD")
    built = REPO / "node_modules/htmx.org/dist/htmx.min.js"
    if built.exists():  # after `make install`: the committed copy is npm's file
        assert (vendor / "htmx.min.js").read_bytes() == built.read_bytes()
