"""The store's first schema: snapshots, rates, the transaction journal, engine events,
discrepancies and alerts.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Types are spelled out here rather than imported from floor.store.types, so this revision
creates the same schema whatever those become: an EVM uint256 is NUMERIC(78, 0) on PostgreSQL
and a 78-digit zero-padded string on SQLite; a signed amount a signed decimal string (79) there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UINT256 = sa.String(78).with_variant(sa.NUMERIC(78, 0), "postgresql")
SIGNED = sa.String(79).with_variant(sa.NUMERIC(78, 0), "postgresql")
TIME = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, primary_key=True)


def upgrade() -> None:
    op.create_table(
        "position_snapshot",
        _id(),
        sa.Column("snapshot_id", sa.String(), nullable=False),
        sa.Column("operation_id", sa.String(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("amount", UINT256, nullable=False),
        sa.Column("shares", UINT256, nullable=True),
        sa.Column("growth_index", UINT256, nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_position_snapshot"),
        sa.UniqueConstraint("snapshot_id", "market", name="uq_position_snapshot_snapshot_id_market"),
    )
    op.create_index(
        "ix_position_snapshot_chain_id_market_block_number",
        "position_snapshot",
        ["chain_id", "market", "block_number"],
    )

    op.create_table(
        "rate_observation",
        _id(),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", TIME, nullable=False),
        sa.Column("growth_index", UINT256, nullable=False),
        sa.Column("quoted_apr", sa.Float(), nullable=True),
        sa.Column("total_assets", UINT256, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_rate_observation"),
        sa.UniqueConstraint("market", "block_number", name="uq_rate_observation_market_block_number"),
    )

    op.create_table(
        "tx_journal",
        _id(),
        sa.Column("operation_id", sa.String(), nullable=False),
        sa.Column("intent_id", sa.String(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("gas_used", sa.BigInteger(), nullable=False),
        sa.Column("effective_gas_price", UINT256, nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.Column("effects", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tx_journal"),
        sa.UniqueConstraint("chain_id", "tx_hash", name="uq_tx_journal_chain_id_tx_hash"),
    )
    op.create_index("ix_tx_journal_chain_id_block_number", "tx_journal", ["chain_id", "block_number"])
    op.create_index("ix_tx_journal_operation_id", "tx_journal", ["operation_id"])

    op.create_table(
        "engine_event",
        _id(),
        sa.Column("engine_id", sa.String(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("from_state", sa.String(), nullable=False),
        sa.Column("to_state", sa.String(), nullable=False),
        sa.Column("cause", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_engine_event"),
        sa.UniqueConstraint("engine_id", "at", "to_state", "cause", name="uq_engine_event_engine_id_at_to_state_cause"),
    )

    op.create_table(
        "discrepancy",
        _id(),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("expected", UINT256, nullable=False),
        sa.Column("actual", UINT256, nullable=False),
        sa.Column("difference", SIGNED, nullable=False),
        sa.Column("relative_bps", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("growth_index", UINT256, nullable=True),
        sa.Column("found_at", TIME, nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("accepted_by", sa.String(), nullable=True),
        sa.Column("accepted_reason", sa.String(), nullable=True),
        sa.Column("accepted_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_discrepancy"),
        sa.UniqueConstraint("run_id", "market", name="uq_discrepancy_run_id_market"),
        sa.CheckConstraint("status IN ('open', 'accepted')", name="ck_discrepancy_status"),
        sa.CheckConstraint(
            "status = 'open' OR (accepted_by IS NOT NULL AND accepted_reason IS NOT NULL AND accepted_at IS NOT NULL)",
            name="ck_discrepancy_accepted_fields",
        ),
    )
    op.create_index("ix_discrepancy_status", "discrepancy", ["status"])

    op.create_table(
        "alert",
        _id(),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raised_at", TIME, nullable=False),
        sa.Column("resolved_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alert"),
        sa.UniqueConstraint("kind", "subject", "raised_at", name="uq_alert_kind_subject_raised_at"),
    )
    # At most one open alert per (kind, subject).
    op.create_index(
        "uq_alert_open",
        "alert",
        ["kind", "subject"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_alert_open", table_name="alert")
    op.drop_table("alert")
    op.drop_index("ix_discrepancy_status", table_name="discrepancy")
    op.drop_table("discrepancy")
    op.drop_table("engine_event")
    op.drop_index("ix_tx_journal_operation_id", table_name="tx_journal")
    op.drop_index("ix_tx_journal_chain_id_block_number", table_name="tx_journal")
    op.drop_table("tx_journal")
    op.drop_table("rate_observation")
    op.drop_index("ix_position_snapshot_chain_id_market_block_number", table_name="position_snapshot")
    op.drop_table("position_snapshot")
