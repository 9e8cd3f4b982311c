"""webhook states and one delivery per event and webhook

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:39:49.589352
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_states",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_webhook_states")),
    )
    # A unique index rather than a constraint: on SQLite a constraint means
    # rebuilding the table, and dropping the old one would cascade to attempts.
    op.create_index(
        op.f("ix_deliveries_event_id_webhook"), "deliveries", ["event_id", "webhook"], unique=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_deliveries_event_id_webhook"), table_name="deliveries")

    op.drop_table("webhook_states")
