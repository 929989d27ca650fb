"""``backup.test_restore``: a backup restored into a scratch database and proven sound.

Verified first (every file's sha256), then restored (``actions.backup_restore``: SQLite's
integrity check, pg_restore), row counts compared with the manifest, and for triad's own
database the ledger replayed on the restored copy (``triad audit verify``'s logic). It lives
in ``ops`` because that last check is the constitution's. Its output names the backup and
its checksum; the commit that records the step's success records the fact (``service``).
"""

from __future__ import annotations

import time
from typing import ClassVar

from pydantic import BaseModel, JsonValue

from triadops.actions.backup import BackupIdParams, raise_unless_ok, stored_manifest
from triadops.actions.backup_alerts import RECOVERY_TEST_FAILED, first_line, report_outcome
from triadops.actions.backup_restore import scratch_restore
from triadops.actions.backup_store import backup_store
from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.commands.local import LocalRunner
from triadops.constitution.ledger.audit import verify_with_checkpoints
from triadops.domain.enums import Risk
from triadops.domain.errors import ActionFailed, NotFound
from triadops.domain.operations import StepPreview
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


class RestoreTestAction(Action[BackupIdParams]):
    """Restore a backup into a scratch database, validate it, and remove the scratch."""

    name: ClassVar[str] = ACTION
    description: ClassVar[str] = (
        "Recovery test: verify a backup's checksums, restore it into a scratch database "
        "(a temporary SQLite file, or a PostgreSQL database created and dropped), check "
        "integrity and row counts, and for triad's own database its ledger; always clean up"
    )
    params_model: ClassVar[type[BaseModel]] = BackupIdParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """It changes nothing but its own scratch database, which it removes."""
    idempotent: ClassVar[bool] = True
    interruptible: ClassVar[bool] = False
    """SQLite's copy runs in a thread, which a cancel cannot stop: it waits for the step."""
    timeout_s: ClassVar[float] = 86_400.0

    def __init__(self, runner: LocalRunner | None = None) -> None:
        self.runner = runner or LocalRunner()

    async def preview(self, ctx: ActionContext, params: BackupIdParams) -> StepPreview:
        """Name the backup, where it would be restored, and what would be checked.

        ``latest`` is resolved when the step runs (a backup may be stored before then): the
        preview names the backup it stands for now, and with none stored yet says so
        rather than refusing (the run then fails, and alerts, if there is still none).
        """
        backup_id = params.backup_id
        if backup_id == LATEST:
            now = await newest_to_test(ctx.databases.get(OWN_DATABASE))
            if now is None:
                return StepPreview(
                    summary="recovery test of the newest backup not yet tested: none stored yet",
                    touches=[backup_store(ctx.settings).where],
                )
            backup_id = now
        m = await stored_manifest(ctx, backup_id)
        scratch = "a temporary SQLite file" if m.format == "sqlite" else "a scratch database"
        audit = "; replay its ledger" if m.source == OWN_DATABASE else ""
        named = m.id if params.backup_id == m.id else f"{params.backup_id} (now {m.id})"
        return StepPreview(
            summary=(
                f"recovery test of {named} ({m.source}, {m.size_bytes} bytes): verify, restore "
                f"into {scratch}, compare {len(m.row_counts)} tables' rows{audit}; clean up"
            ),
            touches=[backup_store(ctx.settings).location(m.id)],
            amounts={"bytes": m.size_bytes, "tables": len(m.row_counts)},
        )

    async def run(self, ctx: ActionContext, params: BackupIdParams) -> Output:
        """Test; a failure fires ``TriadRecoveryTestFailed``, a pass resolves it."""
        backup_id = params.backup_id
        try:
            backup_id = await resolved(ctx, params.backup_id)
            output = await self._test(ctx, backup_id)
        except Exception as exc:
            await report_outcome(
                ctx,
                RECOVERY_TEST_FAILED,
                type_="database",
                failure=f"recovery test of {backup_id} failed: {first_line(exc)}",
                about={"backup_id": backup_id},
            )
            raise
        alerts = await report_outcome(
            ctx, RECOVERY_TEST_FAILED, type_="database", failure=None, about={}
        )
        return output | {"requested": params.backup_id, "alerts": alerts}

    async def _test(self, ctx: ActionContext, backup_id: str) -> Output:
        """Verify, restore, validate, clean up; fail naming what did not hold."""
        manifest = await stored_manifest(ctx, backup_id)
        clock = time.perf_counter()
        store = backup_store(ctx.settings)
        # SQLite's file is hashed as it is copied into the scratch; pg_restore reads the
        # dump itself, so a dump is hashed first.
        hashed_first = manifest.format != "sqlite"
        raise_unless_ok(await store.verify(manifest, hashes=hashed_first))
        checks: list[JsonValue] = []
        async with (
            store.readable(manifest) as folder,
            scratch_restore(ctx, manifest, folder, self.runner) as restored,
        ):
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
            where = restored.where
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


async def resolved(ctx: ActionContext, backup_id: str) -> str:
    """`backup_id`, or for ``latest`` the newest backup not yet tested (else the newest)."""
    if backup_id != LATEST:
        return backup_id
    found = await newest_to_test(ctx.databases.get(OWN_DATABASE))
    if found is None:
        raise NotFound(
            "no backup to recovery-test: none is stored yet (triad backup run database takes one)"
        )
    return found


def backup_actions() -> list[Action[BackupIdParams]]:
    """The backup actions that need the constitution (registered by the runtime)."""
    return [RestoreTestAction()]
