"""The engine's store: what operators, risk and audits need over time (position snapshots, rate
observations, the transaction journal, engine events, discrepancies, alerts).

Temporal holds the state of running workflows; this holds the record. It is written only from
activities and processes, never from workflow code: workflows must not import it.

SQLite by default (``sqlite:///state/floor.db``), PostgreSQL by URL
(``postgresql+psycopg://user@host/db``). Synchronous: one SQLAlchemy engine per `Store`, one
session per call. Every write inserts with ON CONFLICT DO NOTHING on the table's natural key,
so a retried activity writes nothing twice; the ``record_*`` methods answer how many rows were
new. The schema comes from the Alembic migrations in ``floor/store/migrations``: call
`Store.migrate` at start-up.

The URL may carry a password: it is registered with the log redactor and never logged; the
store shows itself with the password hidden.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    case,
    create_engine,
    event,
    func,
    literal,
    not_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.exc import StatementError
from sqlmodel import Session

from floor.access.audit import GENESIS, AuditEntry, AuditRow, BadRow, ChainEnd, chain_rows, verify_chain
from floor.access.roles import Grant, RoleBook
from floor.config import Settings, StoreConfig
from floor.exit_drill import ChainDrill, DrilledExit
from floor.store.errors import DiscrepancyAlreadyAccepted, StoreError, UnknownDiscrepancy, UnstorableValue
from floor.store.tables import (
    Alert,
    AuditHead,
    AuditLogRow,
    BreakerEventRow,
    ChainMarkRow,
    Discrepancy,
    EngineEvent,
    ExitDrillExit,
    ExitDrillRun,
    GaugeValue,
    MarketMark,
    MetricEvent,
    PositionSnapshot,
    RateObservation,
    RoleMemberRow,
    SignedTx,
    StoreTable,
    TxJournal,
    WatchdogCursor,
    decode_effects,
    encode_effects,
    metadata,
)
from floor.store.types import SignedAmount, Uint256, UtcDateTime

__all__ = [
    "Alert",
    "AuditLogRow",
    "ChainMarkRow",
    "Discrepancy",
    "DiscrepancyAlreadyAccepted",
    "EngineEvent",
    "ExitDrillExit",
    "ExitDrillRun",
    "GaugeValue",
    "MarketMark",
    "MetricEvent",
    "PositionSnapshot",
    "RateObservation",
    "SignedAmount",
    "SignedTx",
    "Store",
    "StoreError",
    "TxJournal",
    "Uint256",
    "UnknownDiscrepancy",
    "UnstorableValue",
    "UtcDateTime",
    "WatchdogCursor",
    "decode_effects",
    "encode_effects",
    "metadata",
]

MIGRATIONS = Path(__file__).parent / "migrations"
_CHUNK = 500  # rows per INSERT: well under SQLite's and PostgreSQL's bound-parameter limits
_MIGRATION_LOCK = 0x466C6F6F7253746F  # "FloorSto": one migrating process at a time on PostgreSQL

T = TypeVar("T", bound=StoreTable)


class Store:
    """The store at ``url`` (a SQLAlchemy URL). A relative SQLite path is relative to the
    working directory; its folder is created. ``postgresql://`` means psycopg 3."""

    def __init__(self, url: str) -> None:
        # The config's check: a supported database, and the password scrubbed from every log
        # line from now on.
        try:
            url = StoreConfig(url=url).url
        except ValidationError as e:
            raise StoreError(f"store url: {e.errors()[0]['msg']}") from None
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend in ("postgresql", "postgres"):
            if "+" not in parsed.drivername:  # psycopg 3 is what the engine installs
                parsed = parsed.set(drivername="postgresql+psycopg")
            backend = "postgresql"
        if backend == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self._engine = create_engine(parsed)
            event.listen(self._engine, "connect", _sqlite_pragmas)
        else:
            self._engine = create_engine(parsed, pool_pre_ping=True)
        self._insert = postgresql_insert if backend == "postgresql" else sqlite_insert

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(settings.store.url)

    def __repr__(self) -> str:
        return f"Store({self._engine.url.render_as_string(hide_password=True)!r})"

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------ migrations

    def alembic_config(self, connection: Connection | None = None) -> Config:
        """Alembic's configuration for this store, without an alembic.ini: the migrations
        folder, this store's URL and, when given, the connection to run on. A new revision:
        ``alembic.command.revision(store.alembic_config(), message=..., autogenerate=True)``
        against a database at head."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("path_separator", "os")
        # ConfigParser interpolates "%": a URL-encoded password has them.
        url = self._engine.url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (nothing to do when it is there)."""
        self._alembic(command.upgrade, "head")

    def downgrade(self, revision: str = "base") -> None:
        """Downgrade the schema to ``revision``; ``base`` drops every table of the store."""
        self._alembic(command.downgrade, revision)

    def current_revision(self) -> str | None:
        """The schema's revision, None before the first migration."""
        with self._engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def _alembic(self, step: Callable[[Config, str], None], revision: str) -> None:
        with self._sqlite_migration_lock(), self._engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            step(self.alembic_config(connection), revision)

    @contextmanager
    def _sqlite_migration_lock(self) -> Iterator[None]:
        """Two processes starting on one new SQLite file (two workers, a worker and the
        exporter) migrate it one after the other: a lock file beside it. PostgreSQL's
        migrations take an advisory lock instead."""
        database = self._engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # ------------------------------------------------------------ sessions and writes

    @contextmanager
    def _session(self) -> Iterator[Session]:
        """One session, committed at the end; a value its column refused comes out as itself
        (`UnstorableValue`), not wrapped in SQLAlchemy's StatementError."""
        with Session(self._engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except StatementError as e:
                if isinstance(e.orig, UnstorableValue):
                    raise e.orig from None
                raise

    def _record(self, table: type[StoreTable], rows: Sequence[StoreTable], key: Sequence[str] | None) -> int:
        """Insert ``rows`` of ``table``, skipping any whose ``key`` (any unique key when None)
        is stored already, in one transaction. How many were new."""
        values = [_values(table, row) for row in rows]
        if not values:
            return 0
        # One statement, compiled once and cached, executed for many parameter sets: far
        # cheaper than compiling a fresh multi-row VALUES each call.
        stmt = self._insert(table.__table__).on_conflict_do_nothing(index_elements=list(key) if key else None)
        written = 0
        with self._session() as session:
            for start in range(0, len(values), _CHUNK):
                # An INSERT's rowcount is kept only when asked for: the rows it did insert.
                written += _rowcount(
                    session.execute(stmt, values[start : start + _CHUNK], execution_options={"preserve_rowcount": True})
                )
        return written

    # ------------------------------------------------------------ positions and rates

    def record_snapshot(self, rows: Sequence[PositionSnapshot]) -> int:
        """Record positions read at one block; keyed by (snapshot_id, market)."""
        return self._record(PositionSnapshot, rows, ("snapshot_id", "market"))

    def latest_snapshot(
        self, chain_id: int, leaving_out: Collection[tuple[int, str]] = ()
    ) -> dict[str, PositionSnapshot]:
        """Per market of ``chain_id`` its newest recorded position: highest block, then the one
        taken last. Snapshots of the blocks in ``leaving_out`` ((number, hash): blocks a reorg
        replaced) are not considered."""
        p = PositionSnapshot.__table__.c
        rank = (
            func.row_number()
            .over(partition_by=p.market, order_by=(p.block_number.desc(), p.taken_at.desc(), p.id.desc()))
            .label("rank")
        )
        known = func.coalesce(p.block_hash, "")  # a snapshot without a hash is never left out
        stale = [and_(p.block_number == number, known == block_hash) for number, block_hash in leaving_out]
        newest = select(p.id, rank).where(p.chain_id == chain_id, *(not_(s) for s in stale)).subquery()
        stmt = select(PositionSnapshot).join(newest, p.id == newest.c.id).where(newest.c.rank == 1)
        with self._session() as session:
            return {row.market: row for row in session.scalars(stmt)}

    def record_rates(self, rows: Sequence[RateObservation]) -> int:
        """Record growth-index observations; keyed by (market, block_number)."""
        return self._record(RateObservation, rows, ("market", "block_number"))

    # ------------------------------------------------------------ transactions

    def record_transactions(self, rows: Sequence[TxJournal]) -> int:
        """Journal mined transactions; keyed by (chain_id, tx_hash)."""
        return self._record(TxJournal, rows, ("chain_id", "tx_hash"))

    def transactions_since(self, chain_id: int, block_number: int) -> list[TxJournal]:
        """Transactions on ``chain_id`` mined after ``block_number`` (strictly: a position read
        at a block already includes that block's transactions), in block and nonce order."""
        t = TxJournal.__table__.c
        stmt = (
            select(TxJournal)
            .where(t.chain_id == chain_id, t.block_number > block_number)
            .order_by(t.block_number, t.nonce, t.id)
        )
        return self._all(stmt)

    def transactions_of(self, operation_id: str) -> list[TxJournal]:
        """The transactions of one operation (its workflow id), in chain, block and nonce order."""
        t = TxJournal.__table__.c
        stmt = select(TxJournal).where(t.operation_id == operation_id).order_by(t.chain_id, t.block_number, t.nonce)
        return self._all(stmt)

    def record_signed(self, rows: Sequence[SignedTx]) -> int:
        """Record transactions the queue signed (before they are broadcast); keyed by
        (chain_id, tx_hash)."""
        return self._record(SignedTx, rows, ("chain_id", "tx_hash"))

    def known_transactions(self, chain_id: int, hashes: Sequence[str]) -> set[str]:
        """Those of ``hashes`` (any case) the engine signed or journalled on ``chain_id``,
        lowercase: what the watchdog takes for the engine's own."""
        wanted = sorted({h.lower() for h in hashes})
        if not wanted:
            return set()
        s, j = SignedTx.__table__.c, TxJournal.__table__.c
        stmt = (
            select(s.tx_hash)
            .where(s.chain_id == chain_id, s.tx_hash.in_(wanted))
            .union(select(j.tx_hash).where(j.chain_id == chain_id, func.lower(j.tx_hash).in_(wanted)))
        )
        with self._session() as session:
            return {h.lower() for h in session.scalars(stmt)}

    # ------------------------------------------------------------ the watchdog's cursor

    def watchdog_cursor(self, chain_id: int, executor: str) -> int | None:
        """The last block the watchdog handled for ``executor``; None before its first pass."""
        c = WatchdogCursor.__table__.c
        stmt = select(c.block_number).where(c.chain_id == chain_id, c.executor == executor)
        with self._session() as session:
            return session.scalars(stmt).first()

    def set_watchdog_cursor(self, chain_id: int, executor: str, block_number: int, at: datetime) -> None:
        """Move the watchdog's cursor for ``executor`` to ``block_number`` (one upsert)."""
        at = UtcDateTime().check(at, "updated_at")
        values = {"chain_id": chain_id, "executor": executor, "block_number": block_number, "updated_at": at}
        stmt = self._insert(WatchdogCursor.__table__).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["chain_id", "executor"], set_={"block_number": block_number, "updated_at": at}
        )
        with self._session() as session:
            session.execute(stmt)

    # ------------------------------------------------------------ the chains as the engine knew them

    def record_chain_mark(
        self,
        chain_id: int,
        block_number: int,
        block_hash: str,
        genesis_hash: str,
        at: datetime,
        *,
        note: str = "",
        force: bool = False,
    ) -> bool:
        """Remember a final block of ``chain_id`` (one row per chain). A mark of the same
        genesis below the one stored is ignored (a slower reader), unless ``force`` (an
        operator accepting the chain as it is now). True when the row changed."""
        values = {
            "chain_id": chain_id,
            "block_number": block_number,
            "block_hash": block_hash.lower(),
            "genesis_hash": genesis_hash.lower(),
            "seen_at": UtcDateTime().check(at, "seen_at"),
            "note": note,
        }
        table = ChainMarkRow.__table__
        stmt = self._insert(table).values(**values)
        newer = (stmt.excluded.block_number >= table.c.block_number) | (
            stmt.excluded.genesis_hash != table.c.genesis_hash
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["chain_id"],
            set_={k: v for k, v in values.items() if k != "chain_id"},
            where=None if force else newer,
        )
        with self._session() as session:
            return _rowcount(session.execute(stmt, execution_options={"preserve_rowcount": True})) == 1

    def chain_marks(self) -> dict[int, ChainMarkRow]:
        """The remembered block of every chain that has one."""
        return {row.chain_id: row for row in self._all(select(ChainMarkRow))}

    def journal_to_check(self, chain_id: int, limit: int) -> list[TxJournal]:
        """Journalled transactions on ``chain_id`` not yet found final (newest first): what a
        reconciliation checks the chain still holds."""
        t = TxJournal.__table__.c
        stmt = (
            select(TxJournal)
            .where(t.chain_id == chain_id, t.chain_state == "pending")
            .order_by(t.block_number.desc(), t.id.desc())
            .limit(limit)
        )
        return self._all(stmt)

    def set_chain_state(self, chain_id: int, tx_hash: str, state: str, canonical_block: int | None = None) -> bool:
        """What the chain holds of a journalled transaction: "pending", "final" or "gone" (and
        the block its receipt is in now). True when the row exists."""
        t = TxJournal.__table__.c
        values: dict[str, Any] = {"chain_state": state}
        if canonical_block is not None:
            values["canonical_block"] = canonical_block
        stmt = (
            update(TxJournal.__table__)
            .where(t.chain_id == chain_id, func.lower(t.tx_hash) == tx_hash.lower())
            .values(**values)
        )
        with self._session() as session:
            return _rowcount(session.execute(stmt)) >= 1

    # ------------------------------------------------------------ engine events

    def record_engine_events(self, rows: Sequence[EngineEvent]) -> int:
        """Record state-machine transitions; keyed by (engine_id, at, to_state, cause)."""
        return self._record(EngineEvent, rows, ("engine_id", "at", "to_state", "cause"))

    # ------------------------------------------------------------ circuit breakers

    def record_breaker_events(self, rows: Sequence[BreakerEventRow]) -> int:
        """Record breaker changes; keyed by (engine_id, scope, at, to_state)."""
        return self._record(BreakerEventRow, rows, ("engine_id", "scope", "at", "to_state"))

    def breaker_events(
        self, engine_id: str, scope: str | None = None, limit: int | None = None
    ) -> list[BreakerEventRow]:
        """The engine's breaker changes (of one scope when given; the latest `limit`), oldest first."""
        b = BreakerEventRow.__table__.c
        stmt = select(BreakerEventRow).where(b.engine_id == engine_id)
        if scope is not None:
            stmt = stmt.where(b.scope == scope)
        if limit is None:
            return self._all(stmt.order_by(b.at, b.id))
        return self._all(stmt.order_by(b.at.desc(), b.id.desc()).limit(limit))[::-1]

    def rate_windows(self, markets: Sequence[str], since: datetime) -> dict[str, list[RateObservation]]:
        """Each market's rate observations from `since` on (by their blocks' time), oldest
        first, in one query: the history the circuit breakers compare a reading with."""
        r = RateObservation.__table__.c
        stmt = select(RateObservation).where(r.market.in_(list(markets)), r.timestamp >= since)
        out: dict[str, list[RateObservation]] = {m: [] for m in markets}
        for row in self._all(stmt.order_by(r.block_number)):
            out[row.market].append(row)
        return out

    # ------------------------------------------------------------ discrepancies

    def record_discrepancies(self, rows: Sequence[Discrepancy]) -> list[Discrepancy]:
        """Record what a reconciliation run found: one open discrepancy per market. A market
        with one open already has it updated with this run's figures (expected, actual,
        difference, bps, block, growth index, detail, `found_at`), keeping its id and the run
        that found it first; else a new row, keyed by (run_id, market), so a retried run adds
        nothing. Answers the stored rows, with their ids, in the order given: each market's
        open row (a retry of a run whose row was accepted since: that row, as stored)."""
        if not rows:
            return []
        table = Discrepancy.__table__
        d = table.c
        figures: tuple[str, ...] = (
            "asset",
            "decimals",
            "expected",
            "actual",
            "difference",
            "relative_bps",
            "block_number",
        )
        figures += ("growth_index", "found_at", "detail")
        insert = self._insert(table).on_conflict_do_nothing()  # any key: (run_id, market) or the open one
        with self._session() as session:
            for row in rows:
                values = _values(Discrepancy, row)
                open_row = (d.market == row.market) & (d.status == "open")
                changed = session.execute(update(table).where(open_row).values({k: values[k] for k in figures}))
                if not _rowcount(changed):
                    session.execute(insert, values)
        markets = {row.market for row in rows}
        stmt = select(Discrepancy).where(
            d.market.in_(markets), (d.status == "open") | d.run_id.in_({row.run_id for row in rows})
        )
        with self._session() as session:
            stored = list(session.scalars(stmt))
        opened = {row.market: row for row in stored if row.status == "open"}
        by_run = {(row.run_id, row.market): row for row in stored}
        return [opened.get(row.market) or by_run[(row.run_id, row.market)] for row in rows]

    def discrepancy(self, id: int) -> Discrepancy | None:
        with self._session() as session:
            return session.get(Discrepancy, id)

    def accepted_discrepancies(self, limit: int = 100) -> list[Discrepancy]:
        """The latest discrepancies operators accepted (who, why, when), oldest first."""
        d = Discrepancy.__table__.c
        stmt = select(Discrepancy).where(d.status == "accepted").order_by(d.accepted_at.desc(), d.id.desc())
        return self._all(stmt.limit(limit))[::-1]

    def open_discrepancies(self) -> list[Discrepancy]:
        d = Discrepancy.__table__.c
        return self._all(select(Discrepancy).where(d.status == "open").order_by(d.id))

    def discrepancies(self, run_id: str | None = None) -> list[Discrepancy]:
        """Every discrepancy, accepted ones included (of one run when given), by id."""
        d = Discrepancy.__table__.c
        stmt = select(Discrepancy).order_by(d.id)
        return self._all(stmt if run_id is None else stmt.where(d.run_id == run_id))

    def accept_discrepancy(self, id: int, by: str, reason: str, *, at: datetime | None = None) -> Discrepancy:
        """Mark discrepancy ``id`` accepted by ``by`` for ``reason`` (required), at ``at`` (now).
        Refused, naming the id, when it is unknown or was accepted before."""
        by, reason = by.strip(), reason.strip()
        if not reason:
            raise StoreError(f"discrepancy {id}: a reason is required to accept it")
        if not by:
            raise StoreError(f"discrepancy {id}: say who accepts it")
        at = UtcDateTime().check(at or datetime.now(UTC), "accepted_at")
        d = Discrepancy.__table__.c
        stmt = (
            update(Discrepancy.__table__)
            .where(d.id == id, d.status == "open")
            .values(status="accepted", accepted_by=by, accepted_reason=reason, accepted_at=at)
        )
        with self._session() as session:
            changed = _rowcount(session.execute(stmt))
            row = session.get(Discrepancy, id)
            if row is None:
                raise UnknownDiscrepancy(f"no discrepancy {id}")
            if not changed:
                when = row.accepted_at.isoformat() if row.accepted_at else "?"
                raise DiscrepancyAlreadyAccepted(
                    f"discrepancy {id} was accepted already, by {row.accepted_by} at {when}: {row.accepted_reason}"
                )
            return row

    # ------------------------------------------------------------ alerts

    def raise_alert(self, kind: str, subject: str, detail: str, at: datetime) -> bool:
        """Raise an alert of ``kind`` about ``subject``. False when one of that kind and subject is
        open already (or this one was recorded before): at most one open alert per pair."""
        row = Alert(kind=kind, subject=subject, detail=detail, raised_at=at)
        return self._record(Alert, [row], None) == 1

    def open_alerts(self) -> list[Alert]:
        a = Alert.__table__.c
        return self._all(select(Alert).where(a.resolved_at.is_(None)).order_by(a.raised_at, a.id))

    def resolve_alert(self, kind: str, subject: str, at: datetime) -> bool:
        """Resolve the open alert of ``kind`` about ``subject`` at ``at``. False when none is open."""
        a = Alert.__table__.c
        at = UtcDateTime().check(at, "resolved_at")
        stmt = (
            update(Alert.__table__)
            .where(a.kind == kind, a.subject == subject, a.resolved_at.is_(None))
            .values(resolved_at=at)
        )
        with self._session() as session:
            return _rowcount(session.execute(stmt)) == 1

    def alerts_of(self, kinds: Sequence[str], limit: int = 100) -> list[Alert]:
        """The latest alerts of these kinds, open or resolved, oldest first."""
        a = Alert.__table__.c
        rows = self._all(
            select(Alert).where(a.kind.in_(list(kinds))).order_by(a.raised_at.desc(), a.id.desc()).limit(limit)
        )
        return rows[::-1]

    def resettle_transaction(self, chain_id: int, previous_hash: str, record: Any) -> int:
        """A journaled transaction a reorg took out, mined again (`record`, a TxRecord): the
        journal follows the chain (same row, same effects; the hash changes when it was
        re-signed). Repeating it changes nothing. Returns the rows updated."""
        t = TxJournal.__table__.c
        stmt = (
            update(TxJournal.__table__)
            .where(t.chain_id == chain_id, func.lower(t.tx_hash) == previous_hash.lower())
            .values(
                tx_hash=record.tx_hash,
                nonce=record.nonce,
                block_number=record.block_number,
                gas_used=record.gas_used,
                effective_gas_price=record.effective_gas_price,
                status=record.status,
            )
        )
        with self._session() as session:
            return _rowcount(session.execute(stmt))

    # ------------------------------------------------------------ the audit log

    def append_audit(self, entries: Sequence[AuditEntry]) -> list[AuditRow]:
        """Append ``entries`` to the audit log in one transaction: each row numbered and chained
        after the head (its ``seq``, ``prev`` and ``hash`` as given are ignored), the head moved
        to the last. The head is locked first (PostgreSQL: ``SELECT ... FOR UPDATE``; SQLite:
        the write lock, ``BEGIN IMMEDIATE``), so writers at once append one after the other. An
        entry whose id was appended before (a retry) appends nothing: its stored row comes back.
        Answers the stored rows in the order given."""
        if not entries:
            return []
        log, head = AuditLogRow.__table__, AuditHead.__table__
        ids = list(dict.fromkeys(entry.id for entry in entries))
        with self._engine.connect() as connection:
            if self.dialect == "sqlite":  # the write lock before the head is read, not at the first insert
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            end = connection.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1).with_for_update()).first()
            if end is None:
                raise StoreError("the audit log's head row is missing: see `floor audit verify`")
            stored = {r.entry_id: _audit_row(r) for r in connection.execute(select(log).where(log.c.entry_id.in_(ids)))}
            new = {entry.id: entry.row for entry in entries if entry.id not in stored}  # a repeated id: its first
            chained = dict(zip(new, chain_rows(new.values(), ChainEnd(end.seq, end.hash)), strict=True))
            if chained:
                connection.execute(log.insert(), [{"entry_id": id, **row.model_dump()} for id, row in chained.items()])
                last = list(chained.values())[-1]
                connection.execute(update(head).where(head.c.id == 1).values(seq=last.seq, hash=last.hash))
            connection.commit()
        stored |= chained
        return [stored[entry.id] for entry in entries]

    def audit_rows(
        self,
        signer: str | None = None,
        kind: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditRow]:
        """The latest ``limit`` rows of the audit log that match (a signer in any case; from
        ``since`` on, before ``until``), oldest first."""
        c = AuditLogRow.__table__.c
        stmt = select(AuditLogRow.__table__)
        if signer is not None:
            stmt = stmt.where(func.lower(c.signer) == signer.lower())
        if kind is not None:
            stmt = stmt.where(c.kind == kind)
        if outcome is not None:
            stmt = stmt.where(c.outcome == outcome)
        if since is not None:
            stmt = stmt.where(c.at >= _seconds(since, "since"))
        if until is not None:
            stmt = stmt.where(c.at < _seconds(until, "until"))
        with self._engine.connect() as connection:
            rows = connection.execute(stmt.order_by(c.seq.desc()).limit(limit))
            return [_audit_row(r) for r in rows][::-1]

    def mirror_roles(self, engine_id: str, book: RoleBook) -> None:
        """Replace the engine's mirrored role book with `book`, in one transaction."""
        table = RoleMemberRow.__table__
        rows = [
            {"engine_id": engine_id, "address": address, **grant.model_dump(mode="json")}
            for address, grant in book.members.items()
        ]
        with self._engine.begin() as connection:
            connection.execute(table.delete().where(table.c.engine_id == engine_id))
            if rows:
                connection.execute(table.insert(), rows)

    def roles(self, engine_id: str) -> RoleBook:
        """The engine's role book as last mirrored (empty before its first change)."""
        c = RoleMemberRow.__table__.c
        with self._engine.connect() as connection:
            rows = connection.execute(select(RoleMemberRow.__table__).where(c.engine_id == engine_id)).all()
        return RoleBook(
            members={
                r.address: Grant(
                    role=r.role, name=r.name, granted_by=r.granted_by, granted_at=r.granted_at, reason=r.reason
                )
                for r in rows
            }
        )

    def audit_head(self) -> ChainEnd | None:
        """The audit log's head: the seq and hash of its last row (0 and GENESIS while empty);
        None when the head row is gone."""
        h = AuditHead.__table__.c
        with self._engine.connect() as connection:
            end = connection.execute(select(h.seq, h.hash).where(h.id == 1)).first()
        return None if end is None else ChainEnd(end.seq, end.hash)

    def verify_audit(self, page: int = 5000) -> BadRow | None:
        """Recompute the whole audit log's chain, and check it ends at the head: the first row
        that breaks it and why, None when every row is as appended. Here `BadRow.row` is the bad
        row's seq as stored (for rows cut from the end, the first one missing). Read from one
        snapshot, so rows appended meanwhile are not taken for inserted ones."""
        log, h = AuditLogRow.__table__, AuditHead.__table__.c
        with self._engine.connect() as connection:
            if self.dialect == "postgresql":
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            else:  # pysqlite begins no transaction for reads: begin one, the first read takes the snapshot
                connection.exec_driver_sql("BEGIN")
            stored = connection.execute(select(h.seq, h.hash).where(h.id == 1)).first()
            head = None if stored is None else ChainEnd(stored.seq, stored.hash)
            last = ChainEnd(0, GENESIS)
            at_head = GENESIS if head is not None and head.seq == 0 else None  # the hash of the row at head.seq
            while True:
                stmt = select(log).where(log.c.seq > last.seq).order_by(log.c.seq).limit(page)
                rows = [_audit_row(r) for r in connection.execute(stmt)]
                if not rows:
                    break
                bad = verify_chain(rows, last)
                if bad is not None:
                    return BadRow(rows[bad.row].seq, bad.why)
                at_head = next((r.hash for r in rows if head is not None and r.seq == head.seq), at_head)
                last = ChainEnd(rows[-1].seq, rows[-1].hash)
        return _audit_end(last, head, at_head)

    # ------------------------------------------------------------ metrics (what `floor-exporter` renders)

    def record_market_marks(self, rows: Sequence[MarketMark]) -> int:
        """Record markets as a reconciliation read them at one block; keyed by (market, block_number)."""
        return self._record(MarketMark, rows, ("market", "block_number"))

    def latest_market_marks(self, chain_ids: Sequence[int] | None = None) -> list[MarketMark]:
        """Per chain (of ``chain_ids``, or every chain with marks) the rows of the latest block
        recorded for it, by chain and market. Given the chains, each latest block is one index
        lookup however long the history."""
        m = MarketMark.__table__.c
        with self._session() as session:
            if chain_ids is None:
                chain_ids = list(session.scalars(select(m.chain_id).distinct()))
            rows: list[MarketMark] = []
            for chain_id in sorted(set(chain_ids)):
                latest = select(func.max(m.block_number)).where(m.chain_id == chain_id).scalar_subquery()
                stmt = select(MarketMark).where(m.chain_id == chain_id, m.block_number == latest).order_by(m.market)
                rows.extend(session.scalars(stmt))
            return rows

    def set_gauges(self, rows: Sequence[GaugeValue]) -> None:
        """Store the latest value of each gauge (one row per name and labels, upserted in one
        transaction); a reading older than the one stored is ignored."""
        if not rows:
            return
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            if not isinstance(row, GaugeValue):
                raise TypeError(f"expected GaugeValue rows, got {type(row).__name__}")
            at = UtcDateTime().check(row.at, f"gauge_value.at of {row.name}")
            values = {"name": row.name, "labels": row.labels, "value": float(row.value), "at": at}
            before = latest.get((row.name, row.labels))
            if before is None or before["at"] <= at:
                latest[(row.name, row.labels)] = values
        table = GaugeValue.__table__
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name", "labels"],
            set_={"value": stmt.excluded.value, "at": stmt.excluded.at},
            where=stmt.excluded.at >= table.c.at,
        )
        with self._session() as session:
            session.execute(stmt, list(latest.values()))

    def gauges(self, names: Sequence[str] | None = None) -> list[GaugeValue]:
        """The stored gauges (of ``names`` when given), by name and labels."""
        g = GaugeValue.__table__.c
        stmt = select(GaugeValue).order_by(g.name, g.labels)
        return self._all(stmt if names is None else stmt.where(g.name.in_(list(names))))

    def record_metric_events(self, rows: Sequence[MetricEvent]) -> int:
        """Record counter increments and histogram observations; keyed by (name, key)."""
        return self._record(MetricEvent, rows, ("name", "key"))

    def metric_sums(self, names: Sequence[str] | None = None) -> dict[tuple[str, str], tuple[int, float]]:
        """Per (name, labels) of the recorded events: how many, and the sum of their values."""
        e = MetricEvent.__table__.c
        stmt = select(e.name, e.labels, func.count(), func.sum(e.value)).group_by(e.name, e.labels)
        if names is not None:
            stmt = stmt.where(e.name.in_(list(names)))
        with self._engine.connect() as connection:
            return {(r[0], r[1]): (int(r[2]), float(r[3] or 0.0)) for r in connection.execute(stmt)}

    def metric_buckets(self, name: str, bounds: Sequence[float]) -> dict[str, list[int]]:
        """Per labels of the events of ``name``: for each bound, how many values are at most it
        (a histogram's cumulative buckets, +Inf left out: `metric_sums` has the count)."""
        e = MetricEvent.__table__.c
        bucket = _bucket(e.value, bounds)
        stmt = select(e.labels, bucket, func.count()).where(e.name == name).group_by(e.labels, bucket)
        with self._engine.connect() as connection:
            return _cumulative(connection.execute(stmt), len(bounds))

    def metric_totals(
        self, bounds: Mapping[str, Sequence[float]], after: int = 0, upto: int | None = None
    ) -> tuple[int, dict[tuple[str, str], tuple[list[int], int, float]]]:
        """Of the events after id ``after`` (up to ``upto``), in one query: how many, and per
        (name, labels) the cumulative counts per bound of ``bounds[name]`` (none for a name not
        in it: a counter), the count and the sum. What `metric_sums` and `metric_buckets`
        answer, for id ranges that add up."""
        e = MetricEvent.__table__.c
        histograms = {name: list(b) for name, b in bounds.items() if b}
        bucket: Any = literal(0)
        if histograms:
            bucket = case(
                *((e.name == name, _bucket(e.value, b)) for name, b in histograms.items()),
                else_=0,
            )
        stmt = select(e.name, e.labels, bucket, func.count(), func.sum(e.value)).where(e.id > after)
        if upto is not None:
            stmt = stmt.where(e.id <= upto)
        stmt = stmt.group_by(e.name, e.labels, bucket)
        rows = 0
        per: dict[tuple[str, str], tuple[list[int], int, float]] = {}
        with self._engine.connect() as connection:
            for name, labels, index, count, total in connection.execute(stmt):
                rows += int(count)
                b = histograms.get(name, [])
                counts, n, sum_ = per.get((name, labels), ([0] * (len(b) + 1), 0, 0.0))
                counts[int(index)] += int(count)
                per[name, labels] = (counts, n + int(count), sum_ + float(total or 0.0))
        return rows, {key: (list(_running(c[:-1])), n, t) for key, (c, n, t) in per.items()}

    def table_marks(self) -> dict[str, tuple[int, int]]:
        """For the tables that grow by appending (metric_event, signed_tx, tx_journal, audit_log):
        (rows, highest id), in one query. A reader that aggregates one of them may keep its
        answer while its mark stays the same: a row committed late under a lower id still
        changes the count. (The journal's updates, a transaction's chain state or its hash after
        a reorg, change neither its nonce nor when it was journalled.)"""
        parts = [
            select(literal(table.__tablename__), func.count(), func.coalesce(func.max(column), 0))
            for table, column in (
                (MetricEvent, MetricEvent.__table__.c.id),
                (SignedTx, SignedTx.__table__.c.id),
                (TxJournal, TxJournal.__table__.c.id),
                (AuditLogRow, AuditLogRow.__table__.c.seq),
            )
        ]
        with self._engine.connect() as connection:
            return {r[0]: (int(r[1]), int(r[2])) for r in connection.execute(union_all(*parts))}

    def engine_state(self, engine_id: str) -> tuple[EngineEvent, datetime | None] | None:
        """The engine's latest recorded transition, and, when it is paused, since when (its first
        transition to PAUSED after the last one out of it); None before any."""
        e = EngineEvent.__table__.c
        latest = select(EngineEvent).where(e.engine_id == engine_id).order_by(e.at.desc(), e.id.desc()).limit(1)
        with self._session() as session:
            row = session.scalars(latest).first()
            if row is None or row.to_state != "PAUSED":
                return None if row is None else (row, None)
            left = select(func.max(e.at)).where(e.engine_id == engine_id, e.to_state != "PAUSED").scalar_subquery()
            since = select(func.min(e.at)).where(
                e.engine_id == engine_id, e.to_state == "PAUSED", (e.at > left) | left.is_(None)
            )
            return row, session.scalars(since).first() or row.at

    def breaker_states(self, engine_id: str) -> dict[str, str]:
        """The engine's breakers: per scope, the state of its latest change."""
        b = BreakerEventRow.__table__.c
        rank = func.row_number().over(partition_by=b.scope, order_by=(b.at.desc(), b.id.desc())).label("rank")
        ranked = select(b.scope, b.to_state, rank).where(b.engine_id == engine_id).subquery()
        stmt = select(ranked.c.scope, ranked.c.to_state).where(ranked.c.rank == 1)
        with self._engine.connect() as connection:
            return {r.scope: r.to_state for r in connection.execute(stmt)}

    def open_discrepancy_counts(self) -> dict[int, int]:
        """Per chain, the discrepancies open."""
        d = Discrepancy.__table__.c
        stmt = select(d.chain_id, func.count()).where(d.status == "open").group_by(d.chain_id)
        with self._engine.connect() as connection:
            return {int(r[0]): int(r[1]) for r in connection.execute(stmt)}

    def open_alert_counts(self) -> dict[str, int]:
        """Per kind, the alerts open."""
        a = Alert.__table__.c
        stmt = select(a.kind, func.count()).where(a.resolved_at.is_(None)).group_by(a.kind)
        with self._engine.connect() as connection:
            return {r[0]: int(r[1]) for r in connection.execute(stmt)}

    def refusal_counts(self, after: int = 0, upto: int | None = None) -> tuple[int, dict[tuple[str, str], int]]:
        """Of the audit log's rows after seq ``after`` (up to ``upto``): how many, and the
        refused commands among them per (kind, reason as written)."""
        c = AuditLogRow.__table__.c
        refused = case((c.outcome == "refused", 1), else_=0)
        stmt = select(c.kind, c.reason, func.count(), func.sum(refused)).where(c.seq > after).group_by(c.kind, c.reason)
        if upto is not None:
            stmt = stmt.where(c.seq <= upto)
        rows, out = 0, {}
        with self._engine.connect() as connection:
            for kind, reason, count, refusals in connection.execute(stmt):
                rows += int(count)
                if refusals:
                    out[kind, reason] = int(refusals)
        return rows, out

    def signed_versions(self, after: int = 0, upto: int | None = None) -> tuple[int, dict[int, tuple[int, int]]]:
        """Of the transactions the queue signed after id ``after`` (up to ``upto``): how many,
        and per chain (replacements, cancels). A cancel is a later version of a nonce sent from
        the signer to itself; a replacement, any other later version. Each row finds an
        earlier version of its nonce by index, so the counts of id ranges add up."""
        s = SignedTx.__table__.c
        earlier = SignedTx.__table__.alias("earlier")
        e = earlier.c
        later = (
            select(e.id).where(e.chain_id == s.chain_id, e.signer == s.signer, e.nonce == s.nonce, e.id < s.id).exists()
        )
        in_range = [s.id > after] if upto is None else [s.id > after, s.id <= upto]
        version = (
            select(
                s.chain_id.label("chain_id"),
                case((later, 1), else_=0).label("later"),
                case((func.lower(s.to) == func.lower(s.signer), 1), else_=0).label("to_self"),
            )
            .where(*in_range)
            .cte("version")
            .prefix_with("MATERIALIZED")
        )
        v = version.c
        cancel = case(((v.later == 1) & (v.to_self == 1), 1), else_=0)
        replacement = case(((v.later == 1) & (v.to_self == 0), 1), else_=0)
        stmt = select(v.chain_id, func.count(), func.sum(replacement), func.sum(cancel)).group_by(v.chain_id)
        rows, out = 0, {}
        with self._engine.connect() as connection:
            for chain_id, count, replacements, cancels in connection.execute(stmt):
                rows += int(count)
                out[int(chain_id)] = (int(replacements or 0), int(cancels or 0))
        return rows, out

    def inclusion_buckets(
        self, bounds: Sequence[float], after: int = 0, upto: int | None = None
    ) -> tuple[int, dict[int, tuple[list[int], int, float]]]:
        """Of the journal's rows after id ``after`` (up to ``upto``): how many, and per chain
        their time to inclusion (from the first signing of their nonce to the receipt's
        journalling, in seconds) as a histogram: cumulative counts per bound, the count and the
        sum. Transactions the queue did not sign count as rows but not in the histogram. Each
        journal row finds its signed version and its nonce's first signing by index."""
        s, j = SignedTx.__table__.c, TxJournal.__table__.c
        first_of = SignedTx.__table__.alias("first_of")
        f = first_of.c
        first = (
            select(func.min(f.signed_at))
            .where(f.chain_id == s.chain_id, f.signer == s.signer, f.nonce == s.nonce)
            .scalar_subquery()
        )
        rows_of = (
            select(j.chain_id.label("chain_id"), self._seconds_between(first, j.recorded_at).label("seconds"))
            .select_from(TxJournal.__table__)
            .outerjoin(SignedTx.__table__, (s.chain_id == j.chain_id) & (s.tx_hash == func.lower(j.tx_hash)))
            .where(j.id > after)
        )
        if upto is not None:
            rows_of = rows_of.where(j.id <= upto)
        # Materialized: each row's seconds computed once, not once per bucket that reads them.
        timed = rows_of.cte("timed").prefix_with("MATERIALIZED")
        t = timed.c
        seconds = case((t.seconds < 0, 0.0), else_=t.seconds)  # a clock behind: never below 0
        bucket = case((t.seconds.is_(None), -1), else_=_bucket(seconds, bounds))
        stmt = select(t.chain_id, bucket, func.count(), func.sum(seconds)).group_by(t.chain_id, bucket)
        rows = 0
        counts: dict[int, list[int]] = {}
        totals: dict[int, tuple[int, float]] = {}
        with self._engine.connect() as connection:
            found = connection.execute(stmt).all()
        for chain_id, index, count, total in found:
            rows += int(count)
            if int(index) < 0:  # not signed by the queue
                continue
            per = counts.setdefault(int(chain_id), [0] * (len(bounds) + 1))
            per[int(index)] += int(count)
            n, sum_ = totals.get(int(chain_id), (0, 0.0))
            totals[int(chain_id)] = (n + int(count), sum_ + float(total or 0.0))
        return rows, {c: (list(_running(per[:-1])), *totals[c]) for c, per in counts.items()}

    def _seconds_between(self, start: Any, end: Any) -> Any:
        """SQL for ``end - start`` in seconds (two timestamps)."""
        if self.dialect == "postgresql":
            return func.extract("epoch", end - start)
        # SQLite keeps the UTC wall time as text: julianday reads it, in days.
        return (func.julianday(end) - func.julianday(start)) * 86400.0

    # ------------------------------------------------------------ exit drills

    def record_exit_drill(self, drill: ChainDrill) -> int:
        """Record one chain's exit drill and its exits; keyed by (run_id, chain_id) and (run_id,
        market, action), so a retried write adds nothing. How many rows were new."""
        run = ExitDrillRun(**drill.model_dump(exclude={"exits"}))
        exits = [ExitDrillExit(run_id=drill.run_id, chain_id=drill.chain_id, **e.model_dump()) for e in drill.exits]
        return self._record(ExitDrillRun, [run], ("run_id", "chain_id")) + self._record(
            ExitDrillExit, exits, ("run_id", "market", "action")
        )

    def latest_exit_drills(self, chain_ids: Sequence[int] | None = None) -> list[ChainDrill]:
        """Per chain (of ``chain_ids``, or every chain drilled) its latest drill, by chain."""
        r, x = ExitDrillRun.__table__.c, ExitDrillExit.__table__.c
        rank = func.row_number().over(partition_by=r.chain_id, order_by=(r.drilled_at.desc(), r.id.desc()))
        newest = select(r.id, rank.label("rank"))
        if chain_ids is not None:
            newest = newest.where(r.chain_id.in_(sorted(set(chain_ids))))
        ranked = newest.subquery()
        stmt = select(ExitDrillRun).join(ranked, r.id == ranked.c.id).where(ranked.c.rank == 1).order_by(r.chain_id)
        out = []
        with self._session() as session:
            for run in session.scalars(stmt).all():
                rows = session.scalars(
                    select(ExitDrillExit).where(x.run_id == run.run_id, x.chain_id == run.chain_id).order_by(x.id)
                )
                exits = [
                    DrilledExit.model_validate(row.model_dump(exclude={"id", "run_id", "chain_id"})) for row in rows
                ]
                out.append(ChainDrill(**run.model_dump(exclude={"id"}), exits=exits))
        return out

    # ------------------------------------------------------------ reads

    def _all(self, stmt: Any) -> list[Any]:
        with self._session() as session:
            return list(session.scalars(stmt))


