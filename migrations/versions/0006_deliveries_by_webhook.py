"""an index on deliveries by state, webhook and due instant

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 04:00:00

The dispatcher claims each webhook's due deliveries on its own, up to that
webhook's room; with this index a claim reads only the rows it takes, however
many wait for a webhook at its cap.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_deliveries_state_webhook_next_attempt_at"),
        "deliveries",
        ["state", "webhook", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_deliveries_state_webhook_next_attempt_at"), table_name="deliveries")
