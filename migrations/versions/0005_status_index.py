"""an index on commitments.status

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 02:20:00

Counting pledges by status (the metrics, the systemd status line, `list
--status`) reads the index instead of the whole table.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_commitments_status"), "commitments", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_commitments_status"), table_name="commitments")
