"""The admin dashboard in a real browser: Debian's chromium driven by Playwright (no browser
download; `make chromium` installs it), against the admin API served by uvicorn, a real engine
on the local Temporal dev server and chains. The browser's wallet is an EIP-1193 shim whose
`eth_requestAccounts`, `personal_sign` and `eth_signTypedData_v4` are answered by a key held
here (`expose_function`): Sign-In with Ethereum and every command are signed as a wallet would.

Shown: a VIEWER sees no control, and a command it signs and posts anyway is refused by the
engine; an OPERATOR pauses the engine from the page (plain words first, then the wallet) and
the page shows PAUSED live, without a reload; a refused command shows the engine's reason; the
history page plots what the store holds; a lost connection is said and the page reconnects.

With FLOOR_UI_SCREENSHOTS=<dir> (`make screenshots`), one more test allocates the demo treasury
and writes a screenshot of every page, at 1280 px and at a phone's width, to <dir>."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from pydantic import SecretStr

from activities.deps import Deps
from api.app import create_app
from client import ensure_engine
from floor.access.roles import Role
from floor.config import Settings
from floor.devnet.processes import free_port
from floor.store import MarketMark, Store
from tests.integration.engine_helpers import commander, engine_settings, wait_for
from workers.temporal import build_worker

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OPERATOR: LocalAccount = Account.from_key(keccak(text="floor-ui-test-operator"))
VIEWER: LocalAccount = Account.from_key(keccak(text="floor-ui-test-viewer"))
SHOTS = os.environ.get("FLOOR_UI_SCREENSHOTS", "")
WAIT_MS = 20_000

# The injected wallet: every request goes to the Python side's `floorWallet(method, params)`.
WALLET_SHIM = """
window.ethereum = {
  isFloorTestWallet: true,
  request: async ({ method, params }) => {
    const answer = JSON.parse(await window.floorWallet(method, JSON.stringify(params || [])));
    if (answer.error) { const e = new Error(answer.error); e.code = 4001; throw e; }
    return answer.result;
  },
};
"""


@dataclass
class Wallet:
    """The key behind a browser's EIP-1193 shim; what it signed, for the test to look at."""

    key: LocalAccount
    typed: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, method: str, params_json: str) -> str:
        params = json.loads(params_json)
        if method in ("eth_requestAccounts", "eth_accounts"):
            return json.dumps({"result": [self.key.address.lower()]})  # wallets answer lower case
        if method == "personal_sign":
            message = bytes.fromhex(params[0][2:])
            signed = self.key.sign_message(encode_defunct(primitive=message))
        elif method == "eth_signTypedData_v4":
            assert params[0].lower() == self.key.address.lower(), params[0]
            typed = json.loads(params[1])
            self.typed.append(typed)
            signed = self.key.sign_message(encode_typed_data(full_message=typed))
        else:
            return json.dumps({"error": f"the test wallet does not do {method}"})
        return json.dumps({"result": "0x" + bytes(signed.signature).hex()})


