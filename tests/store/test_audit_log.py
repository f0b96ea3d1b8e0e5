"""The audit log on both databases: appended in one chain by writers at once, once per entry id,
read with filters; the database refuses to change or remove a row; and a row changed anyway
(the triggers off, as someone with the database's own rights can) is named by `verify_audit`."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Executable, text
from sqlalchemy.exc import DBAPIError

from floor.access.audit import GENESIS, AuditEntry, AuditRow, ChainEnd, chain_rows, row_hash
from floor.store import AuditLogRow, Store, StoreError

OPERATOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
T0 = 1_800_000_000  # 2027-01-15T08:00:00Z


def entry(id: str, at: int = T0, *, signer: str = OPERATOR, kind: str = "allocate", outcome: str = "accepted"):
    row = AuditRow(
        at=at,
        workflow_id="engine-floor",
        signer=signer,
        role="OPERATOR" if signer == OPERATOR else "ADMIN",
        kind=kind,
        digest="0x" + "ab" * 32,
        outcome=outcome,
        reason="" if outcome == "accepted" else "rate limited",
    )
    return AuditEntry(id=id, row=row)


def five(store: Store) -> list[AuditRow]:
    return store.append_audit([entry(f"wf/{i}", T0 + i) for i in range(1, 6)])


def as_attacker(store: Store, *statements: str | Executable) -> None:
    """Run ``statements`` on audit_log with its triggers off, as the table's owner or the SQLite
    file's can: PostgreSQL's disabled for the transaction, SQLite's dropped."""
    with store.engine.begin() as connection:
        if store.dialect == "postgresql":
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        for statement in statements:
            connection.execute(text(statement) if isinstance(statement, str) else statement)
        if store.dialect == "postgresql":
            connection.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


def forged(seq: int, prev: str) -> dict:
    """A row whose hash is right for its fields, written by someone who knows the algorithm."""
    row = chain_rows([entry("forged", T0 + 99, signer=ADMIN, kind="grant_role").row], ChainEnd(seq - 1, prev))[0]
    return {"entry_id": f"forged-{seq}", **row.model_dump()}


def insert(values: dict) -> Executable:
    return AuditLogRow.__table__.insert().values(**values)


def test_append_chains_rows_after_the_head_and_lists_them_with_filters(store: Store) -> None:
    assert store.audit_head() == ChainEnd(0, GENESIS) and store.verify_audit() is None
    first = five(store)
    more = store.append_audit(
        [
            entry("wf/6", T0 + 6, signer=ADMIN, kind="grant_role"),
            entry("wf/7", T0 + 7, kind="rebalance", outcome="refused"),
        ]
    )
    rows = first + more
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert rows[0].prev == GENESIS and all(b.prev == a.hash for a, b in itertools.pairwise(rows))
    assert all(r.hash == row_hash(r) for r in rows)
    assert store.audit_head() == ChainEnd(7, rows[-1].hash) and store.verify_audit() is None

    assert store.audit_rows() == rows  # oldest first
    assert store.audit_rows(limit=2) == rows[-2:]  # the latest
    assert [r.seq for r in store.audit_rows(signer=ADMIN.lower())] == [6]
    assert [r.seq for r in store.audit_rows(kind="rebalance")] == [7]
    assert [r.seq for r in store.audit_rows(outcome="refused")] == [7]
    since, until = datetime.fromtimestamp(T0 + 2, UTC), datetime.fromtimestamp(T0 + 5, UTC)
    assert [r.seq for r in store.audit_rows(since=since, until=until)] == [2, 3, 4]  # from since on, before until
    assert [r.seq for r in store.audit_rows(signer=OPERATOR, outcome="accepted", limit=3)] == [3, 4, 5]


def test_an_entry_appended_again_returns_its_row_and_appends_nothing(store: Store) -> None:
    first = store.append_audit([entry("wf/1"), entry("wf/2", T0 + 1)])
    again = store.append_audit([entry("wf/2", T0 + 1), entry("wf/3", T0 + 2), entry("wf/3", T0 + 2)])
    assert again[0] == first[1]  # the stored row, not a new one
    assert again[1] == again[2] and again[1].seq == 3
    # Even with other fields (a retry that read another time): the id decides.
    assert store.append_audit([entry("wf/1", T0 + 50, outcome="refused")]) == [first[0]]
    assert [r.seq for r in store.audit_rows()] == [1, 2, 3] and store.verify_audit() is None
    assert store.append_audit([]) == []


def test_writers_at_once_keep_one_unbroken_chain(store_url: str) -> None:
    """Four writers (each its own Store, as separate processes would be), each retrying some of
    its appends, and a reader verifying the whole time: one chain, every entry once, and no
    verification ever takes a row appended meanwhile for a broken chain."""
    with Store(store_url) as store:
        store.migrate()
    writers, appends = 4, 15
    failures: list[BaseException] = []
    verdicts: list[object] = []
    done = threading.Event()

    def write(n: int) -> None:
        try:
            with Store(store_url) as mine:
                for i in range(appends):
                    batch = [entry(f"w{n}/{i}/a", T0 + i), entry(f"w{n}/{i}/b", T0 + i, kind="harvest")]
                    mine.append_audit(batch)
                    if i % 5 == 0:
                        mine.append_audit(batch)  # a retried activity
        except BaseException as e:  # reported below, in the test's thread
            failures.append(e)

    def verify() -> None:
        with Store(store_url) as mine:
            while not done.is_set():
                verdicts.append(mine.verify_audit())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    reader = threading.Thread(target=verify)
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    reader.join()
    assert failures == []
    assert verdicts and set(verdicts) == {None}
    with Store(store_url) as store:
        rows = store.audit_rows(limit=1000)
        assert [r.seq for r in rows] == list(range(1, writers * appends * 2 + 1))
        assert store.verify_audit() is None and store.audit_head() == ChainEnd(len(rows), rows[-1].hash)


