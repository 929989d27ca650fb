"""standard_changes: each plan's success record and standing; incidents by runbook

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from triadops.storage.types import UTCDateTime

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "standard_changes",
        sa.Column("plan_hash", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("standing", sa.String(length=16), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("successes", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_operation_id", sa.String(length=64), nullable=True),
        sa.Column("last_outcome", sa.String(length=16), nullable=True),
        sa.Column("last_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("proposed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("plan_hash", name=op.f("pk_standard_changes")),
    )
    op.create_index(op.f("ix_standard_changes_standing"), "standard_changes", ["standing"])
    op.create_index(op.f("ix_standard_changes_updated_at"), "standard_changes", ["updated_at"])
    op.create_index(op.f("ix_incidents_runbook_status"), "incidents", ["runbook", "status"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_incidents_runbook_status"), table_name="incidents")
    op.drop_index(op.f("ix_standard_changes_updated_at"), table_name="standard_changes")
    op.drop_index(op.f("ix_standard_changes_standing"), table_name="standard_changes")
    op.drop_table("standard_changes")
