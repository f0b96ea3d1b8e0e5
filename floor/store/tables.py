"""The store's tables (sqlmodel). Each has a natural key, a unique constraint, so a retried
activity writes nothing twice: the store inserts with ON CONFLICT DO NOTHING on it.

Amounts are exact (`Uint256`, `SignedAmount`), timestamps aware and in UTC (`UtcDateTime`).
A market is named by its registry key, "<chain id>:<protocol>:<market>" (`AdapterKey`'s str,
e.g. "1:aave-v3:USDC"). `id` is the store's own: it is ignored on writes.

The schema is created by the migrations (`floor/store/migrations`), not by `create_all`; a
change here needs a migration (the tests compare both).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from floor.store.types import SignedAmount, Uint256, UtcDateTime

__all__ = [
    "Alert",
    "AuditHead",
    "AuditLogRow",
    "BreakerEventRow",
    "ChainMarkRow",
    "Discrepancy",
    "EngineEvent",
    "ExitDrillExit",
    "ExitDrillRun",
    "GaugeValue",
    "MarketMark",
    "MetricEvent",
    "PositionSnapshot",
    "RateObservation",
    "SignedTx",
    "StoreTable",
    "TxJournal",
    "WatchdogCursor",
    "decode_effects",
    "encode_effects",
    "metadata",
]

# Constraint names the same on every database, so migrations can name what they drop.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# BIGINT ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the autoincrementing rowid.
_ID = BigInteger().with_variant(Integer(), "sqlite")


class StoreTable(SQLModel, registry=registry(metadata=metadata)):
    """Base of the store's tables: their own metadata, apart from any other SQLModel user."""

    __table__: ClassVar[Table]  # set by SQLModel on each `table=True` class; declared for the type checker


def _id() -> int | None:
    field: int | None = Field(default=None, primary_key=True, sa_type=_ID)  # a field, typed as its value
    return field


class PositionSnapshot(StoreTable, table=True):
    """One market's position as read at one block by one operation or reconciliation."""

    __tablename__ = "position_snapshot"
    __table_args__ = (
        UniqueConstraint("snapshot_id", "market"),
        Index(None, "chain_id", "market", "block_number"),
    )

    id: int | None = _id()
    snapshot_id: str  # one read of a chain's positions, e.g. "<workflow id>/read-1"
    operation_id: str  # the workflow that read it, or "reconcile", ...
    chain_id: int = Field(sa_type=BigInteger)
    market: str  # "1:aave-v3:USDC"
    asset: str  # token symbol
    decimals: int
    amount: int = Field(sa_type=Uint256)  # underlying base units
    shares: int | None = Field(default=None, sa_type=Uint256)  # vault shares, where the market has them
    growth_index: int | None = Field(default=None, sa_type=Uint256)  # the market's index, 1e27 scale
    block_number: int = Field(sa_type=BigInteger)
    taken_at: datetime = Field(sa_type=UtcDateTime)
    # The hash of the block read (None: not known, taken as the chain's): a reorg that replaces
    # the block makes the snapshot no longer the chain's, and the reconciliation leaves it out.
    block_hash: str | None = Field(default=None, sa_type=String)


class RateObservation(StoreTable, table=True):
    """A market's growth index (and quoted APR, total assets) at one block."""

    __tablename__ = "rate_observation"
    __table_args__ = (UniqueConstraint("market", "block_number"),)

    id: int | None = _id()
    chain_id: int = Field(sa_type=BigInteger)
    market: str
    block_number: int = Field(sa_type=BigInteger)
    timestamp: datetime = Field(sa_type=UtcDateTime)  # the block's
    growth_index: int = Field(sa_type=Uint256)  # 1e27 scale
    quoted_apr: float | None = None  # the protocol's own rate, where it has one
    total_assets: int | None = Field(default=None, sa_type=Uint256)  # the market's on-chain total


class TxJournal(StoreTable, table=True):
    """A mined transaction of an operation, with what it was meant to change per market."""

    __tablename__ = "tx_journal"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash"),
        Index(None, "chain_id", "block_number"),
        Index(None, "operation_id"),
        Index(None, "chain_id", "chain_state"),
    )

    id: int | None = _id()
    operation_id: str  # the operation's workflow id
    intent_id: str
    chain_id: int = Field(sa_type=BigInteger)
    tx_hash: str
    nonce: int = Field(sa_type=BigInteger)
    status: int  # 1 success, 0 reverted
    block_number: int = Field(sa_type=BigInteger)
    gas_used: int = Field(sa_type=BigInteger)
    effective_gas_price: int = Field(sa_type=Uint256)
    calls: int  # executor calls it carried
    recorded_at: datetime = Field(sa_type=UtcDateTime)
    # Per market the expected change of the position in base units, signed: a JSON object of
    # decimal strings (`encode_effects`), e.g. {"1:aave-v3:USDC": "-5000000"}. Besides markets:
    # the executor's idle balance ("1:idle:USDC") and a delivery ("1:delivery:USDC:0xDest...").
    effects: str = Field(default="{}", sa_type=Text)
    # Whether the chain still holds it, as the reconciliation last found: "pending" (checked on
    # every run until its block is final), "final", or "gone" (found missing, and an operator
    # accepted it so). `canonical_block` is where its receipt was last found (a reorg may have
    # mined it again in another block).
    chain_state: str = Field(default="pending", sa_type=String, sa_column_kwargs={"server_default": "pending"})
    canonical_block: int | None = Field(default=None, sa_type=BigInteger)

    def effect_amounts(self) -> dict[str, int]:
        return decode_effects(self.effects)


