"""The engine's role book, mirrored: who may command each engine (address, role, name, who
granted it, when, why), replaced whole each time the engine's book changes. The book itself
lives in the engine's state; this copy is for readers that are not the engine (the admin API,
reports); the audit log keeps every change.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "role_member",
        sa.Column("engine_id", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("granted_by", sa.String(), nullable=False),
        sa.Column("granted_at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("engine_id", "address"),
    )


def downgrade() -> None:
    op.drop_table("role_member")
