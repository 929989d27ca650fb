"""``backup.test_restore``: a backup restored into a scratch database and proven sound.

Verified first (every file's sha256), then restored (``actions.backup_restore``: SQLite's
integrity check, pg_restore), row counts compared with the manifest, and for triad's own
database the ledger replayed on the restored copy (``triad audit verify``'s logic). It lives
in ``ops`` because that last check is the constitution's. Its output names the backup and
its checksum; the commit that records the step's success records the fact (``service``).
An archive backup is tested by ``archives``, a declared command's by ``command_tests``:
the same action, so the same fact.
"""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from pydantic import BaseModel, Field, JsonValue

from triadops.actions.backup import BackupIdParams, raise_unless_ok, stored_manifest
from triadops.actions.backup_alerts import (
    RECOVERY_TEST_FAILED,
    alert_type,
    first_line,
    report_outcome,
)
from triadops.actions.backup_restore import scratch_restore
from triadops.actions.backup_store import BackupStore, backup_store
from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.commands.local import LocalRunner
from triadops.constitution.ledger.audit import verify_with_checkpoints
from triadops.domain.backups import BackupManifest, BackupType, Verification
from triadops.domain.enums import Risk
from triadops.domain.errors import ActionFailed, NotFound
from triadops.domain.operations import StepPreview
from triadops.ops.backup.archives import test_archive
from triadops.ops.backup.command_tests import test_command_backup
from triadops.ops.backup.copy_checkpoints import check_copy_checkpoints
from triadops.ops.backup.copy_checks import check_copy
from triadops.storage.backups import newest_to_test
from triadops.storage.engine import session_factory
from triadops.storage.targets import OWN_DATABASE

ACTION = "backup.test_restore"
LATEST = "latest"
"""The ``backup_id`` that names the newest backup not yet tested, resolved at run time."""
LISTED = 5
"""Audit findings named in a failed recovery test's error."""


class RestoreTestParams(BackupIdParams):
    """Which backup to test; with ``latest``, optionally the newest of one type or source."""

    type: BackupType | None = None
    """With ``latest``: the newest backup of this type not yet tested (else its newest)."""
    source: str | None = Field(default=None, min_length=1, max_length=100)
    """With ``latest``: only backups of this source (a database target, a command's name)."""


