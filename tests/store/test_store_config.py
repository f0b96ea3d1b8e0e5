"""`[store]` in the config: the default, PostgreSQL by URL, the password never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from floor.config import ConfigError, Settings, StoreConfig, load_settings
from floor.logging import REDACTED, scrub
from floor.store import Store

CHAIN = {"id": 1, "name": "ethereum", "rpc_urls": ["https://rpc.example.invalid"]}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FLOOR_"):
            monkeypatch.delenv(name)


def test_default_is_sqlite_under_state() -> None:
    assert Settings(chains=[CHAIN]).store.url == "sqlite:///state/floor.db"
    assert load_settings(ROOT / "floor.example.toml").store.url == "sqlite:///state/floor.db"


def test_postgresql_from_the_environment_password_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://floor:c0rrect-h0rse@db.internal:5432/floor"
    monkeypatch.setenv("FLOOR_STORE__URL", url)
    settings = Settings(chains=[CHAIN])
    assert settings.store.url == url
    shown = scrub(f"cannot connect to {url}")
    assert "c0rrect-h0rse" not in shown and REDACTED in shown
    with Store.from_settings(settings) as store:
        assert "c0rrect-h0rse" not in repr(store)


def test_an_unsupported_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "floor.toml"
    path.write_text(
        '[[chains]]\nid = 1\nname = "ethereum"\nrpc_urls = ["https://rpc.example.invalid"]\n'
        '[store]\nurl = "mysql://floor:b4ttery-st4ple@db/floor"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.problems == [
        "store.url: must be sqlite:///<path> or postgresql+psycopg://<user>@<host>/<db> (got scheme 'mysql')"
    ]
    assert "b4ttery" not in str(info.value)
    assert scrub("b4ttery-st4ple") == REDACTED  # a mistyped URL's password is scrubbed too


@pytest.mark.parametrize(
    "url",
    ["sqlite:///state/floor.db", "sqlite:////var/lib/floor.db", "postgres://u@h/d", "postgresql://u@h/d"],
)
def test_accepted_urls(url: str) -> None:
    assert StoreConfig(url=url).url == url
