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

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, create_engine, event, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.exc import StatementError
from sqlmodel import Session

from floor.access.audit import GENESIS, AuditEntry, AuditRow, BadRow, ChainEnd, chain_rows, verify_chain
from floor.access.roles import Grant, RoleBook
from floor.config import Settings, StoreConfig
from floor.store.errors import DiscrepancyAlreadyAccepted, StoreError, UnknownDiscrepancy, UnstorableValue
from floor.store.tables import (
    Alert,
    AuditHead,
    AuditLogRow,
    BreakerEventRow,
    ChainMarkRow,
    Discrepancy,
    EngineEvent,
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
        with self._engine.begin() as connection:
            if self.dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            step(self.alembic_config(connection), revision)

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

    def latest_snapshot(self, chain_id: int) -> dict[str, PositionSnapshot]:
        """Per market of ``chain_id`` its newest recorded position: highest block, then the one
        taken last."""
        p = PositionSnapshot.__table__.c
        rank = (
            func.row_number()
            .over(partition_by=p.market, order_by=(p.block_number.desc(), p.taken_at.desc(), p.id.desc()))
            .label("rank")
        )
        newest = select(p.id, rank).where(p.chain_id == chain_id).subquery()
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

    # ------------------------------------------------------------ reads

    def _all(self, stmt: Any) -> list[Any]:
        with self._session() as session:
            return list(session.scalars(stmt))


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
