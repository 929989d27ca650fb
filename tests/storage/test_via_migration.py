"""Migration 0026 starts each operation's ``via`` as its ledger submission entry says."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Connection, insert, select, text

from triadops.runtime import Runtime
from triadops.storage.migrate import alembic_config
from triadops.storage.tables import LedgerRow, OperationRow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _downgrade(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "0025")


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def test_operations_submitted_over_mcp_before_it_keep_their_client(
    runtime: Runtime,
) -> None:
    async with runtime.engine.begin() as connection:
        await connection.run_sync(_downgrade)
        for operation_id in ("op-a", "op-b"):
            await connection.execute(
                text(
                    "INSERT INTO operations (id, status, operation_type, requested_by, request, "
                    "acknowledgement_overdue, created_at, updated_at) VALUES (:id, 'submitted', "
                    "'maintenance', 'alice', '{}', false, :now, :now)"
                ),
                {"id": operation_id, "now": NOW},
            )
        await connection.execute(
            insert(LedgerRow),
            [
                {
                    "seq": seq,
                    "at": NOW,
                    "actor": "alice",
                    "event": "submitted",
                    "operation_id": operation_id,
                    "details": details,
                    "prev_hash": "0" * 64,
                    "hash": str(seq) * 64,
                }
                for seq, operation_id, details in (
                    (1, "op-a", {"type": "maintenance", "via": "mcp:claude"}),
                    (2, "op-b", {"type": "maintenance"}),
                )
            ],
        )
        await connection.run_sync(_upgrade)
        found = await connection.execute(
            select(OperationRow.id, OperationRow.via).order_by(OperationRow.id)
        )
        assert found.all() == [("op-a", "mcp:claude"), ("op-b", None)]
