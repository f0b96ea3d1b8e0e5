"""Circuit breaker events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "breaker_event",
        sa.Column("id", ID, primary_key=True),
        sa.Column("engine_id", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("from_state", sa.String(), nullable=False),
        sa.Column("to_state", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_breaker_event"),
        sa.UniqueConstraint(
            "engine_id", "scope", "at", "to_state", name="uq_breaker_event_engine_id_scope_at_to_state"
        ),
    )
    op.create_index("ix_breaker_event_scope_at", "breaker_event", ["scope", "at"])


def downgrade() -> None:
    op.drop_index("ix_breaker_event_scope_at", table_name="breaker_event")
    op.drop_table("breaker_event")
