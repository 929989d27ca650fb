"""The recovery test of a backup taken by a declared command: its checks, then its tool's.

The kept files' sha256 first (through the store), then the entry's declared ``verify``
command, then its ``restore_test`` command with ``TRIAD_SCRATCH_DIR`` an empty folder,
removed after whatever happened. Exit 0 passes; a pass is the same ledger fact as a
database's, since ``backup.test_restore`` dispatches here.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from pydantic import JsonValue

from triadops.actions.backup import raise_unless_ok
from triadops.actions.backup_commands import declared_check
from triadops.actions.backup_store import backup_store
from triadops.actions.base import ActionContext, Output
from triadops.actions.commands.invocation import Runner
from triadops.domain.backups import BackupManifest


async def test_command_backup(
    ctx: ActionContext, manifest: BackupManifest, runner: Runner
) -> Output:
    """Verify the kept files, run the declared verify and restore test; clean up."""
    clock = time.perf_counter()
    raise_unless_ok(await backup_store(ctx.settings).verify(manifest))
    checks: list[JsonValue] = [f"sha256 of {len(manifest.files)} files"]
    checks += await declared_check(ctx, manifest, "verify", runner)
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="triad-restore-"))
    try:
        checks += await declared_check(ctx, manifest, "restore_test", runner, scratch=scratch)
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    return {
        "backup_id": manifest.id,
        "type": manifest.type,
        "source": manifest.source,
        "checksum": manifest.checksum(),
        "passed": True,
        "restored_into": str(scratch),
        "checks": checks,
        "size_bytes": manifest.size_bytes,
        "duration_s": round(time.perf_counter() - clock, 3),
    }
