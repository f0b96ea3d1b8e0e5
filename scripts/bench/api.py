"""The admin API (api/): `api.status.rps` and `api.status.p99_ms`: CLIENTS concurrent clients,
each with a session, asking `GET /status` for DURATION_S (after WARM_UP_S untimed, while the
connections open) against the API served by uvicorn on a free port in a process of its own,
backed by its cache (the engine behind it a stand-in that answers at once: what is measured is
the API, not Temporal); and `access.verify_us`: one `floor.access.commands.verify` of a signed
command, the median of VERIFY_ROUNDS.

`python -m scripts.bench.api serve <port>` is the served API (the bench starts it)."""

from __future__ import annotations

import asyncio
import gc
import statistics
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from floor.access.commands import UsedNonces, verify
from floor.access.roles import RoleBook
from floor.config import Settings
from floor.devnet.processes import free_port
from floor.operations import EngineStatus

CLIENTS = 200
DURATION_S = 5.0
WARM_UP_S = 1.0
VERIFY_ROUNDS = 2000
ADMIN = Account.from_key(keccak(text="floor-bench-api-admin"))
EXECUTOR = "0x" + "e1" * 20
STATUS = {
    "engine_id": "engine-floor",
    "state": "IDLE",
    "operation": None,
    "paused_from": None,
    "pause_reason": "",
    "last": None,
    "positions": {},
    "positions_read_at": "",
}


def bench_api() -> dict[str, float]:
    results = {"access.verify_us": verify_us()}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "scripts.bench.api", "serve", str(port)])
    try:
        results |= asyncio.run(load(f"http://127.0.0.1:{port}"))
    finally:
        server.terminate()
        server.wait(timeout=10)
    return results


def bench_settings(port: int = 8700) -> Settings:
    chain = {"id": 1, "name": "ethereum", "rpc_urls": ["http://127.0.0.1:1"], "executor": EXECUTOR}
    api = {"port": port, "reads_per_minute": 10**9, "logins_per_minute": 10**6}
    return Settings(chains=[chain], access={"admins": [ADMIN.address]}, api=api)


def verify_us() -> float:
    from client.signing import command_domain, signed

    settings = bench_settings()
    now = int(time.time())
    command = signed(settings, "rebalance", {"reason": "bench"}, ADMIN, now=now).model_dump(mode="json")
    domain, book, used = command_domain(settings), RoleBook.founded([ADMIN.address], now), UsedNonces()
    times = []
    for _ in range(VERIFY_ROUNDS):
        start = time.perf_counter()
        verify(command, domain, book, now, used, expected=None)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1e6, 1)


# ---------------------------------------------------------------------------- the load


async def load(url: str) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(url, connector=connector) as http:
        await ready(http)
        token = await login(http, url)
        headers = {"Authorization": f"Bearer {token}"}
        latencies: list[float] = []
        failures = 0
        gc.collect()
        gc.freeze()  # the load's own pauses are not the API's
        began = time.perf_counter() + WARM_UP_S  # the clients' connections are opened first, not timed
        deadline = began + DURATION_S

        async def client() -> None:
            nonlocal failures
            while (start := time.perf_counter()) < deadline:
                async with http.get("/status", headers=headers) as answer:
                    await answer.read()
                    failures += answer.status != 200
                if start >= began:
                    latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - began
    assert failures == 0, f"{failures} of {len(latencies)} requests failed"
    p99 = statistics.quantiles(latencies, n=100)[98]
    return {"api.status.rps": round(len(latencies) / elapsed), "api.status.p99_ms": round(p99 * 1000, 1)}


async def ready(http: aiohttp.ClientSession, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while True:
        try:
            async with http.get("/openapi.json") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            if time.monotonic() > end:
                raise
        await asyncio.sleep(0.1)


async def login(http: aiohttp.ClientSession, url: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import siwe

    async with http.get("/auth/nonce") as answer:
        nonce = await answer.json()
    issued = datetime.now(UTC)
    message = siwe.SiweMessage(
        domain=nonce["domain"],
        address=ADMIN.address,
        uri=url,
        version="1",
        chain_id=1,
        nonce=nonce["nonce"],
        issued_at=issued.isoformat(timespec="seconds").replace("+00:00", "Z"),
        expiration_time=(issued + timedelta(minutes=10)).isoformat(timespec="seconds").replace("+00:00", "Z"),
    ).prepare_message()
    signature = "0x" + bytes(Account.sign_message(encode_defunct(text=message), ADMIN.key).signature).hex()
    async with http.post("/auth/login", json={"message": message, "signature": signature}) as answer:
        assert answer.status == 200, await answer.text()
        return str((await answer.json())["token"])


# ---------------------------------------------------------------------------- the served API


class StandInEngine:
    """The Temporal client as the API uses it, answering the status and roles queries at once."""

    def __init__(self) -> None:
        self.book = RoleBook.founded([ADMIN.address], int(time.time())).model_dump(mode="json")

    def get_workflow_handle(self, workflow_id: str) -> StandInEngine:
        return self

    async def query(self, name: str, *_: Any, result_type: Any = None, rpc_timeout: Any = None) -> Any:
        if name == "status":
            return EngineStatus.model_validate(STATUS)
        if name == "roles":
            return self.book
        raise ValueError(f"the bench's engine answers status and roles, not {name}")


def serve_api(port: int) -> None:
    from api.app import create_app
    from api.main import serve

    async def engine() -> Any:
        return StandInEngine()

    serve(create_app(bench_settings(port), engine), "127.0.0.1", port)


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve_api(int(sys.argv[2]))
    else:
        print(bench_api())