def test_the_database_refuses_to_change_or_remove_a_row(store: Store) -> None:
    five(store)
    for statement in (
        "UPDATE audit_log SET reason = 'nothing happened' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 5",
        "UPDATE audit_head SET seq = 4",  # the head only moves forward
        "DELETE FROM audit_head",
    ):
        with pytest.raises(DBAPIError, match="append-only|only moves forward"), store.engine.begin() as c:
            c.execute(text(statement))
    if store.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as c:
            c.execute(text("TRUNCATE audit_log"))
    assert len(store.audit_rows()) == 5 and store.verify_audit() is None


def test_a_row_edited_by_hand_is_named(store: Store) -> None:
    five(store)
    as_attacker(store, "UPDATE audit_log SET outcome = 'refused', reason = 'nothing to see' WHERE seq = 3")
    assert store.verify_audit() == (3, "row 3: its fields do not match its hash (edited)")


def test_a_row_edited_with_its_hash_recomputed_breaks_the_next_link(store: Store) -> None:
    rows = five(store)
    edited = rows[2].model_copy(update={"reason": "forged"})
    as_attacker(
        store,
        text("UPDATE audit_log SET reason = 'forged', hash = :hash WHERE seq = 3").bindparams(hash=row_hash(edited)),
    )
    bad = store.verify_audit()
    assert bad is not None and bad.row == 4 and "does not follow the row before" in bad.why


def test_a_deleted_row_is_named(store: Store) -> None:
    five(store)
    as_attacker(store, "DELETE FROM audit_log WHERE seq = 3")
    bad = store.verify_audit()
    assert bad is not None and bad.row == 4 and bad.why.startswith("row 4: does not follow the row before")


def test_a_row_inserted_after_the_head_is_named(store: Store) -> None:
    rows = five(store)
    as_attacker(store, insert(forged(6, rows[-1].hash)))  # a valid link: only the head shows it
    assert store.verify_audit() == (6, "row 6: after the head (row 5), not appended by the store (inserted)")


def test_a_row_inserted_inside_with_the_rest_rewritten_is_caught_at_the_head(store: Store) -> None:
    rows = five(store)
    # Row 3 replaced by a forged one and rows 4 and 5 chained again after it: every link holds.
    rest = chain_rows([r.model_copy(update={"seq": 0}) for r in rows[3:]], ChainEnd(3, forged(3, rows[1].hash)["hash"]))
    as_attacker(
        store,
        "DELETE FROM audit_log WHERE seq >= 3",
        insert(forged(3, rows[1].hash)),
        *(insert({"entry_id": f"again-{r.seq}", **r.model_dump()}) for r in rest),
    )
    assert store.verify_audit() == (5, "row 5: not the row the head recorded (the chain was rewritten up to it)")


def test_rows_cut_from_the_end_are_named(store: Store) -> None:
    five(store)
    as_attacker(store, "DELETE FROM audit_log WHERE seq >= 4")
    assert store.verify_audit() == (4, "rows 4 to 5 are missing: the head is row 5 (rows cut from the end)")
    as_attacker(store, "DELETE FROM audit_log")
    assert store.verify_audit() == (1, "rows 1 to 5 are missing: the head is row 5 (rows cut from the end)")


def test_without_its_head_the_log_is_broken_and_takes_no_row(store: Store) -> None:
    five(store)
    with store.engine.begin() as connection:
        if store.dialect == "postgresql":
            connection.execute(text("ALTER TABLE audit_head DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_head_no_delete"))
        connection.execute(text("DELETE FROM audit_head"))
    bad = store.verify_audit()
    assert bad is not None and bad.row == 6 and "head row is missing" in bad.why
    assert store.audit_head() is None
    with pytest.raises(StoreError, match="head row is missing"):
        store.append_audit([entry("wf/6")])


def test_the_role_book_mirror_is_replaced_whole_per_engine(store):
    from floor.access.roles import Grant, Role, RoleBook

    admin, operator = "0x" + "11" * 20, "0x" + "22" * 20
    founded = RoleBook(members={admin: Grant(role=Role.ADMIN, granted_by="config", granted_at=1)})
    assert store.roles("engine-a").members == {}
    store.mirror_roles("engine-a", founded)
    store.mirror_roles("engine-b", founded)
    grown = RoleBook(
        members={
            **founded.members,
            operator: Grant(role=Role.OPERATOR, name="ops", granted_by=admin, granted_at=2, reason="rota"),
        }
    )
    store.mirror_roles("engine-a", grown)
    assert store.roles("engine-a") == grown
    store.mirror_roles("engine-a", founded)  # a revocation: the member is gone
    assert store.roles("engine-a") == founded and store.roles("engine-b") == founded
