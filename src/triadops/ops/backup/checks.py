"""The backup checks, measured from the stored backups and their ledger facts.

``backup_integrity_verified``, ``backup_completeness_confirmed`` and
``recovery_test_successful``.

Each judges one backup: the one the operation's backup step made or its recovery test
tested (the step's output names it), or else the newest stored backup. Before the
operation's own backup step has run there is nothing of it to measure, so the measurement
says so; only the state after is judged.

- integrity: every file of the backup is present, of its size, and hashes to the sha256
  its manifest names (the files are read once more); the stored manifest is the one whose
  checksum the row keeps.
- completeness: every table the source database holds now has a row count in the
  manifest (for system state: every export), and every file the manifest lists is in the
  backup's folder at its size.
- recovery test: the backup's recovery test passed as the ledger says: a
  ``backup_restore_tested`` entry by the operation the row names, for the checksum the
  backup still has (a row edited to claim a test has no such entry).

They live in ``ops`` because they read the backup's files as ``actions.backup_files``
does; the runtime registers them (``backup_checks``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import JsonValue
from sqlalchemy.exc import SQLAlchemyError

from triadops.actions.backup_store import backup_store
from triadops.checks.base import Check, CheckContext, Measurement
from triadops.domain.backups import BackupManifest
from triadops.domain.errors import TriadError
from triadops.domain.operations import CheckResult, utcnow
from triadops.storage.backups import find_backup, newest_backup, restore_test_facts
from triadops.storage.maintenance import user_table_names
from triadops.storage.state_export import TABLES as STATE_TABLES
from triadops.storage.tables import BackupRow

BACKUP_STEPS = frozenset(
    {
        "backup.database",
        "backup.configurations",
        "backup.logs",
        "backup.system_state",
        "backup.command",
        "backup.test_restore",
        "backup.verify",
    }
)
LISTED = 10
"""Problems named in a verdict; the measurement keeps them all."""


async def subject(ctx: CheckContext) -> tuple[BackupRow | None, str | None]:
    """The backup to judge and, when there is none, why (None: no backup is stored)."""
    steps = [s for s in ctx.operation.steps if s.action in BACKUP_STEPS]
    named = [s.output.get("backup_id") for s in steps if s.output.get("backup_id")]
    async with ctx.reading() as session:
        if named:
            row = await find_backup(session, str(named[-1]))
            return row, None if row is not None else f"backup {named[-1]} is no longer stored"
        if steps:
            return None, "pending: this operation's backup step has not run yet"
        row = await newest_backup(session, at=utcnow())
    return row, None


def _absent(reason: str | None) -> Measurement:
    return {"backup": None, "reason": reason or "no backup is stored"}


def _verdict(
    check: Check, before: Measurement, after: Measurement, problems: list[str], ok: str
) -> CheckResult:
    """Pass with `ok`, or fail naming the backup and its first problems."""
    backup = after.get("backup")
    if backup is None:
        detail = str(after.get("error") or after.get("reason") or "no backup is stored")
        return CheckResult(name=check.name, passed=False, detail=detail, before=before, after=after)
    if problems:
        named = "; ".join(problems[:LISTED])
        more = f" (and {len(problems) - LISTED} more)" if len(problems) > LISTED else ""
        detail = f"backup {backup}: {named}{more}"
    else:
        detail = f"backup {backup}: {ok}"
    return CheckResult(
        name=check.name, passed=not problems, detail=detail, before=before, after=after
    )


def _problems(after: Measurement) -> list[str]:
    found = after.get("problems")
    return [str(p) for p in found] if isinstance(found, list) else ["not measured"]


class BackupIntegrityVerified(Check):
    """The backup's files hash to its manifest's sha256, and its manifest is the stored one."""

    name: ClassVar[str] = "backup_integrity_verified"
    description: ClassVar[str] = (
        "The backup the operation made or tested (else the newest): every file present, of "
        "its size, with the sha256 its manifest names, and the manifest the one stored"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Hash every file of the backup against its manifest."""
        row, reason = await subject(ctx)
        if row is None:
            return _absent(reason)
        manifest = BackupManifest.model_validate(row.manifest)
        problems = (
            []
            if manifest.checksum() == row.checksum
            else [
                f"its stored manifest does not have the checksum {row.checksum} it was stored with"
            ]
        )
        found = await backup_store(ctx.settings).verify(manifest)
        problems += [f"{p.name}: {p.problem}" for p in found.problems]
        return {
            "backup": row.id,
            "checksum": row.checksum,
            "files_checked": found.files_checked,
            "bytes_checked": found.bytes_checked,
            "problems": list[JsonValue](problems),
        }

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Pass when every file matched; fail naming each that did not."""
        ok = (
            f"{after.get('files_checked')} files, {after.get('bytes_checked')} bytes match "
            "their sha256"
        )
        return _verdict(self, before, after, _problems(after), ok)


class BackupCompletenessConfirmed(Check):
    """Every table of the source has its row count in the manifest; every file is there."""

    name: ClassVar[str] = "backup_completeness_confirmed"
    description: ClassVar[str] = (
        "The backup the operation made or tested (else the newest): its manifest counts the "
        "rows of every table its source database holds, and lists files that are all present "
        "at their size"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """List the source's tables and the backup's files; compare with the manifest."""
        row, reason = await subject(ctx)
        if row is None:
            return _absent(reason)
        manifest = BackupManifest.model_validate(row.manifest)
        problems: list[str] = []
        tables: list[str] = []
        if manifest.type == "system_state":
            tables = list(STATE_TABLES)  # what every export must count
        elif manifest.type == "database":
            try:
                tables = await user_table_names(ctx.databases.get(manifest.source))
            except (SQLAlchemyError, OSError, TriadError) as exc:
                problems.append(f"the tables of {manifest.source} could not be listed: {exc}")
        missing = sorted(set(tables) - set(manifest.row_counts))
        if missing:
            problems.append(f"no row count in its manifest for {', '.join(missing)}")
        negative = sorted(t for t, n in manifest.row_counts.items() if n < 0)
        if negative:
            problems.append(f"negative row counts for {', '.join(negative)}")
        if not manifest.files and manifest.type != "command":  # a tool may keep nothing here
            problems.append("its manifest lists no file")
        present = await backup_store(ctx.settings).verify(manifest, hashes=False)
        problems += [f"{p.name}: {p.problem}" for p in present.problems]
        return {
            "backup": row.id,
            "source": manifest.source,
            "tables": len(tables),
            "counted": len(manifest.row_counts),
            "rows": sum(manifest.row_counts.values()),
            "files": len(manifest.files),
            "problems": list[JsonValue](problems),
        }

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Pass when nothing is missing; fail naming the tables and files that are."""
        ok = (
            f"all {after.get('tables')} tables of {after.get('source')} counted "
            f"({after.get('rows')} rows), its {after.get('files')} files present"
        )
        return _verdict(self, before, after, _problems(after), ok)


