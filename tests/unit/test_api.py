"""The admin API without Temporal: Sign-In with Ethereum, sessions, role gating, the error
shape, rate limits (429 with Retry-After), the read cache, and commands passed to the engine
unchanged (a refusal: 403 with its reason, in the audit log). A fake stands in for the Temporal
client (queries, updates, the visibility list)."""

from __future__ import annotations

import asyncio
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from api.app import create_app
from api.cache import Cache
from client.signing import command_domain
from floor.access.commands import sign_command
from floor.access.roles import Role, RoleBook
from floor.config import Settings
from floor.store import Store

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import siwe

NOW = 1_800_000_000
EXECUTOR = "0x" + "e1" * 20
ADMIN = Account.from_key("0x" + "11" * 32)
VIEWER = Account.from_key("0x" + "22" * 32)
STRANGER = Account.from_key("0x" + "33" * 32)
DOMAIN = "127.0.0.1:8700"


def settings(tmp_path: Any = None, **api: Any) -> Settings:
    chain = {"id": 1, "name": "ethereum", "rpc_urls": ["http://127.0.0.1:1"], "executor": EXECUTOR}
    store = {"url": f"sqlite:///{tmp_path}/floor.db"} if tmp_path is not None else {}
    return Settings(chains=[chain], access={"admins": [ADMIN.address]}, api=api, store=store)


def role_book() -> RoleBook:
    book = RoleBook.founded([ADMIN.address], NOW)
    return book.grant(ADMIN.address, VIEWER.address, Role.VIEWER, NOW, "reads")


STATUS: dict[str, Any] = {
    "engine_id": "engine-floor",
    "state": "IDLE",
    "operation": None,
    "paused_from": None,
    "pause_reason": "",
    "last": None,
    "positions": {},
    "positions_read_at": "",
}


class FakeUpdate:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    async def result(self) -> Any:
        return self.answer


class FakeHandle:
    def __init__(self, client: FakeClient, id: str) -> None:
        self.client, self.id = client, id

    async def query(self, name: Any, *args: Any, result_type: Any = None, rpc_timeout: Any = None) -> Any:
        self.client.queries.append(name)
        if name == "status" and self.id.startswith("txqueue-"):
            return {"chain_id": int(self.id.split("-")[1]), "signer": self.id.split("-")[2], "pending": []}
        if name == "status":
            return result_type.model_validate(STATUS) if result_type else STATUS
        if name == "roles":
            return self.client.book.model_dump(mode="json")
        if name == "breakers":
            return []
        raise AssertionError(f"unexpected query {name}")

    async def start_update(self, name: str, arg: Any, **_: Any) -> FakeUpdate:
        self.client.updates.append((name, arg))
        if self.client.refuse:
            raise WorkflowUpdateFailedError(ApplicationError(self.client.refuse))
        if self.client.refuse_from and arg.get("signer") == self.client.refuse_from:
            raise WorkflowUpdateFailedError(ApplicationError(f"{arg['signer']} holds no role"))
        return FakeUpdate("paused" if name in ("pause", "resume") else {"ok": True})


class FakeExecution:
    def __init__(self, id: str) -> None:
        self.id = id


class FakeClient:
    def __init__(self, book: RoleBook | None = None, refuse: str = "", refuse_from: str = "") -> None:
        self.book = book or role_book()
        self.refuse = refuse  # every command refused with this reason
        self.refuse_from = refuse_from  # every command claiming this signer refused
        self.queries: list[Any] = []
        self.updates: list[tuple[str, Any]] = []

    def get_workflow_handle(self, id: str) -> FakeHandle:
        return FakeHandle(self, id)

    async def list_workflows(self, query: str, limit: int | None = None) -> Any:
        for id in ("txqueue-1-0xabc", "txqueue-42161-0xabc"):
            yield FakeExecution(id)


def factory(client: FakeClient) -> Any:
    async def make() -> FakeClient:
        return client

    return make


def siwe_login(account: Any, nonce: str, domain: str = DOMAIN, *, issued: datetime | None = None) -> dict[str, str]:
    """The body of POST /auth/login: a SIWE message for `domain` with `nonce`, signed by `account`."""
    issued = issued or datetime.now(UTC)
    message = siwe.SiweMessage(
        domain=domain,
        address=account.address,
        statement="Sign in to the Floor Engine admin API",
        uri=f"http://{domain}",
        version="1",
        chain_id=1,
        nonce=nonce,
        issued_at=issued.isoformat(timespec="seconds").replace("+00:00", "Z"),
        expiration_time=(issued + timedelta(minutes=10)).isoformat(timespec="seconds").replace("+00:00", "Z"),
    ).prepare_message()
    signature = Account.sign_message(encode_defunct(text=message), account.key).signature
    return {"message": message, "signature": "0x" + bytes(signature).hex()}


