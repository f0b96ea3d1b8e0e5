"""The admin API against a real Temporal dev server and engine: a signed command through the
API is accepted, an unsigned or badly signed one is a 403 with the engine's reason (and a row
of the audit log); a session's reads answer from the engine. And the rate limits shared in the
real Redis (127.0.0.1:6379) between two API processes."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from activities.deps import Deps
from api.app import create_app
from client import ensure_engine
from client.signing import signed
from floor.access.roles import Kind
from floor.config import StoreConfig
from floor.store import Store
from tests.integration.engine_helpers import ADMINS, OUTSIDER, engine_settings
from tests.unit.test_api import FakeClient, factory, siwe_login
from tests.unit.test_api import settings as fake_settings
from workers.temporal import build_worker

pytestmark = pytest.mark.integration


def api_client(app, host: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(host, 123))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8700")


async def test_signed_commands_through_the_api_reach_the_engine_which_decides(
    temporal_env, stack, web3s, signer, task_queue, tmp_path
):
    settings = engine_settings(stack, task_queue).model_copy(
        update={"store": StoreConfig(url=f"sqlite:///{tmp_path}/floor.db")}
    )
    store = Store(settings.store.url)
    store.migrate()
    client = temporal_env.client
    admin = ADMINS[0]

    async def temporal():
        return client

    async with build_worker(client, task_queue, Deps(settings, signer, web3s, store=store)):
        await ensure_engine(client, settings)
        app = create_app(settings, temporal)
        async with api_client(app) as http:
            # A session: Sign-In with Ethereum by a founding ADMIN; its reads answer from the engine.
            nonce = (await http.get("/auth/nonce")).json()["nonce"]
            login = await http.post("/auth/login", json=siwe_login(admin, nonce))
            assert login.status_code == 200, login.text
            assert login.json()["role"] == "ADMIN"
            headers = {"Authorization": f"Bearer {login.json()['token']}"}
            status = await http.get("/status", headers=headers)
            assert status.status_code == 200, status.text
            assert status.json()["engine_id"] == settings.engine_id
            assert (await http.get("/breakers", headers=headers)).json() == {"breakers": []}

            # A signed pause, then a signed resume: accepted, passed through unchanged.
            now = int(time.time())
            pause = signed(settings, Kind.PAUSE, {"reason": "api drill"}, admin, now=now).model_dump(mode="json")
            answer = await http.post("/commands/pause", json=pause)
            assert answer.status_code == 200, answer.text
            resume = signed(settings, Kind.RESUME, {"reason": "api drill over"}, admin, now=now)
            answer = await http.post("/commands/resume", json=resume.model_dump(mode="json"))
            assert answer.status_code == 200, answer.text

            # Unsigned, and signed by a key that claims another's address: refused, the engine's reason.
            fields = {"reason": "not mine"}
            unsigned = signed(settings, Kind.REBALANCE, fields, OUTSIDER, now=now).model_dump(mode="json")
            unsigned.pop("signature")
            answer = await http.post("/commands/rebalance", json=unsigned)
            assert answer.status_code == 403, answer.text
            assert answer.json()["error"]["code"] == "refused"
            assert "unsigned" in answer.json()["error"]["message"]
            forged = signed(settings, Kind.REBALANCE, fields, OUTSIDER, now=now).model_dump(mode="json")
            forged["signer"] = admin.address
            answer = await http.post("/commands/rebalance", json=forged)
            assert answer.status_code == 403, answer.text
            assert "signature does not match" in answer.json()["error"]["message"]
            outsider = signed(settings, Kind.REBALANCE, fields, OUTSIDER, now=now).model_dump(mode="json")
            answer = await http.post("/commands/rebalance", json=outsider)
            assert answer.status_code == 403 and "\n" not in answer.json()["error"]["message"]

        # Allocate and request_capital, unsigned and forged the same way: refused, the engine's reason.
        # Each kind from its own IP: the API backs an IP off after a few refused commands (tests/unit).
        capital = {
            "chainId": 1,
            "asset": "USDC",
            "amount": "1",
            "destination": OUTSIDER.address,
            "deliverBy": 0,
            "partial": False,
            "exitPollSeconds": 3600,
            "reason": "not mine",
        }
        allocation = {"amounts": [{"chainId": 1, "asset": "USDC", "amount": "1"}], "reason": "not mine"}
        for host, kind, kind_fields in (
            ("127.0.0.2", Kind.ALLOCATE, allocation),
            ("127.0.0.3", Kind.REQUEST_CAPITAL, capital),
        ):
            unsigned = signed(settings, kind, kind_fields, OUTSIDER, now=now).model_dump(mode="json")
            unsigned.pop("signature")
            forged = signed(settings, kind, kind_fields, OUTSIDER, now=now).model_dump(mode="json")
            forged["signer"] = admin.address
            async with api_client(app, host) as other:
                for command, reason in ((unsigned, "unsigned"), (forged, "signature does not match")):
                    answer = await other.post(f"/commands/{kind.value}", json=command)
                    assert answer.status_code == 403, answer.text
                    error = answer.json()["error"]
                    assert error["code"] == "refused", answer.text
                    assert reason in error["message"] and "\n" not in error["message"], answer.text

        refused = store.audit_rows(outcome="refused")
        assert [(r.kind, r.signer) for r in refused][-7:] == [
            ("rebalance", OUTSIDER.address),
            ("rebalance", admin.address),
            ("rebalance", OUTSIDER.address),
            ("allocate", OUTSIDER.address),
            ("allocate", admin.address),
            ("request_capital", OUTSIDER.address),
            ("request_capital", admin.address),
        ]
        assert all(r.reason for r in refused)
    store.close()


def test_two_api_processes_share_the_command_limit_in_redis():
    limits = {"commands_per_minute": 2, "redis_url": "redis://127.0.0.1:6379"}
    first, second = (
        create_app(fake_settings(**limits), factory(FakeClient())),
        create_app(fake_settings(**limits), factory(FakeClient())),
    )
    key = Account.create(f"api-redis-{uuid.uuid4()}")  # a signer of this run's own: a fresh count
    domain_settings = fake_settings()

    def pause(n: int) -> dict:
        return signed(domain_settings, Kind.PAUSE, {"reason": f"drill {n}"}, key, now=int(time.time())).model_dump(
            mode="json"
        )

    with TestClient(first) as one, TestClient(second) as two:
        assert one.post("/commands/pause", json=pause(1)).status_code == 200
        assert two.post("/commands/pause", json=pause(2)).status_code == 200
        answer = one.post("/commands/pause", json=pause(3))
        assert answer.status_code == 429, answer.text
        assert answer.json()["error"]["code"] == "rate_limited"
        assert int(answer.headers["Retry-After"]) >= 1