def _bucket(value: Any, bounds: Sequence[float]) -> Any:
    """SQL for the index of the first bound ``value`` is at most (len(bounds): above them all)."""
    if not bounds:
        return literal(0)
    return case(*((value <= float(bound), i) for i, bound in enumerate(bounds)), else_=len(bounds))


def _running(counts: Sequence[int]) -> Iterator[int]:
    total = 0
    for count in counts:
        total += count
        yield total


def _cumulative(rows: Any, buckets: int) -> dict[str, list[int]]:
    """(labels, bucket index, count) rows as cumulative counts per labels, one per bound."""
    per: dict[str, list[int]] = {}
    for labels, index, count in rows:
        per.setdefault(labels, [0] * (buckets + 1))[int(index)] += int(count)
    return {labels: list(_running(counts[:-1])) for labels, counts in per.items()}


def _rowcount(result: Result[Any]) -> int:
    """The rows an INSERT, UPDATE or DELETE changed: their results are cursor results, which
    `Session.execute`'s declared type does not say."""
    return cast(CursorResult[Any], result).rowcount


def _audit_row(stored: Any) -> AuditRow:
    """A stored row as it is, unchecked: a row edited by hand must reach the hash check, not fail
    a field's validation."""
    return AuditRow.model_construct(**{k: v for k, v in stored._mapping.items() if k != "entry_id"})


