"""check-ins

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 00:16:13.164225
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recurrence", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.drop_column("recurrence")
