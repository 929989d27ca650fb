"""Alembic environment: always run with a connection handed in by triadops."""

from __future__ import annotations

from alembic import context

from triadops.storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("triadops migrations run through triadops.storage.migrate")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
