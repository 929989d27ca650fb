"""the principal that raised each alert

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raised_by", sa.String(length=100), nullable=True))
    # Who raised an alert is the actor of its first ``alert_fired`` entry in the ledger.
    op.execute(
        """
        UPDATE alerts SET raised_by = (
            SELECT ledger.actor FROM ledger
            WHERE ledger.operation_id = 'alert:' || CAST(alerts.id AS VARCHAR(20))
              AND ledger.event = 'alert_fired'
            ORDER BY ledger.seq
            LIMIT 1
        )
        """
    )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("raised_by")
