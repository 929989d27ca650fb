"""The ledger machine's rules for backups, beside the ``backup`` and ``backup_prune`` kinds.

A mixin of `ledger_machine.LedgerMachine`: a stored backup's file rots on disk (a byte
flipped, as a failing disk does, past every service), so the next recovery test of it fails
and must leave no ``backup_restore_tested`` fact and no tested row; the backups and their
recovery tests themselves are submitted as operations of the ``backup`` kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hypothesis.stateful import rule

from tests.constitution.ledger_alert_rules import PICK
from triadops.actions.backup_store import backup_store
from triadops.domain.backups import BackupManifest
from triadops.storage.backups import list_backups

if TYPE_CHECKING:
    from tests.constitution.ledger_machine import LedgerMachine


class BackupRules:
    """Damage to a stored backup's files, found by its next recovery test."""

    @rule(pick=PICK)
    def a_backup_file_rots(self: LedgerMachine, pick: int) -> None:
        async def newest() -> list[BackupManifest]:
            async with self.w.rt.session(read_only=True) as session:
                rows = await list_backups(session)
            return [BackupManifest.model_validate(r.manifest) for r in rows]

        manifests = self.run(newest())
        if not manifests:
            return
        manifest = manifests[pick % len(manifests)]
        folder = Path(backup_store(self.w.rt.settings).location(manifest.id))
        with (folder / manifest.files[0].name).open("r+b") as f:
            f.seek(manifest.files[0].size_bytes // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0x01]))
        self.w.seen.add("backup rotted")
