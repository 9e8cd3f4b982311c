"""the sentence an extracted commitment came from

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:00:00

`pledgewatch extract` proposes commitments from a news article; the ones a
person imports keep where they were found (sentence, span, parties,
confidence, cue) in a nullable JSON column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extracted", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.drop_column("extracted")