class RestoreTestAction(Action[RestoreTestParams]):
    """Restore a backup into a scratch database, validate it, and remove the scratch."""

    name: ClassVar[str] = ACTION
    description: ClassVar[str] = (
        "Recovery test: verify a backup's checksums, restore it into a scratch database "
        "(a temporary SQLite file, or a PostgreSQL database created and dropped), check "
        "integrity and row counts, and for triad's own database its ledger; always clean up"
    )
    params_model: ClassVar[type[BaseModel]] = RestoreTestParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """It changes nothing but its own scratch database, which it removes."""
    idempotent: ClassVar[bool] = True
    interruptible: ClassVar[bool] = False
    """SQLite's copy runs in a thread, which a cancel cannot stop: it waits for the step."""
    timeout_s: ClassVar[float] = 86_400.0

    def __init__(self, runner: LocalRunner | None = None) -> None:
        self.runner = runner or LocalRunner()

    async def preview(self, ctx: ActionContext, params: RestoreTestParams) -> StepPreview:
        """Name the backup, where it would be restored, and what would be checked.

        ``latest`` is resolved when the step runs (a backup may be stored before then): the
        preview names the backup it stands for now, and with none stored yet says so
        rather than refusing (the run then fails, and alerts, if there is still none).
        """
        backup_id = params.backup_id
        if backup_id == LATEST:
            now = await newest_to_test(
                ctx.databases.get(OWN_DATABASE),
                type_=getattr(params, "type", None),
                source=getattr(params, "source", None),
            )
            if now is None:
                return StepPreview(
                    summary="recovery test of the newest backup not yet tested: none stored yet",
                    touches=[backup_store(ctx.settings).where],
                )
            backup_id = now
        m = await stored_manifest(ctx, backup_id)
        scratch = {"sqlite": "a temporary SQLite file", "pg_dump_custom": "a scratch database"}
        into = scratch.get(m.format, "a scratch folder")
        audit = "; replay its ledger" if m.source == OWN_DATABASE else ""
        named = m.id if params.backup_id == m.id else f"{params.backup_id} (now {m.id})"
        return StepPreview(
            summary=(
                f"recovery test of {named} ({m.source}, {m.size_bytes} bytes): verify, restore "
                f"into {into}, compare {len(m.row_counts)} tables' rows{audit}; clean up"
            ),
            touches=[backup_store(ctx.settings).location(m.id)],
            amounts={"bytes": m.size_bytes, "tables": len(m.row_counts)},
        )

    async def run(self, ctx: ActionContext, params: RestoreTestParams) -> Output:
        """Test; a failure fires ``TriadRecoveryTestFailed``, a pass resolves it."""
        backup_id = params.backup_id
        among = params if isinstance(params, RestoreTestParams) else None  # or BackupIdParams
        type_: str = (among.type if among else None) or "database"
        try:
            backup_id = await resolved(ctx, params.backup_id, among)
            type_ = alert_type(await stored_manifest(ctx, backup_id))
            output = await self._test(ctx, backup_id)
        except Exception as exc:
            await report_outcome(
                ctx,
                RECOVERY_TEST_FAILED,
                type_=type_,
                failure=f"recovery test of {backup_id} failed: {first_line(exc)}",
                about={"backup_id": backup_id},
            )
            raise
        alerts = await report_outcome(
            ctx, RECOVERY_TEST_FAILED, type_=type_, failure=None, about={}
        )
        return output | {"requested": params.backup_id, "alerts": alerts}

    async def _restored(
        self,
        ctx: ActionContext,
        store: BackupStore,
        manifest: BackupManifest,
        hashing: asyncio.Task[Verification] | None,
    ) -> tuple[list[JsonValue], str]:
        """Restore into a scratch database, check it, clean up; the checks that passed."""
        checks: list[JsonValue] = []
        async with (
            store.readable(manifest) as folder,
            scratch_restore(ctx, manifest, folder, self.runner) as restored,
        ):
            if hashing is not None:
                raise_unless_ok(await hashing)
            checks += restored.checks
            checks += await check_copy(ctx, manifest, restored, self.runner)
            if manifest.source == OWN_DATABASE:
                async with session_factory(restored.engine)() as session:
                    report, recorded = await verify_with_checkpoints(session)
                    signed = (  # a broken ledger is named first, as audit verify finds it
                        await check_copy_checkpoints(
                            session, ctx.settings, backup_id=manifest.id, recorded=recorded
                        )
                        if report.ok
                        else ""
                    )
                if not report.ok:
                    found = [f"{d.subject}: {d.problem}" for d in report.discrepancies[:LISTED]]
                    if report.problem:
                        found.insert(0, f"chain at {report.first_bad_seq}: {report.problem}")
                    raise ActionFailed(
                        f"restored copy of {manifest.id} fails audit verify: " + "; ".join(found)
                    )
                checks.append(f"audit verify: {report.entries_checked} ledger entries")
                checks.append(signed)
            return checks, restored.where

    async def _test(self, ctx: ActionContext, backup_id: str) -> Output:
        """Verify, restore, validate, clean up; fail naming what did not hold."""
        manifest = await stored_manifest(ctx, backup_id)
        if manifest.format == "tar_zst":
            return await test_archive(ctx, manifest)
        if manifest.format == "command":
            return await test_command_backup(ctx, manifest, self.runner)
        clock = time.perf_counter()
        store = backup_store(ctx.settings)
        # SQLite's copy in the scratch is hashed, so what is restored is what was backed
        # up. A dump is hashed while pg_restore reads it: the test passes only when both
        # hold, and a dump that differs from its manifest is named as such, whatever
        # pg_restore made of it.
        hashing: asyncio.Task[Verification] | None = None
        if manifest.format == "sqlite":
            raise_unless_ok(await store.verify(manifest, hashes=False))
        else:
            hashing = asyncio.create_task(_hashed(ctx, store, manifest))
        try:
            checks, where = await self._restored(ctx, store, manifest, hashing)
        except Exception:
            if hashing is not None:
                raise_unless_ok(await hashing)
            raise
        finally:
            if hashing is not None and not hashing.done():
                hashing.cancel()
        return {
            "backup_id": manifest.id,
            "checksum": manifest.checksum(),
            "passed": True,
            "restored_into": where,
            "checks": checks,
            "size_bytes": manifest.size_bytes,
            "tables": len(manifest.row_counts),
            "rows": sum(manifest.row_counts.values()),
            "duration_s": round(time.perf_counter() - clock, 3),
        }


async def _hashed(ctx: ActionContext, store: BackupStore, manifest: BackupManifest) -> Verification:
    """Verify every file of the backup by its sha256, reporting the bytes read."""
    async with ctx.progress("verify", manifest.size_bytes) as meter:
        found = await store.verify(manifest, on_bytes=meter.add)
        meter.complete()
    return found


async def resolved(
    ctx: ActionContext, backup_id: str, among: RestoreTestParams | None = None
) -> str:
    """`backup_id`, or for ``latest`` the newest backup not yet tested (else the newest)."""
    if backup_id != LATEST:
        return backup_id
    found = await newest_to_test(
        ctx.databases.get(OWN_DATABASE),
        type_=among.type if among else None,
        source=among.source if among else None,
    )
    if found is None:
        raise NotFound(
            "no backup to recovery-test: none is stored yet (triad backup run database takes one)"
        )
    return found


def backup_actions() -> list[Action[RestoreTestParams]]:
    """The backup actions that need the constitution (registered by the runtime)."""
    return [RestoreTestAction()]
