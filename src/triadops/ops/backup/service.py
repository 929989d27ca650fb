"""A passed recovery test becomes a ledger fact in the commit that records the step's success.

``on_commit`` is a commit subscriber (``constitution.subscribers``) the runtime registers:
when the queued entries hold a ``backup.test_restore`` step's success, it reads the step's
output (the backup and the checksum it restored), records ``backup_restore_tested`` under
the operation, and sets the backup's tested state, all in that same transaction. Nothing
else writes the tested state, so ``triad audit verify`` finds a row edited to claim it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution import ledger
from triadops.domain.events import BackupRestoreTested, Queued, StepSucceeded
from triadops.domain.operations import utcnow
from triadops.ops.backup.recovery import ACTION
from triadops.storage.backups import find_backup, mark_tested, step_output


async def on_commit(session: AsyncSession, entries: Sequence[Queued]) -> None:
    """Record each passed recovery test the queued step successes stand for."""
    passed = [
        (entry.subject, entry.event.step, entry.actor)
        for entry in entries
        if isinstance(entry.event, StepSucceeded)
        and getattr(entry.event, "action", None) == ACTION  # entries older than the field lack it
        and entry.subject is not None
    ]
    for operation_id, step, actor in passed:
        output = await step_output(session, operation_id, step)
        backup_id, checksum = output.get("backup_id"), output.get("checksum")
        if output.get("passed") is not True or not isinstance(backup_id, str):
            continue
        row = await find_backup(session, backup_id)
        if row is None or not isinstance(checksum, str) or row.checksum != checksum:
            continue  # pruned, or its manifest replaced since: nothing to vouch for
        now = utcnow()
        await mark_tested(session, backup_id, checksum=checksum, at=now, by=operation_id)
        ledger.record(
            session,
            BackupRestoreTested(backup=backup_id, checksum=checksum),
            actor=actor,
            operation_id=operation_id,
            at=now,
        )
