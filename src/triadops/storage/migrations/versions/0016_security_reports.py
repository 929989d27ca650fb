"""security_reports: what the security_updates task found

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-05 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from triadops.storage.types import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "security_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("step_key", sa.String(length=200), nullable=False),
        sa.Column("operation_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_reports")),
        sa.UniqueConstraint("step_key", name=op.f("uq_security_reports_step_key")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("security_reports")
