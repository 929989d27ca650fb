"""Migration 0006 keeps who raised each alert stored before it: the ledger's firing actor."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Connection, insert, select, text

from triadops.runtime import Runtime
from triadops.storage.migrate import alembic_config
from triadops.storage.tables import AlertRow, LedgerRow

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _downgrade(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "0006-1")


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def test_alerts_stored_before_it_are_credited_to_their_firing_actor(
    runtime: Runtime,
) -> None:
    async with runtime.engine.begin() as connection:
        await connection.run_sync(_downgrade)
        for n, name in enumerate(("Disk", "Cpu"), start=1):
            await connection.execute(
                text(
                    "INSERT INTO alerts (id, fingerprint, alertname, state, severity, labels, "
                    "annotations, source, group_key, count, starts_at, last_seen, "
                    "escalation_level) VALUES (:id, :fp, :name, 'firing', 'warning', '{}', "
                    "'{}', 'api', '{}', 1, :now, :now, 0)"
                ),
                {"id": n, "fp": str(n) * 32, "name": name, "now": NOW},
            )
        entries = [
            (1, "eve", "alert_fired", "alert:1"),
            (2, "carol", "alert_acknowledged", "alert:1"),
            (3, "judge", "alert_resolved", "alert:2"),
        ]
        await connection.execute(
            insert(LedgerRow),
            [
                {
                    "seq": seq,
                    "at": NOW,
                    "actor": actor,
                    "event": event,
                    "operation_id": subject,
                    "details": {},
                    "prev_hash": "0" * 64,
                    "hash": str(seq) * 64,
                }
                for seq, actor, event, subject in entries
            ],
        )
        await connection.run_sync(_upgrade)
        raised = await connection.execute(
            select(AlertRow.alertname, AlertRow.raised_by).order_by(AlertRow.id)
        )
        # Cpu has no firing entry: nobody is credited, so only a person resolves it.
        assert raised.all() == [("Disk", "eve"), ("Cpu", None)]
