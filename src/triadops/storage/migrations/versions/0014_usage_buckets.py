"""usage buckets (triad's own load per 5 minutes) and a procedure's completed runs index

Revision ID: 0014
Revises: 0016
Create Date: 2026-12-05 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from triadops.storage.types import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "usage_buckets",
        sa.Column("bucket", UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "source", name=op.f("pk_usage_buckets")),
    )
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_operations_procedure_status_created_at"),
            ["procedure", "status", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operations_procedure_status_created_at"))
    op.drop_table("usage_buckets")
