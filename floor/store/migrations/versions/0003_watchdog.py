"""The watchdog: what the queue signed, and the watchdog's cursor per executor.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signed_tx",
        sa.Column("id", ID, primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("signer", sa.String(), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(), nullable=False),
        sa.Column("to", sa.String(), nullable=False),
        sa.Column("signed_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signed_tx"),
        sa.UniqueConstraint("chain_id", "tx_hash", name="uq_signed_tx_chain_id_tx_hash"),
    )
    op.create_index("ix_signed_tx_chain_id_signer_nonce", "signed_tx", ["chain_id", "signer", "nonce"])
    op.create_table(
        "watchdog_cursor",
        sa.Column("id", ID, primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("executor", sa.String(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_watchdog_cursor"),
        sa.UniqueConstraint("chain_id", "executor", name="uq_watchdog_cursor_chain_id_executor"),
    )


def downgrade() -> None:
    op.drop_table("watchdog_cursor")
    op.drop_index("ix_signed_tx_chain_id_signer_nonce", table_name="signed_tx")
    op.drop_table("signed_tx")