class SignedTx(StoreTable, table=True):
    """A transaction the engine's queue signed (every version: replacements and cancels share
    the nonce), recorded before it is broadcast. The watchdog (`floor/watchdog.py`) takes any
    transaction from the operator key that is not here for someone else's."""

    __tablename__ = "signed_tx"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash"),
        Index(None, "chain_id", "signer", "nonce"),
    )

    id: int | None = _id()
    chain_id: int = Field(sa_type=BigInteger)
    signer: str  # checksummed
    nonce: int = Field(sa_type=BigInteger)
    tx_hash: str  # 0x-prefixed, lowercase
    to: str
    signed_at: datetime = Field(sa_type=UtcDateTime)


class ChainMarkRow(StoreTable, table=True):
    """A block the engine saw as final on a chain (its number and hash) and the chain's genesis
    hash: a chain that later disagrees (another genesis, a head below the block, another hash
    at its height) was reset or rewritten past finality. One row per chain, moved forward by
    the reads that know the chain (reconciliation runs, the transaction queue)."""

    __tablename__ = "chain_mark"
    __table_args__ = (UniqueConstraint("chain_id"),)

    id: int | None = _id()
    chain_id: int = Field(sa_type=BigInteger)
    block_number: int = Field(sa_type=BigInteger)
    block_hash: str  # 0x-hex, lower case
    genesis_hash: str
    seen_at: datetime = Field(sa_type=UtcDateTime)
    note: str = Field(default="", sa_type=Text)  # who recorded it: a run, or an operator's acceptance


class WatchdogCursor(StoreTable, table=True):
    """The last block the watchdog has handled for one executor: a restart resumes after it."""

    __tablename__ = "watchdog_cursor"
    __table_args__ = (UniqueConstraint("chain_id", "executor"),)

    id: int | None = _id()
    chain_id: int = Field(sa_type=BigInteger)
    executor: str  # checksummed
    block_number: int = Field(sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=UtcDateTime)


def encode_effects(effects: Mapping[str, int]) -> str:
    """``effects`` (market -> signed base units) as the journal's JSON text, keys sorted."""
    out: dict[str, str] = {}
    for market, change in sorted(effects.items()):
        if not isinstance(change, int) or isinstance(change, bool):
            raise TypeError(f"effect on {market}: an int in base units, not {type(change).__name__}")
        out[market] = str(change)
    return json.dumps(out, separators=(",", ":"))


def decode_effects(text_: str) -> dict[str, int]:
    return {market: int(change) for market, change in json.loads(text_).items()}


class EngineEvent(StoreTable, table=True):
    """One transition of an engine's state machine."""

    __tablename__ = "engine_event"
    __table_args__ = (UniqueConstraint("engine_id", "at", "to_state", "cause"),)

    id: int | None = _id()
    engine_id: str
    at: datetime = Field(sa_type=UtcDateTime)
    from_state: str
    to_state: str
    cause: str  # the event and, for an operation, its workflow id
    actor: str
    reason: str = ""


class BreakerEventRow(StoreTable, table=True):
    """One change of a circuit breaker (`floor.risk.breakers`): tripped by a risk check,
    half-opened by an operator, closed by a passing probe."""

    __tablename__ = "breaker_event"
    __table_args__ = (
        UniqueConstraint("engine_id", "scope", "at", "to_state"),
        Index(None, "scope", "at"),
    )

    id: int | None = _id()
    engine_id: str
    scope: str  # "engine", "chain:1", "protocol:aave-v3"
    at: datetime = Field(sa_type=UtcDateTime)
    from_state: str
    to_state: str
    trigger: str  # tvl_fall, apy_drop, drawdown, gas, price, error_rate, manual, probe
    reason: str = Field(sa_type=Text)  # with the figures
    actor: str


