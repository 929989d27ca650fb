"""The ledger events of backups: a recovery test that passed, filed under its operation."""

from __future__ import annotations

from typing import Literal

from triadops.domain.events.base import LedgerEvent


class BackupRestoreTested(LedgerEvent):
    """A backup was restored into a scratch database and validated (``backup.test_restore``).

    Recorded in the commit that records the step's success, with the row's tested state:
    a backup is verified only where the ledger says so.
    """

    kind: Literal["backup_restore_tested"] = "backup_restore_tested"
    backup: str
    """The backup's id."""
    checksum: str
    """The sha256 of the backup's manifest, which covers every file's."""