# ---------------------------------------------------------------------------- the tests


def app_for(fake: FakeClient, tmp_path: Any = None, **api: Any) -> TestClient:
    return TestClient(create_app(settings(tmp_path, **api), factory(fake)))


def login(http: TestClient, account: Any = ADMIN) -> Any:
    nonce = http.get("/auth/nonce").json()["nonce"]
    return http.post("/auth/login", json=siwe_login(account, nonce))


def bearer(http: TestClient, account: Any = ADMIN) -> dict[str, str]:
    answer = login(http, account)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def assert_error(answer: Any, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert "\n" not in body["error"]["message"]
    return str(body["error"]["message"])


def pause_command(account: Any = ADMIN, reason: str = "drill", nonce: int = 1) -> dict[str, Any]:
    domain = command_domain(settings())
    fields = {"nonce": nonce, "deadline": int(time.time()) + 600, "reason": reason}
    return sign_command("pause", fields, account.key, domain).model_dump(mode="json")


def test_sign_in_with_ethereum_opens_a_session_naming_the_address_and_its_role() -> None:
    http = app_for(FakeClient())
    nonce = http.get("/auth/nonce").json()
    assert nonce["domain"] == DOMAIN and len(nonce["nonce"]) >= 8
    answer = http.post("/auth/login", json=siwe_login(ADMIN, nonce["nonce"]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["address"] == ADMIN.address and answer.json()["role"] == "ADMIN"
    assert "floor_session" in answer.cookies
    assert http.get("/status").json()["state"] == "IDLE"  # the cookie is a session too
    viewer = bearer(http, VIEWER)
    http.cookies.clear()
    assert http.get("/status", headers=viewer).status_code == 200


def test_a_nonce_is_good_once_and_only_for_this_domain() -> None:
    http = app_for(FakeClient())
    nonce = http.get("/auth/nonce").json()["nonce"]
    assert http.post("/auth/login", json=siwe_login(ADMIN, nonce)).status_code == 200
    again = http.post("/auth/login", json=siwe_login(ADMIN, nonce))
    assert "nonce" in assert_error(again, 401, "login_failed")
    unknown = http.post("/auth/login", json=siwe_login(ADMIN, "neverissued123"))
    assert_error(unknown, 401, "login_failed")
    nonce = http.get("/auth/nonce").json()["nonce"]
    phished = http.post("/auth/login", json=siwe_login(ADMIN, nonce, domain="evil.example"))
    assert "evil.example" in assert_error(phished, 401, "login_failed")


def test_a_login_signed_by_another_key_or_expired_is_refused() -> None:
    http = app_for(FakeClient())
    nonce = http.get("/auth/nonce").json()["nonce"]
    body = siwe_login(ADMIN, nonce)
    body["signature"] = siwe_login(STRANGER, nonce)["signature"]
    assert_error(http.post("/auth/login", json=body), 401, "login_failed")
    nonce = http.get("/auth/nonce").json()["nonce"]
    old = datetime.now(UTC) - timedelta(hours=1)
    assert_error(http.post("/auth/login", json=siwe_login(ADMIN, nonce, issued=old)), 401, "login_failed")
    garbage = http.post("/auth/login", json={"message": "hello", "signature": "0x00"})
    assert_error(garbage, 401, "login_failed")


def test_reads_need_a_session_of_a_viewer_or_more() -> None:
    fake = FakeClient()
    http = app_for(fake)
    for path in ("/status", "/breakers", "/transactions", "/audit", "/alerts"):
        assert_error(http.get(path), 401, "unauthenticated")
    assert_error(http.get("/status", headers={"Authorization": "Bearer forged.token"}), 401, "unauthenticated")
    assert_error(login(http, STRANGER), 403, "forbidden")  # no role: no session
    headers = bearer(http, VIEWER)
    assert http.get("/status", headers=headers).status_code == 200
    # A role revoked in the engine stops the session's reads within a cache period.
    fake.book = fake.book.revoke(ADMIN.address, VIEWER.address, NOW, "left")
    time.sleep(1.05)
    assert_error(http.get("/status", headers=headers), 403, "forbidden")


def test_a_session_token_is_signed_and_expires() -> None:
    from api.auth import Sessions

    sessions = Sessions(b"k" * 32, ttl_s=60)
    token, session = sessions.open(ADMIN.address, 1000.0)
    assert sessions.read(token, 1000.0) == session
    assert sessions.read(token, 1060.0) is None
    body, _, mac = token.partition(".")
    assert sessions.read(body[:-2] + "xx." + mac, 1000.0) is None
    assert Sessions(b"j" * 32, ttl_s=60).read(token, 1000.0) is None


def test_the_read_endpoints_answer_from_the_engine() -> None:
    http = app_for(FakeClient())
    headers = bearer(http)
    assert http.get("/breakers", headers=headers).json() == {"breakers": []}
    queues = http.get("/transactions", headers=headers).json()["chains"]
    assert [c["chain_id"] for c in queues] == [1, 42161]


def test_the_store_reads_answer_alerts_and_the_audit_log(tmp_path: Any) -> None:
    from floor.access.audit import AuditEntry, AuditRow

    store = Store(f"sqlite:///{tmp_path}/floor.db")
    store.migrate()
    row = AuditRow(at=NOW, workflow_id="engine-floor", signer=ADMIN.address, kind="pause", outcome="accepted")
    store.append_audit([AuditEntry(id="one", row=row)])
    store.raise_alert("low_gas", ADMIN.address, "0.01 ETH", datetime.now(UTC))
    http = app_for(FakeClient(), tmp_path)
    headers = bearer(http)
    rows = http.get("/audit", params={"kind": "pause", "outcome": "accepted"}, headers=headers).json()["rows"]
    assert [r["signer"] for r in rows] == [ADMIN.address]
    assert http.get("/audit", params={"outcome": "refused"}, headers=headers).json()["rows"] == []
    assert http.get("/audit/verify", headers=headers).json()["intact"] is True
    assert [a["kind"] for a in http.get("/alerts", headers=headers).json()["open"]] == ["low_gas"]
    assert_error(http.get("/audit", params={"since": "2026-01-01T00:00:00"}, headers=headers), 422, "invalid_request")


def test_errors_have_one_shape() -> None:
    http = app_for(FakeClient())
    assert_error(http.get("/nowhere"), 404, "not_found")
    assert_error(http.delete("/status"), 405, "method_not_allowed")
    assert_error(http.post("/auth/login", json={"message": 1}), 422, "invalid_request")
    assert_error(http.post("/commands/teleport", json={}), 422, "invalid_request")
    assert_error(http.post("/commands/pause", content=b"[1]"), 400, "bad_request")
    assert_error(http.post("/commands/pause", content=b"{not json"), 400, "bad_request")
    assert_error(http.post("/commands/pause", content=b" " * 1_000_001), 413, "too_large")


def test_a_signed_command_goes_to_the_engine_unchanged() -> None:
    fake = FakeClient()
    http = app_for(fake)
    command = pause_command()
    answer = http.post("/commands/pause", json=command)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"kind": "pause", "answer": "paused"}
    assert fake.updates == [("pause", command)]


def test_a_refused_command_is_a_403_with_the_engines_reason_in_the_audit_log(tmp_path: Any) -> None:
    Store(f"sqlite:///{tmp_path}/floor.db").migrate()
    fake = FakeClient(refuse="signature does not match: it recovers to 0x1, not the claimed signer")
    http = app_for(fake, tmp_path)
    command = pause_command(STRANGER)
    assert "signature does not match" in assert_error(http.post("/commands/pause", json=command), 403, "refused")
    assert_error(http.post("/commands/resume", json={"garbage": True}), 403, "refused")
    rows = Store(f"sqlite:///{tmp_path}/floor.db").audit_rows(outcome="refused")
    assert [(r.kind, r.signer) for r in rows] == [("pause", STRANGER.address), ("resume", "")]
    assert rows[0].reason.startswith("signature does not match") and rows[0].digest.startswith("0x")


def test_reads_are_rate_limited_per_session_with_retry_after() -> None:
    http = app_for(FakeClient(), reads_per_minute=3)
    headers = bearer(http)
    for _ in range(3):
        assert http.get("/status", headers=headers).status_code == 200
    answer = http.get("/status", headers=headers)
    assert_error(answer, 429, "rate_limited")
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert http.get("/status", headers=bearer(http)).status_code == 200  # another session counts its own


def test_commands_are_rate_limited_per_proven_signer() -> None:
    http = app_for(FakeClient(), commands_per_minute=2)
    for nonce in (1, 2):
        assert http.post("/commands/pause", json=pause_command(nonce=nonce)).status_code == 200
    answer = http.post("/commands/pause", json=pause_command(nonce=3))
    assert_error(answer, 429, "rate_limited")
    assert int(answer.headers["Retry-After"]) >= 1
    assert http.post("/commands/pause", json=pause_command(VIEWER)).status_code == 200  # another signer
    # A command claiming the limited signer but signed by another key is not theirs to count.
    forged = pause_command(STRANGER, nonce=4) | {"signer": ADMIN.address}
    assert http.post("/commands/pause", json=forged).status_code == 200


def test_a_burst_of_refused_commands_backs_its_signer_off_and_nobody_else() -> None:
    now = [float(NOW)]
    fake = FakeClient(refuse_from=STRANGER.address)
    app = create_app(settings(commands_per_minute=10_000), factory(fake), clock=lambda: now[0])
    http = TestClient(app)
    bad = pause_command(STRANGER)
    statuses, first_waits = [], []
    for n in range(1000):
        if n == 500:  # another signer, in the middle of the burst: through to the engine
            assert http.post("/commands/pause", json=pause_command(ADMIN)).status_code == 200
        answer = http.post("/commands/pause", json=bad)
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert "backed off" in assert_error(answer, 429, "rate_limited")
            if statuses[-2] == 403:  # a backoff's first answer: its full wait
                first_waits.append(int(answer.headers["Retry-After"]))
        now[0] += 1
    assert statuses[:4] == [403] * 4 and statuses[4] == 429  # FREE_REFUSALS, then the backoff
    assert first_waits == sorted(set(first_waits)) and len(first_waits) >= 5  # each wait longer
    sent = [arg["signer"] for _, arg in fake.updates]
    assert sent.count(STRANGER.address) == statuses.count(403) <= 12
    assert sent.count(ADMIN.address) == 1


def test_a_refused_command_claiming_someone_elses_address_backs_off_the_ip_not_them() -> None:
    fake = FakeClient(refuse="signature does not match")
    http = app_for(fake)
    forged = pause_command(STRANGER) | {"signer": ADMIN.address}
    statuses = [http.post("/commands/pause", json=forged).status_code for _ in range(6)]
    assert statuses == [403] * 4 + [429] * 2
    assert_error(http.post("/commands/resume", json={"garbage": True}), 429, "rate_limited")  # the same IP
    assert_error(http.post("/commands/pause", json=pause_command(ADMIN)), 403, "refused")  # reaches the engine
    assert len(fake.updates) == 5


def test_the_reads_query_the_engine_at_most_once_a_second() -> None:
    fake = FakeClient()
    http = app_for(fake)
    headers = bearer(http)
    start = time.monotonic()
    while time.monotonic() - start < 0.5:
        assert http.get("/status", headers=headers).status_code == 200
    assert fake.queries.count("status") == 1
    time.sleep(1.0)
    http.get("/status", headers=headers)
    assert fake.queries.count("status") == 2


async def test_the_cache_loads_once_for_concurrent_callers_and_not_a_failure() -> None:
    now = [0.0]
    cache = Cache(clock=lambda: now[0])
    calls = []

    async def load() -> int:
        calls.append(1)
        await asyncio.sleep(0.01)
        return len(calls)

    assert await asyncio.gather(*(cache.get("k", 1.0, load) for _ in range(50))) == [1] * 50
    now[0] = 0.99
    assert await cache.get("k", 1.0, load) == 1
    now[0] = 1.0
    assert await cache.get("k", 1.0, load) == 2

    async def fail() -> int:
        raise RuntimeError("down")

    now[0] = 5.0
    with pytest.raises(RuntimeError):
        await cache.get("k", 1.0, fail)
    assert await cache.get("k", 1.0, load) == 3


def test_the_api_port_comes_from_floor_api_port_or_floor_api__port(monkeypatch: Any) -> None:
    assert settings().api.port == 8700
    monkeypatch.setenv("FLOOR_API_PORT", "8801")
    assert settings().api.port == 8801
    monkeypatch.setenv("FLOOR_API__PORT", "8802")
    assert settings().api.port == 8802


def test_the_openapi_schema_names_every_endpoint() -> None:
    paths = app_for(FakeClient()).get("/openapi.json").json()["paths"]
    for path in ("/auth/nonce", "/auth/login", "/status", "/positions", "/risk", "/breakers", "/transactions"):
        assert path in paths
    assert {"/alerts", "/audit", "/audit/verify", "/commands/{kind}"} <= set(paths)


def test_the_api_counts_its_requests_by_route_and_its_refusals_by_code() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    http = app_for(FakeClient())
    assert_error(http.get("/status"), 401, "unauthenticated")  # before signing in (the login sets a cookie)
    assert_error(http.get("/nowhere"), 404, "not_found")
    assert http.get("/status", headers=bearer(http, VIEWER)).status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(http.get("/metrics").text)
        for s in family.samples
    }
    assert samples[("floor_api_requests_total", (("route", "/status"), ("status", "200")))] == 1
    assert samples[("floor_api_requests_total", (("route", "/status"), ("status", "401")))] == 1
    assert samples[("floor_api_requests_total", (("route", "unmatched"), ("status", "404")))] == 1
    assert samples[("floor_api_refusals_total", (("reason", "unauthenticated"),))] == 1
    assert samples[("floor_api_refusals_total", (("reason", "not_found"),))] == 1
    assert not any("forged" in name or "nowhere" in str(labels) for name, labels in samples)  # bounded labels