class Discrepancy(StoreTable, table=True):
    """A market whose position on chain differs from what the journal says it should be, found by
    a reconciliation run; open until an operator accepts it (who, why, when). At most one open
    per market: a later run that finds it again updates its figures (`found_at`: last seen)."""

    __tablename__ = "discrepancy"
    __table_args__ = (
        UniqueConstraint("run_id", "market"),
        CheckConstraint("status IN ('open', 'accepted')", name="status"),
        CheckConstraint(
            "status = 'open' OR (accepted_by IS NOT NULL AND accepted_reason IS NOT NULL AND accepted_at IS NOT NULL)",
            name="accepted_fields",
        ),
        Index(None, "status"),
        Index(
            "uq_discrepancy_open",
            "market",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: int | None = _id()  # what an operator names
    run_id: str  # the reconciliation run that found it first
    chain_id: int = Field(sa_type=BigInteger)
    market: str
    asset: str
    decimals: int
    expected: int = Field(sa_type=Uint256)
    actual: int = Field(sa_type=Uint256)
    difference: int = Field(sa_type=SignedAmount)  # actual - expected
    relative_bps: int = Field(sa_type=BigInteger)  # the difference in bps of expected
    block_number: int = Field(sa_type=BigInteger)  # where `actual` was read
    growth_index: int | None = Field(default=None, sa_type=Uint256)  # the market's index there, 1e27 scale
    found_at: datetime = Field(sa_type=UtcDateTime)  # last found (by the latest run that found it)
    # What an operator needs beyond the numbers: for a journalled transaction the chain lost
    # (market "<chain>:tx:<hash>"), the transaction, its operation and its effects.
    detail: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": ""})
    status: str = "open"  # "open" | "accepted"
    accepted_by: str | None = None
    accepted_reason: str | None = None
    accepted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Alert(StoreTable, table=True):
    """A condition the engine raised ("discrepancy", "low_gas", ...) about a subject. At most one
    open alert per (kind, subject): raising it again while open records nothing."""

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("kind", "subject", "raised_at"),
        Index(
            "uq_alert_open",
            "kind",
            "subject",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
    )

    id: int | None = _id()
    kind: str
    subject: str  # e.g. "1:aave-v3:USDC" or a signer's address
    detail: str = Field(default="", sa_type=Text)
    raised_at: datetime = Field(sa_type=UtcDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class AuditLogRow(StoreTable, table=True):
    """One row of the append-only audit log (`floor.access.audit.AuditRow`, hash-chained): a
    command accepted or refused, a role change, an engine state change. Written only by
    `Store.append_audit`; the database refuses UPDATE and DELETE (migration 0006's triggers).
    `entry_id` is the writer's own id for the append, so a retry appends nothing twice."""

    __tablename__ = "audit_log"
    __table_args__ = (
        UniqueConstraint("entry_id"),
        CheckConstraint("outcome IN ('accepted', 'refused')", name="outcome"),
        Index(None, "at"),
        Index(None, "signer", "at"),
        Index(None, "kind", "at"),
    )

    seq: int = Field(primary_key=True, sa_type=_ID, sa_column_kwargs={"autoincrement": False})  # 1, 2, 3...
    entry_id: str
    at: int = Field(sa_type=BigInteger)  # seconds since 1970, as hashed
    workflow_id: str
    signer: str
    role: str
    kind: str
    digest: str
    outcome: str  # "accepted" | "refused"
    reason: str = Field(sa_type=Text)
    prev: str  # the hash of the row before (GENESIS for the first)
    hash: str


class RoleMemberRow(StoreTable, table=True):
    """A member of an engine's role book (`floor.access.roles.RoleBook`), mirrored from the
    engine's state whenever its book changes (`Store.mirror_roles`, replaced whole)."""

    __tablename__ = "role_member"

    engine_id: str = Field(primary_key=True)
    address: str = Field(primary_key=True)
    role: str
    name: str
    granted_by: str
    granted_at: int = Field(sa_type=BigInteger)  # unix seconds, the engine's time
    reason: str


class AuditHead(StoreTable, table=True):
    """The audit log's last row (seq and hash), one row moved forward in the same transaction as
    each append, and locked by it: a row cut from the end of the log no longer matches it. Only
    moved forward (migration 0006's triggers)."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: int = Field(default=1, primary_key=True, sa_type=Integer, sa_column_kwargs={"autoincrement": False})
    seq: int = Field(sa_type=BigInteger)
    hash: str


class MarketMark(StoreTable, table=True):
    """One market of the strategy (or an idle balance) as a reconciliation read it at one block:
    the position and what the metrics show of it, from the same computation as `floor positions`
    (`floor.chain.report`). Idle balances have protocol "idle" and market "<chain>:idle:<ASSET>"."""

    __tablename__ = "market_mark"
    __table_args__ = (
        UniqueConstraint("market", "block_number"),
        Index(None, "chain_id", "block_number"),
    )

    id: int | None = _id()
    chain_id: int = Field(sa_type=BigInteger)
    protocol: str  # the adapter's protocol id, or "idle"
    market: str  # "1:aave-v3:USDC"
    asset: str  # token symbol
    decimals: int
    amount: int = Field(sa_type=Uint256)  # the position, base units
    withdrawable: int = Field(sa_type=Uint256)  # of it, what can leave now, base units
    value_usd: str | None = Field(default=None, sa_type=Text)  # exact decimal text; None when not priced
    apy: float | None = None  # ratio: 0.035 is 3.5 %
    apy_source: str | None = None  # where the rate came from ("quoted", "index", ...)
    liquidity_ratio_bps: int | None = Field(default=None, sa_type=BigInteger)  # position / market available
    max_safe_withdrawal: int | None = Field(default=None, sa_type=Uint256)  # base units
    exit_slippage_bps: int | None = Field(default=None, sa_type=BigInteger)
    block_number: int = Field(sa_type=BigInteger)
    taken_at: datetime = Field(sa_type=UtcDateTime)


class GaugeValue(StoreTable, table=True):
    """The latest value of a gauge the engine measured (`floor.metrics`): one row per name and
    labels, moved forward by each reading (a reading older than the stored one is ignored)."""

    __tablename__ = "gauge_value"

    name: str = Field(primary_key=True)  # "floor_engine_signer_gas_balance_eth"
    labels: str = Field(primary_key=True, sa_type=Text)  # canonical JSON, keys sorted: {"chain":"1"}
    value: float
    at: datetime = Field(sa_type=UtcDateTime)  # when it was measured


class MetricEvent(StoreTable, table=True):
    """One observation of a counter or a histogram (`floor.metrics`), appended once: `key` is
    the writer's own id for it (a workflow id and attempt, a transaction hash), so a retried
    activity records nothing twice."""

    __tablename__ = "metric_event"
    __table_args__ = (
        UniqueConstraint("name", "key"),
        Index(None, "name", "labels", "value"),  # covers the exporter's sums and buckets
    )

    id: int | None = _id()
    name: str  # "floor_engine_errors_total"
    labels: str = Field(sa_type=Text)  # canonical JSON, keys sorted
    value: float  # a counter's increment, a histogram's observation
    key: str
    at: datetime = Field(sa_type=UtcDateTime)


class ExitDrillRun(StoreTable, table=True):
    """One chain's exit drill (`floor.exit_drill`): the fork's block, the slippage limit, when;
    `error` when the chain could not be drilled at all. Keyed by (run_id, chain_id)."""

    __tablename__ = "exit_drill_run"
    __table_args__ = (
        UniqueConstraint("run_id", "chain_id"),
        Index(None, "chain_id", "drilled_at"),
    )

    id: int | None = _id()
    run_id: str  # the drill's workflow id
    chain_id: int = Field(sa_type=BigInteger)
    block_number: int = Field(sa_type=BigInteger)
    limit_bps: int
    error: str = Field(default="", sa_type=Text)
    drilled_at: datetime = Field(sa_type=UtcDateTime)


class ExitDrillExit(StoreTable, table=True):
    """One position's exit in a chain's drill: its status, what it paid on the fork against its
    quote and fair value, the time until out, and why it failed. Keyed by (run_id, market,
    action): a market may exit in two steps (a pool sale, and the queue the rest)."""

    __tablename__ = "exit_drill_exit"
    __table_args__ = (
        UniqueConstraint("run_id", "market", "action"),
        CheckConstraint("status IN ('ok', 'partial', 'failed', 'manual')", name="status"),
    )

    id: int | None = _id()
    run_id: str
    chain_id: int = Field(sa_type=BigInteger)
    market: str  # "1:aave-v3:USDC"
    protocol: str
    asset: str
    decimals: int
    position: int = Field(sa_type=Uint256)
    mode: str  # instant, queued, left
    action: str  # withdraw_all, withdraw, request, sell, none
    status: str  # ok, partial, failed, manual
    amount: int = Field(sa_type=Uint256)
    quoted: int = Field(sa_type=Uint256)
    fair: int = Field(sa_type=Uint256)
    min_out: int = Field(sa_type=Uint256)
    realised: int = Field(sa_type=Uint256)
    slippage_bps: int | None = Field(default=None, sa_type=BigInteger)  # realised vs fair; None: not run
    quoted_slippage_bps: int = Field(sa_type=BigInteger)
    wait_s: int = Field(sa_type=BigInteger)
    left: int = Field(sa_type=Uint256)
    reason: str = Field(default="", sa_type=Text)
    gas_used: int = Field(sa_type=BigInteger)
