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
    "audit_log",
    "audit_head",
    "role_member",
    "market_mark",
    "gauge_value",
    "metric_event",
    "exit_drill_run",
    "exit_drill_exit",
}


def differences(store: Store, target: sa.MetaData = metadata) -> list:
    with store.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), target)


def tables(store: Store) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names()) - {"alembic_version"}


def test_empty_to_head_to_base_to_head(store_url: str) -> None:
    with Store(store_url) as store:
        head = ScriptDirectory.from_config(store.alembic_config()).get_current_head()
        assert head == "0010"
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


def test_0005_keeps_the_newest_open_discrepancy_of_a_market_and_closes_the_rest(store_url: str) -> None:
    """Before 0005 every run opened a discrepancy of its own for the same market: the newest
    stays open, the older ones are closed as superseded (who and why), so the index holds."""
    from alembic import command

    from floor.store import Discrepancy
    from tests.store.test_store import USDC, VAULT, disc

    with Store(store_url) as store:
        store._alembic(command.upgrade, "0004")
        store._record(Discrepancy, [disc("run-1", VAULT), disc("run-2", VAULT), disc("run-2", USDC)], None)
        store.migrate()
        rows = {(d.run_id, d.market): d for d in store.discrepancies()}
        old, new = rows[("run-1", VAULT)], rows[("run-2", VAULT)]
        assert (new.status, rows[("run-2", USDC)].status) == ("open", "open")
        assert (old.status, old.accepted_by) == ("accepted", "migration 0005")
        assert old.accepted_reason.startswith(f"superseded by #{new.id}") and old.accepted_at is not None


def _migrate(url: str) -> None:
    Store(url).migrate()


def test_two_processes_migrating_one_new_sqlite_file_both_succeed(tmp_path) -> None:
    """Two workers (or a worker and the exporter) starting together on a new store."""
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'floor.db'}"
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_migrate, args=(url,)) for _ in range(3)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0]
    assert Store(url).current_revision() == "0010"
