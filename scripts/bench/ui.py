"""ui.overview_ms: the server's time for the dashboard's overview page (GET /ui/) with every
protocol on both chains of the local stack: the store filled as a month of a running engine
leaves it (scripts/bench/metrics.py's `fill`), the engine a stand-in that answers at once (what
is measured is the page: the engine's status and breakers, the store's latest marks and open
alerts, the template). Each round starts with the read cache empty (every source read again);
the median of ROUNDS, in process (no network). `ui.overview_ms.cached`: the same page within
the cache's period. The target: at most 100 ms."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account.messages import encode_defunct

from floor.config import Settings
from floor.store import Store
from scripts.bench.api import ADMIN, StandInEngine
from scripts.bench.metrics import fill

ROUNDS = 50


class Engine(StandInEngine):
    """The bench's stand-in engine, answering the breakers query too (none open)."""

    async def query(self, name: str, *args: Any, result_type: Any = None, rpc_timeout: Any = None) -> Any:
        if name == "breakers":
            return []
        return await super().query(name, *args, result_type=result_type, rpc_timeout=rpc_timeout)


def bench_ui(stack: Any, tmp: Path) -> dict[str, float]:
    settings = Settings(
        chains=stack.chain_configs(),
        store={"url": f"sqlite:///{tmp / 'bench-ui.db'}"},
        access={"admins": [ADMIN.address]},
        api={"reads_per_minute": 10**9, "logins_per_minute": 10**6},
    )
    store = Store.from_settings(settings)
    store.migrate()
    markets = fill(store, settings)
    store.close()
    cold, cached = asyncio.run(overview_times(settings))
    return {"ui.overview_ms": round(cold, 2), "ui.overview_ms.cached": round(cached, 2), "ui.markets": markets}


async def overview_times(settings: Settings) -> tuple[float, float]:
    from api.app import create_app

    async def engine() -> Any:
        return Engine()

    app = create_app(settings, engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8700") as http:
        message = (await http.get("/ui/siwe", params={"address": ADMIN.address})).json()["message"]
        signature = "0x" + bytes(ADMIN.sign_message(encode_defunct(text=message)).signature).hex()
        login = await http.post("/auth/login", json={"message": message, "signature": signature})
        assert login.status_code == 200, login.text
        page = await http.get("/ui/")  # warm: the templates compiled, the store's connection open
        assert page.status_code == 200 and 'id="tvl-table"' in page.text, page.text[:500]
        cold, cached = [], []
        for _ in range(ROUNDS):
            app.state.cache.entries.clear()
            cold.append(await timed_get(http))
            cached.append(await timed_get(http))
    return statistics.median(cold) * 1000, statistics.median(cached) * 1000


async def timed_get(http: httpx.AsyncClient) -> float:
    start = time.perf_counter()
    answer = await http.get("/ui/")
    elapsed = time.perf_counter() - start
    assert answer.status_code == 200, answer.text[:300]
    return elapsed
