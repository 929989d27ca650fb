"""operations carry the crown's post-change review

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-05 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from triadops.storage.types import UTCDateTime

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reviewed_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("review_lessons", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("review_note", sa.Text(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("operations", schema=None) as batch_op:
        for column in ("review_note", "review_lessons", "reviewed_at", "reviewed_by"):
            batch_op.drop_column(column)
