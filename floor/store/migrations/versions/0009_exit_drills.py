"""The exit drills: each chain's drill (its fork's block, the slippage limit, why it could not
run) and each position's exit in it (status, what it paid on the fork, the time until out, why
it failed).

Revision ID: 0009
Revises: 0008
Create Date: 2027-01-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UINT256 = sa.String(78).with_variant(sa.NUMERIC(78, 0), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "exit_drill_run",
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("limit_bps", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("drilled_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_exit_drill_run"),
        sa.UniqueConstraint("run_id", "chain_id", name="uq_exit_drill_run_run_id_chain_id"),
    )
    op.create_index("ix_exit_drill_run_chain_id_drilled_at", "exit_drill_run", ["chain_id", "drilled_at"])

    op.create_table(
        "exit_drill_exit",
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("market", sa.String(), nullable=False),
        sa.Column("protocol", sa.String(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("position", UINT256, nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("amount", UINT256, nullable=False),
        sa.Column("quoted", UINT256, nullable=False),
        sa.Column("fair", UINT256, nullable=False),
        sa.Column("min_out", UINT256, nullable=False),
        sa.Column("realised", UINT256, nullable=False),
        sa.Column("slippage_bps", sa.BigInteger(), nullable=True),
        sa.Column("quoted_slippage_bps", sa.BigInteger(), nullable=False),
        sa.Column("wait_s", sa.BigInteger(), nullable=False),
        sa.Column("left", UINT256, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("gas_used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_exit_drill_exit"),
        sa.UniqueConstraint("run_id", "market", "action", name="uq_exit_drill_exit_run_id_market_action"),
        sa.CheckConstraint("status IN ('ok', 'partial', 'failed', 'manual')", name="ck_exit_drill_exit_status"),
    )


def downgrade() -> None:
    op.drop_table("exit_drill_exit")
    op.drop_index("ix_exit_drill_run_chain_id_drilled_at", table_name="exit_drill_run")
    op.drop_table("exit_drill_run")
