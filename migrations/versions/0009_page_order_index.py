"""an index on commitments (status, deadline_latest, id)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 16:00:00

The status page lists pledges by status, then by the end of their deadline
window, then id: with this index each page is an index range, not a sort of
the whole table, and counting by status and deadline reads only the index.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_commitments_status_deadline_latest_id"),
        "commitments",
        ["status", "deadline_latest", "id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_commitments_status_deadline_latest_id"), table_name="commitments")
