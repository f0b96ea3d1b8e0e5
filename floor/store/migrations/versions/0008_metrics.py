"""What the metrics exporter reads: each market as the reconciliation last read it (position,
value, rate, liquidity), the latest value of each gauge the engine measures, and the
observations of its counters and histograms.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UINT256 = sa.String(78).with_variant(sa.NUMERIC(78, 0), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "market_mark",
        sa.Column("id", ID, primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("protocol", sa.String(), nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("amount", UINT256, nullable=False),
        sa.Column("withdrawable", UINT256, nullable=False),
        sa.Column("value_usd", sa.Text(), nullable=True),
        sa.Column("apy", sa.Float(), nullable=True),
        sa.Column("apy_source", sa.String(), nullable=True),
        sa.Column("liquidity_ratio_bps", sa.BigInteger(), nullable=True),
        sa.Column("max_safe_withdrawal", UINT256, nullable=True),
        sa.Column("exit_slippage_bps", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_market_mark"),
        sa.UniqueConstraint("market", "block_number", name="uq_market_mark_market_block_number"),
    )
    op.create_index("ix_market_mark_chain_id_block_number", "market_mark", ["chain_id", "block_number"])

    op.create_table(
        "gauge_value",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", "labels", name="pk_gauge_value"),
    )

    op.create_table(
        "metric_event",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metric_event"),
        sa.UniqueConstraint("name", "key", name="uq_metric_event_name_key"),
    )
    op.create_index("ix_metric_event_name_labels_value", "metric_event", ["name", "labels", "value"])


def downgrade() -> None:
    op.drop_index("ix_metric_event_name_labels_value", table_name="metric_event")
    op.drop_table("metric_event")
    op.drop_table("gauge_value")
    op.drop_index("ix_market_mark_chain_id_block_number", table_name="market_mark")
    op.drop_table("market_mark")