class RecoveryTestSuccessful(Check):
    """The backup's recovery test passed, as a ledger fact for the checksum it still has."""

    name: ClassVar[str] = "recovery_test_successful"
    description: ClassVar[str] = (
        "The backup the operation tested (else the newest) passed its recovery test: the "
        "ledger records it (backup_restore_tested) for the checksum the backup still has"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Read the backup's tested state and the ledger entries that should back it."""
        row, reason = await subject(ctx)
        if row is None:
            return _absent(reason)
        facts: list[str] = []
        if row.tested_by is not None:
            async with ctx.reading() as session:
                facts = await restore_test_facts(
                    session, backup_id=row.id, operation_id=row.tested_by
                )
        return {
            "backup": row.id,
            "checksum": row.checksum,
            "tested_at": None if row.tested_at is None else row.tested_at.isoformat(),
            "tested_checksum": row.tested_checksum,
            "tested_by": row.tested_by,
            "ledger_checksums": list[JsonValue](list(facts)),
        }

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Pass when the ledger records a passed test of this very manifest."""
        if after.get("backup") is None:
            return _verdict(self, before, after, [], "")
        checksum, tested = after.get("checksum"), after.get("tested_checksum")
        facts = after.get("ledger_checksums")
        facts = facts if isinstance(facts, list) else []
        problems = []
        if after.get("tested_at") is None:
            problems.append("no recovery test has passed")
        elif tested not in facts:
            problems.append(
                f"its row claims a recovery test (by {after.get('tested_by')}) that the "
                "ledger does not record"
            )
        elif tested != checksum:
            problems.append(
                f"its manifest changed since its recovery test (tested {tested}, now {checksum})"
            )
        ok = f"recovery test passed at {after.get('tested_at')} by {after.get('tested_by')}"
        return _verdict(self, before, after, problems, ok)


def backup_checks() -> list[Check]:
    """The backup checks (registered by the runtime beside the built-in ones)."""
    return [BackupIntegrityVerified(), BackupCompletenessConfirmed(), RecoveryTestSuccessful()]
