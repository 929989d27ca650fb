"""operation via: the client an operation came through (an AI assistant over MCP)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 05:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("operations") as batch:
        batch.add_column(sa.Column("via", sa.String(length=100), nullable=True))
    # The ledger's submission entry has named the client since MCP came: the column starts
    # as the ledger says, so the audit (which compares the two) finds them agreeing.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE operations AS o SET via = l.details->>'via' FROM ledger AS l "
            "WHERE l.operation_id = o.id AND l.event = 'submitted' AND l.details ? 'via'"
        )
    else:
        op.execute(
            "UPDATE operations SET via = (SELECT json_extract(l.details, '$.via') FROM ledger "
            "AS l WHERE l.operation_id = operations.id AND l.event = 'submitted' "
            "ORDER BY l.seq LIMIT 1)"
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("operations") as batch:
        batch.drop_column("via")
