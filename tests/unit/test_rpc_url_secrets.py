"""RPC URLs' keys are registered with the log redactor wherever a URL enters the engine."""

from __future__ import annotations

import secrets

from pydantic import TypeAdapter

from floor.chain.rpc import FallbackHTTPProvider
from floor.config import HttpUrl
from floor.logging import REDACTED, scrub


def test_the_config_registers_an_rpc_urls_key() -> None:
    key = secrets.token_hex(16)
    url = TypeAdapter(HttpUrl).validate_python(f"https://eth.example.com/v3/{key}")
    assert scrub(f"failed: {key}") == f"failed: {REDACTED}"
    assert url.endswith(key)  # the URL itself is kept whole: only its text in messages goes


def test_a_provider_registers_its_urls_keys() -> None:
    keys = [secrets.token_hex(16) for _ in range(2)]
    FallbackHTTPProvider([f"https://a.example.com/{keys[0]}", f"https://b.example.com/?key={keys[1]}"])
    assert scrub(" ".join(keys)) == f"{REDACTED} {REDACTED}"
