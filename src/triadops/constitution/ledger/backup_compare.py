"""Backups' recovery tests held against their ledger facts (``backup_restore_tested``).

A row says a backup passed its recovery test only if the ledger records that test, for
the same manifest checksum, by the same operation; and the backup's manifest must still
be the one that was tested. A row deleted since (retention) is no finding.
"""

from __future__ import annotations

from collections.abc import Sequence

from triadops.constitution.ledger.folds import LedgerState
from triadops.storage.tables import BackupRow


def compare_backups(state: LedgerState, rows: Sequence[BackupRow]) -> None:
    """Name every backup whose tested state disagrees with the ledger's facts."""
    facts = state.backups_tested
    for row in rows:
        subject = f"backup {row.id}"
        fact = facts.get(row.id)
        if fact is None:
            if row.tested_checksum is not None or row.tested_at is not None:
                state.say(
                    "backup",
                    subject,
                    "claims a passed recovery test that the ledger does not record",
                )
            continue
        checksum, operation = fact
        if row.tested_checksum != checksum or row.tested_by != operation or row.tested_at is None:
            state.say(
                "backup",
                subject,
                f"tested state ({row.tested_checksum}, by {row.tested_by}) differs from the "
                f"ledger's recovery test ({checksum}, by {operation})",
            )
        elif row.checksum != checksum:
            state.say(
                "backup",
                subject,
                f"manifest checksum {row.checksum} is not the one its recovery test passed "
                f"({checksum})",
            )
