"""The `store` fixture: every store test runs on SQLite (a file in tmp_path) and on PostgreSQL
(127.0.0.1:5432, user postgres, trust auth): one throwaway database `floor_test_<random>` per
session, one schema per test. Without a server the PostgreSQL runs are skipped, unless
FLOOR_REQUIRE_POSTGRES=1 (CI), where they fail."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from floor.store import Store

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@dataclass
class Postgres:
    database: str
    conn: psycopg.Connection  # to that database, autocommit

    def url(self, schema: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.database}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        admin = psycopg.connect(ADMIN, autocommit=True)
    except psycopg.OperationalError as e:
        why = f"PostgreSQL at 127.0.0.1:5432 is unreachable: {str(e).strip()}"
        if os.environ.get("FLOOR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{why} (and FLOOR_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip(why)
    name = f"floor_test_{secrets.token_hex(4)}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            with psycopg.connect(ADMIN.replace("dbname=postgres", f"dbname={name}"), autocommit=True) as conn:
                yield Postgres(name, conn)
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """The URL of an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/floor.db"
        return
    pg: Postgres = request.getfixturevalue("postgres")
    schema = f"t_{secrets.token_hex(6)}"
    pg.conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield pg.url(schema)
    finally:
        pg.conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store."""
    with Store(store_url) as s:
        s.migrate()
        yield s
