"""archived commitments: kept with their history, no longer notified

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:10:00

`archived_at` is NULL for every pledge watched, as every row stored before
this revision. Indexed: the few archived pledges are counted apart from the
rest without reading every row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_commitments_archived_at", ["archived_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.drop_index("ix_commitments_archived_at")
        batch_op.drop_column("archived_at")
