"""The migrations on both databases: empty -> head -> base -> head, and the schema at head is
the tables' metadata (alembic's compare_metadata finds nothing)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from floor.store import Store, metadata

TABLES = {
    "position_snapshot",
    "rate_observation",
    "tx_journal",
    "engine_event",
    "discrepancy",
    "alert",
    "breaker_event",
    "signed_tx",
    "watchdog_cursor",
    "chain_mark",
}


def differences(store: Store, target: sa.MetaData = metadata) -> list:
    with store.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), target)


def tables(store: Store) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names()) - {"alembic_version"}


def test_empty_to_head_to_base_to_head(store_url: str) -> None:
    with Store(store_url) as store:
        head = ScriptDirectory.from_config(store.alembic_config()).get_current_head()
        assert head == "0004"
        assert store.current_revision() is None and tables(store) == set()
        store.migrate()
        assert store.current_revision() == head and tables(store) == TABLES
        assert differences(store) == []
        store.migrate()  # at head: nothing to do
        store.downgrade()
        assert store.current_revision() is None and tables(store) == set()
        store.migrate()
        assert store.current_revision() == head
        assert differences(store) == []


def test_the_comparison_would_see_a_difference(store: Store) -> None:
    # So an empty comparison above means something: a changed uint256 column and a missing
    # table are both found.
    changed = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["position_snapshot"].c.amount.type = sa.BigInteger()
    sa.Table("extra", changed, sa.Column("id", sa.Integer, primary_key=True))
    found = differences(store, changed)
    assert any(d[0] == "add_table" and d[1].name == "extra" for d in found if isinstance(d, tuple))
    assert any(isinstance(d, list) and d[0][0] == "modify_type" and d[0][3] == "amount" for d in found)
