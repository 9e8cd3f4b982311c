"""the zone each commitment's file was read in

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:00:00

A pledge with neither a deadline nor check-ins had no zone of its own, so its
instants were shown in UTC whatever its file said. Rows stored before this
revision keep NULL and are shown as before until they are imported again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.drop_column("timezone")
