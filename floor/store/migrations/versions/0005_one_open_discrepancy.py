"""One open discrepancy per market: a later reconciliation updates the open row instead of
adding another. Rows opened again by every run before this revision: the newest of a market
stays open, the older ones are closed as superseded by it (who and why recorded).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SUPERSEDER = "migration 0005"


def upgrade() -> None:
    discrepancy = sa.table(
        "discrepancy",
        sa.column("id", sa.BigInteger()),
        sa.column("market", sa.String()),
        sa.column("status", sa.String()),
        sa.column("accepted_by", sa.String()),
        sa.column("accepted_reason", sa.String()),
        sa.column("accepted_at", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(discrepancy.c.id, discrepancy.c.market)
        .where(discrepancy.c.status == "open")
        .order_by(discrepancy.c.id)
    ).all()
    newest = {market: id for id, market in rows}
    for id, market in rows:
        if id != newest[market]:
            connection.execute(
                sa.update(discrepancy)
                .where(discrepancy.c.id == id)
                .values(
                    status="accepted",
                    accepted_by=SUPERSEDER,
                    accepted_reason=f"superseded by #{newest[market]}, found later on the same market "
                    "(one open discrepancy per market)",
                    accepted_at=sa.func.current_timestamp(),
                )
            )
    op.create_index(
        "uq_discrepancy_open",
        "discrepancy",
        ["market"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("uq_discrepancy_open", table_name="discrepancy")