class Server:
    """The admin API on uvicorn in a thread of its own (its own event loop and Temporal client)."""

    def __init__(self, settings: Settings) -> None:
        from client import connect

        async def temporal() -> Any:
            return await connect(settings)

        self.url = f"http://{settings.api.host}:{settings.api.port}"
        config = uvicorn.Config(
            create_app(settings, temporal),
            host=settings.api.host,
            port=settings.api.port,
            log_level="warning",
            timeout_graceful_shutdown=1,  # the live streams never end by themselves
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def __aenter__(self) -> Server:
        self.thread.start()

        async def started() -> bool:
            return self.server.started

        await wait_for(started, what="the admin API started")
        return self

    async def __aexit__(self, *_: object) -> None:
        self.server.should_exit = True
        await asyncio.to_thread(self.thread.join, 15)


@dataclass
class Dashboard:
    settings: Settings
    store: Store
    client: Any
    url: str
    browser: Any
    server: Server

    async def signed_in(self, wallet: Wallet, width: int = 1280, height: int = 900) -> Any:
        """A browser page signed in with `wallet` through the sign-in page's wallet button."""
        context = await self.browser.new_context(viewport={"width": width, "height": height})
        await context.expose_function("floorWallet", wallet.answer)
        await context.add_init_script(WALLET_SHIM)
        page = await context.new_page()
        page.set_default_timeout(WAIT_MS)
        await page.goto(f"{self.url}/ui/login")
        await page.click("#sign-in")
        await page.wait_for_url(f"{self.url}/ui/")
        return page


@contextlib.asynccontextmanager
async def dashboard(temporal_env, stack, web3s, signer, task_queue, tmp_path) -> AsyncIterator[Dashboard]:
    from playwright.async_api import async_playwright

    port = free_port()
    base = engine_settings(stack, task_queue)
    settings = base.model_copy(
        update={
            "store": base.store.model_copy(update={"url": f"sqlite:///{tmp_path}/floor.db"}),
            "temporal": base.temporal.model_copy(
                update={"address": temporal_env.client.service_client.config.target_host}
            ),
            # A secret of its own: a restarted API (the reconnection drill) keeps the sessions.
            "api": base.api.model_copy(
                update={"port": port, "chain_cache_s": 2.0, "session_secret": SecretStr("floor-ui-test-secret")}
            ),
        }
    )
    store = Store(settings.store.url)
    store.migrate()
    client = temporal_env.client
    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        admin = commander(client, settings)
        await admin.grant(OPERATOR.address, Role.OPERATOR, "ops", "dashboard test")
        await admin.grant(VIEWER.address, Role.VIEWER, "auditor", "dashboard test")
        async with Server(settings) as server, async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                yield Dashboard(settings, store, client, server.url, browser, server)
            finally:
                await browser.close()
    store.close()


def marks(settings: Settings, hours: int = 12) -> list[MarketMark]:
    """A reconciliation's market marks every hour for `hours` on chain 1's strategy markets."""
    now = datetime.now(UTC)
    targets = [t for t in settings.strategy.targets if t.chain_id == 1]
    return [
        MarketMark(
            chain_id=1,
            protocol=t.protocol,
            market=f"1:{t.protocol}:{t.market}",
            asset="USDC",
            decimals=6,
            amount=10**11 + i,
            withdrawable=10**11,
            value_usd=str(100_000 + 250 * i + 1000 * n),
            apy=0.04 + n / 200,
            apy_source="quoted",
            block_number=1_000 + i,
            taken_at=now - timedelta(hours=hours - i),
        )
        for i in range(hours)
        for n, t in enumerate(targets)
    ]


async def test_roles_commands_live_state_refusals_and_plots_in_the_browser(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    async with dashboard(temporal_env, stack, web3s, signer, task_queue, tmp_path) as ui:
        # A VIEWER reads, sees no control; a command it signs and posts anyway is refused by the engine.
        viewer = Wallet(VIEWER)
        page = await ui.signed_in(viewer)
        assert await page.text_content("#my-role") == "VIEWER"
        assert await page.text_content("#engine-state") == "IDLE"
        assert await page.locator("[data-control]").count() == 0
        assert await page.locator("#actions").count() == 0
        forged = await page.evaluate(
            """async () => {
                const prepared = await (await fetch('/ui/prepare/rebalance', {method: 'POST',
                    headers: {'content-type': 'application/json'}, body: JSON.stringify({reason: 'not mine'})})).json();
                const [signer] = await window.ethereum.request({method: 'eth_requestAccounts'});
                const signature = await window.ethereum.request({method: 'eth_signTypedData_v4',
                    params: [signer, JSON.stringify(prepared.typed_data)]});
                const answer = await fetch('/commands/rebalance', {method: 'POST',
                    headers: {'content-type': 'application/json'},
                    body: JSON.stringify({...prepared.command, signer, signature})});
                return {status: answer.status, body: await answer.json()};
            }"""
        )
        assert forged["status"] == 403, forged
        assert forged["body"]["error"]["message"] == f"{VIEWER.address} is a VIEWER; rebalance needs OPERATOR"
        await page.context.close()

        # An OPERATOR pauses the engine: plain words, the wallet signs, the page shows PAUSED live.
        operator = Wallet(OPERATOR)
        page = await ui.signed_in(operator)
        assert await page.text_content("#my-role") == "OPERATOR"
        shown = set(await page.locator("[data-control]").evaluate_all("els => els.map(e => e.dataset.control)"))
        assert shown == {"pause", "resume", "rebalance", "harvest"}
        await page.evaluate("window.notReloaded = true")
        await page.fill("#pause-reason", "browser drill")
        await page.click('[data-control="pause"]')
        words = page.locator("#confirm-words")
        await words.wait_for()
        assert (await words.text_content()).startswith(f"Pause the engine {ui.settings.engine_id}")
        await page.click("#confirm-sign")
        await page.wait_for_function("document.querySelector('#command-result').textContent.startsWith('Accepted')")
        await page.wait_for_function("document.querySelector('#engine-state').textContent === 'PAUSED'")
        assert await page.evaluate("window.notReloaded === true")  # the state came by the live stream
        typed = operator.typed[-1]
        assert typed["primaryType"] == "Pause" and typed["domain"]["name"] == "Floor Engine"
        assert typed["message"]["reason"] == "browser drill"

        # A refused command shows the engine's one-line reason (paused: only resume is accepted).
        await page.fill("#rebalance-reason", "while paused")
        await page.click('[data-control="rebalance"]')
        await page.click("#confirm-sign")
        await page.wait_for_function("document.querySelector('#command-result').textContent.startsWith('Refused')")
        assert await page.text_content("#command-result") == (
            "Refused: the engine is paused: only resume is accepted (asked: rebalance)"
        )

        # The audit log shows both, with the hash chain verified.
        await page.click("nav >> text=Audit log")
        await page.wait_for_selector("#audit-table")
        assert "Verified: intact" in await page.text_content("#chain-status")
        assert await page.locator("#audit-table tr", has_text="refused").count() >= 2

        # A plot from the store's marks.
        ui.store.record_market_marks(marks(ui.settings))
        await page.goto(f"{ui.url}/ui/history?days=1")
        lines = page.locator("#chart-tvl path.line")
        assert await lines.count() == len({t.protocol for t in ui.settings.strategy.targets if t.chain_id == 1})
        first = lines.first
        assert await first.get_attribute("data-points") == "12"
        box = await first.bounding_box()
        assert box is not None and box["width"] > 300, box  # drawn across the chart
        assert await page.locator("#chart-tvl text", has_text="time (UTC)").count() == 1

        # A lost connection is said, and the page reconnects when the API is back.
        await page.goto(f"{ui.url}/ui/")
        await page.wait_for_function("document.body.dataset.engineState === 'PAUSED'")
        await ui.server.__aexit__()
        await page.wait_for_function("document.querySelector('#connection').textContent.startsWith('Connection lost')")
        ui.server = await Server(ui.settings).__aenter__()
        await page.wait_for_function("document.querySelector('#connection').textContent.startsWith('Reconnected')")
        await ui.server.__aexit__()


@pytest.mark.skipif(not SHOTS, reason="screenshots: FLOOR_UI_SCREENSHOTS=<dir> (make screenshots)")
async def test_screenshots_of_every_page(temporal_env, stack, web3s, signer, task_queue, tmp_path):
    from scripts.bench.metrics import fill
    from tests.integration.engine_helpers import start_allocated

    out = Path(SHOTS)
    out.mkdir(parents=True, exist_ok=True)
    async with dashboard(temporal_env, stack, web3s, signer, task_queue, tmp_path) as ui:
        await start_allocated(ui.client, ui.settings, web3s)
        fill(ui.store, ui.settings)  # a month of a running engine's rows: the history's plots
        ui.store.raise_alert("low_gas", "1", "the signer holds 0.04 ETH for gas on chain 1", datetime.now(UTC))
        admin = Wallet(Account.from_key(keccak(text="floor-test-admin-0")))
        for width, height, suffix in ((1280, 900, ""), (390, 844, "-phone")):
            page = await ui.signed_in(admin, width, height)
            for name in (
                "overview",
                "positions",
                "operations",
                "transactions",
                "risk",
                "alerts",
                "audit",
                "history",
                "drills",
            ):
                path = "/ui/" if name == "overview" else f"/ui/{name}"
                await page.goto(f"{ui.url}{path}")
                await page.wait_for_load_state("networkidle")
                await page.screenshot(path=str(out / f"{name}{suffix}.png"), full_page=True)
            await page.context.close()
        assert time.time()  # the files are the result
