"""principals, plan authors and approved plan hashes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 17:05:00
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import triadops.storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RESERVED = {
    "legislative",
    "executive",
    "judicial",
    "crown",
    "rules",
    "system",
    "triad",
    "triadops",
}


def _principal_of(token_id: int, name: str) -> str:
    """Return the principal an existing token is given: its name, normalised where it can be."""
    candidate = re.sub(r"[^a-z0-9._@-]", "-", name.strip().casefold())[:64].strip("-._@")
    if not candidate or candidate in _RESERVED:
        return f"token-{token_id}"
    return candidate


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "principals",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", triadops.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_principals")),
    )
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_author", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("approved_plan_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("principal", sa.String(length=64), nullable=True))

    bind = op.get_bind()
    tokens = bind.execute(sa.text("SELECT id, name FROM tokens ORDER BY id")).all()
    now = datetime.now(UTC)
    principals = sa.table(
        "principals",
        sa.column("name", sa.String),
        sa.column("kind", sa.String),
        sa.column("created_at", triadops.storage.types.UTCDateTime(timezone=True)),
    )
    seen: set[str] = set()
    for token in tokens:
        token_id = int(token.id)
        principal = _principal_of(token_id, str(token.name))
        if principal not in seen:
            op.bulk_insert(principals, [{"name": principal, "kind": "person", "created_at": now}])
            seen.add(principal)
        bind.execute(
            sa.text("UPDATE tokens SET principal = :p WHERE id = :i"),
            {"p": principal, "i": token_id},
        )
    bind.execute(sa.text("UPDATE operations SET plan_author = requested_by"))

    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.alter_column("principal", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_tokens_principal"), ["principal"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_tokens_principal_principals"), "principals", ["principal"], ["name"]
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tokens_principal_principals"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_tokens_principal"))
        batch_op.drop_column("principal")
    with op.batch_alter_table("operations", schema=None) as batch_op:
        batch_op.drop_column("approved_plan_hash")
        batch_op.drop_column("plan_author")
    op.drop_table("principals")
