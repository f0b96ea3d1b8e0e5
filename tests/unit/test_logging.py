"""JSON log lines, bound fields, and secret redaction."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator

import pytest
import structlog

from floor.logging import (
    REDACTED,
    configure_logging,
    get_logger,
    redact_url,
    register_secret,
    register_url_secrets,
    scrub,
)

KEY = "0x8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63"


@pytest.fixture
def buf() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    structlog.contextvars.clear_contextvars()
    for h in list(logging.getLogger().handlers):
        if getattr(h, "_floor_engine_handler", False):
            logging.getLogger().removeHandler(h)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_bound_fields(buf: io.StringIO) -> None:
    log = get_logger(chain_id=1, workflow_id="wf-42")
    log.info("deposit planned", amount=1_000_000, tx_hash="0xabc")
    log.bind(market="aave-v3/USDC").warning("drift")
    [first, second] = lines(buf)
    assert first["event"] == "deposit planned"
    assert first["chain_id"] == 1 and first["workflow_id"] == "wf-42"
    assert first["amount"] == 1_000_000 and first["tx_hash"] == "0xabc"
    assert first["level"] == "info"
    assert first["timestamp"].endswith("Z")
    assert first["logger"] == __name__
    assert second["market"] == "aave-v3/USDC" and second["level"] == "warning"


def test_level_filters(buf: io.StringIO) -> None:
    configure_logging("WARNING", stream=buf)
    log = get_logger()
    log.info("hidden")
    log.error("shown")
    assert [line["event"] for line in lines(buf)] == ["shown"]


def test_reconfigure_is_idempotent(buf: io.StringIO) -> None:
    configure_logging("INFO", stream=buf)
    configure_logging("INFO", stream=buf)
    get_logger().info("once")
    assert len(lines(buf)) == 1


def test_registered_key_redacted_everywhere(buf: io.StringIO) -> None:
    register_secret(KEY)
    log = get_logger(chain_id=1)
    log.info(f"loaded {KEY}", nested={"list": [KEY[2:].upper(), 1]}, plain=KEY[2:])
    try:
        raise RuntimeError(f"signing failed with key {KEY}")
    except RuntimeError:
        log.exception("sign error")
    out = buf.getvalue()
    assert KEY[2:].lower() not in out.lower()
    first, second = lines(buf)
    assert first["event"] == f"loaded {REDACTED}"
    assert first["nested"] == {"list": [REDACTED, 1]}
    assert first["plain"] == REDACTED
    assert "RuntimeError: signing failed with key [REDACTED]" in second["exception"]


def test_stdlib_logging_is_json_and_redacted(buf: io.StringIO) -> None:
    register_secret(KEY)
    structlog.contextvars.bind_contextvars(workflow_id="wf-7")
    std = logging.getLogger("temporalio.worker")
    std.warning("activity failed: %s", KEY)
    try:
        raise ValueError(KEY)
    except ValueError:
        std.exception("boom")
    out = buf.getvalue()
    assert KEY[2:] not in out
    first, second = lines(buf)
    assert first["logger"] == "temporalio.worker"
    assert first["event"] == f"activity failed: {REDACTED}"
    assert first["workflow_id"] == "wf-7"
    assert "ValueError: [REDACTED]" in second["exception"]


def test_secret_named_fields_redacted(buf: io.StringIO) -> None:
    get_logger().info("cfg", private_key="abc", keystore_password="pw", settings={"mnemonic": "a b c"}, name="ok")
    [line] = lines(buf)
    assert line["private_key"] == REDACTED
    assert line["keystore_password"] == REDACTED
    assert line["settings"] == {"mnemonic": REDACTED}
    assert line["name"] == "ok"


def test_short_secrets_ignored(buf: io.StringIO) -> None:
    register_secret("info")
    get_logger().info("info message")
    [line] = lines(buf)
    assert line["event"] == "info message"


def test_secret_in_object_repr(buf: io.StringIO) -> None:
    register_secret("hunter2-long-password")
    get_logger().info("failed", error=ValueError("bad hunter2-long-password"))
    assert "hunter2-long-password" not in buf.getvalue()


def test_console_renderer_also_redacts(buf: io.StringIO) -> None:
    register_secret(KEY)
    configure_logging("INFO", json=False, stream=buf)
    get_logger(chain_id=1).info("key is %s", KEY)
    out = buf.getvalue()
    assert "key is [REDACTED]" in out and "chain_id=1" in out


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://eth-mainnet.g.alchemy.com/v2/AbCdEf0123456789AbCdEf0123456789",
            f"https://eth-mainnet.g.alchemy.com/{REDACTED}",
        ),
        ("https://mainnet.infura.io/v3/0123456789abcdef?x=1", f"https://mainnet.infura.io/{REDACTED}"),
        ("https://rpc.example.com?apikey=k", f"https://rpc.example.com/{REDACTED}"),
        ("https://user:pass@rpc.example.com:8443/", f"https://rpc.example.com:8443/{REDACTED}"),
        ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
        ("http://127.0.0.1:8545/", "http://127.0.0.1:8545"),
        ("not a url/with-a-key", REDACTED),
        ("http://[::1/with-a-key", REDACTED),  # unparsable
    ],
)
def test_redact_url_keeps_scheme_and_host_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_url_secrets_are_scrubbed_from_any_text(buf: io.StringIO) -> None:
    path_key, query_key, password = secrets.token_hex(16), secrets.token_urlsafe(20), secrets.token_hex(10)
    url = f"https://user:{password}@eth.example.com/v2/{path_key}?apikey={query_key}&network=mainnet"
    register_url_secrets(url)
    assert scrub(f"POST {url} failed") == f"POST https://{REDACTED}@eth.example.com{REDACTED} failed"
    assert scrub(f"key {path_key}, then {query_key.upper()}") == f"key {REDACTED}, then {REDACTED}"
    get_logger().warning("rpc failed", url=url, detail=f"apikey={query_key}")
    assert path_key not in buf.getvalue() and query_key not in buf.getvalue() and password not in buf.getvalue()


def test_url_secrets_leave_ordinary_words_alone() -> None:
    # Long enough for register_secret (8+), too short to be an API key (16+).
    register_url_secrets("https://operator:pw@rpc.example.com/ethereum/arbitrum-one?network=mainnet-beta&chain=1")
    text = "operator:pw ethereum arbitrum-one network=mainnet-beta chain=1 /ethereum/arbitrum-one"
    assert scrub(text) == text
