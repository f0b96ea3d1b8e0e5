"""A position snapshot's block hash: a snapshot read at a block a reorg later replaced is no
longer the chain's, and the reconciliation leaves it out.

Revision ID: 0010
Revises: 0009
Create Date: 2027-01-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows snapshotted before have none: taken as the chain's, as they were.
    op.add_column("position_snapshot", sa.Column("block_hash", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("position_snapshot", "block_hash")
