"""Chain marks (a final block and the genesis per chain), the journal's chain state (whether the
reconciliation still finds each transaction on the chain), and a discrepancy's detail.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chain_mark",
        sa.Column("id", ID, primary_key=True),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(), nullable=False),
        sa.Column("genesis_hash", sa.String(), nullable=False),
        sa.Column("seen_at", TIME, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chain_mark"),
        sa.UniqueConstraint("chain_id", name="uq_chain_mark_chain_id"),
    )
    # Rows journalled before: checked by the next reconciliation until final, like new ones.
    op.add_column("tx_journal", sa.Column("chain_state", sa.String(), nullable=False, server_default="pending"))
    op.add_column("tx_journal", sa.Column("canonical_block", sa.BigInteger(), nullable=True))
    op.create_index("ix_tx_journal_chain_id_chain_state", "tx_journal", ["chain_id", "chain_state"])
    op.add_column("discrepancy", sa.Column("detail", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("discrepancy", "detail")
    op.drop_index("ix_tx_journal_chain_id_chain_state", table_name="tx_journal")
    op.drop_column("tx_journal", "canonical_block")
    op.drop_column("tx_journal", "chain_state")
    op.drop_table("chain_mark")
