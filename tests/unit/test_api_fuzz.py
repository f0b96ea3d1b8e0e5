"""The admin API's OpenAPI schema, fuzzed (schemathesis): whatever is sent, as a stranger or
with a session, nothing answers a 5xx, and every error has the one shape."""

from __future__ import annotations

import tempfile
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from api.app import create_app
from floor.store import Store
from tests.unit.test_api import FakeClient, bearer, factory
from tests.unit.test_api import settings as api_settings

# A store of its own; limits high enough that the fuzzer meets the endpoints, not the limiter.
STORE = tempfile.mkdtemp(prefix="floor-api-fuzz-")
Store(f"sqlite:///{STORE}/floor.db").migrate()
LIMITS = {"reads_per_minute": 100_000, "commands_per_minute": 100_000, "logins_per_minute": 100_000}
app = create_app(api_settings(STORE, **LIMITS), factory(FakeClient()))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
SESSION = bearer(TestClient(app))


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_5xx(case: Any) -> None:
    check(case, case.call())
    check(case, case.call(headers=SESSION))


def check(case: Any, answer: Any) -> None:
    assert answer.status_code < 500, f"{case.method} {case.formatted_path}: {answer.status_code} {answer.text}"
    if answer.status_code >= 400:
        body = answer.json()
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
