"""performance_analysis reports

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from triadops.storage.types import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "performance_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("measured_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=False),
        sa.Column("regressions", sa.Integer(), nullable=False),
        sa.Column(
            "report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_performance_reports")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("performance_reports")