def _audit_end(last: ChainEnd, head: ChainEnd | None, at_head: str | None) -> BadRow | None:
    """Whether a chain that verified row by row, ending at ``last``, ends at the stored
    ``head`` (``at_head``: the hash of its row at the head's seq, when there is one)."""
    if head is None:
        return BadRow(last.seq + 1, "the audit log's head row is missing (deleted by hand): the end cannot be checked")
    if last == head:
        return None
    if last.seq < head.seq:
        missing = f"row {head.seq} is" if last.seq + 1 == head.seq else f"rows {last.seq + 1} to {head.seq} are"
        return BadRow(last.seq + 1, f"{missing} missing: the head is row {head.seq} (rows cut from the end)")
    if last.seq > head.seq and at_head == head.hash:
        return BadRow(
            head.seq + 1, f"row {head.seq + 1}: after the head (row {head.seq}), not appended by the store (inserted)"
        )
    return BadRow(head.seq, f"row {head.seq}: not the row the head recorded (the chain was rewritten up to it)")


def _seconds(at: datetime, where: str) -> int:
    return int(UtcDateTime().check(at, where).timestamp())


def _values(table: type[T], row: T) -> dict[str, Any]:
    """``row``'s columns to insert, the store's id left out, exact types checked by column name."""
    if not isinstance(row, table):
        raise TypeError(f"expected {table.__name__} rows, got {type(row).__name__}")
    sa_table = table.__table__
    values: dict[str, Any] = {}
    for column in sa_table.columns:
        if column.primary_key:
            continue
        value = getattr(row, column.key)
        check = getattr(column.type, "check", None)
        if value is not None and check is not None:
            check(value, f"{sa_table.name}.{column.name}")
        values[column.name] = value
    return values


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL: the CLI reads while the worker writes; a writer waits for another up to 5 s.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
