"""routine maintenance tasks: when each is next due and how its runs went

Revision ID: 0013
Revises: 0015
Create Date: 2026-12-05 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from triadops.storage.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "maintenance_tasks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_due", UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_operation_id", sa.String(length=64), nullable=True),
        sa.Column("last_result", sa.String(length=32), nullable=True),
        sa.Column("last_success_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("missed_total", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_maintenance_tasks")),
    )
    with op.batch_alter_table("maintenance_tasks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_maintenance_tasks_next_due"), ["next_due"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_maintenance_tasks_last_result"), ["last_result"], unique=False
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("maintenance_tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_maintenance_tasks_last_result"))
        batch_op.drop_index(batch_op.f("ix_maintenance_tasks_next_due"))
    op.drop_table("maintenance_tasks")
