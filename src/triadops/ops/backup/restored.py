"""``restore_matches_backup``: the judiciary's measure of a restore, against the manifest.

The executive's ``backup.restore`` step names the backup and the target it wrote; the check
counts the target's rows itself, after the operation, and compares every table of the
backup's stored manifest. Before the step has run there is nothing of it to measure.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import JsonValue
from sqlalchemy.exc import SQLAlchemyError

from triadops.actions.restore import ACTION
from triadops.checks.base import Check, CheckContext, Measurement
from triadops.domain.backups import BackupManifest, counts_differ
from triadops.domain.errors import TriadError
from triadops.domain.operations import CheckResult
from triadops.storage.backups import find_backup
from triadops.storage.maintenance import table_row_counts

NAME = "restore_matches_backup"
LISTED = 10


class RestoreMatchesBackup(Check):
    """Every table of the restored backup holds, in the target, the rows its manifest counts."""

    name: ClassVar[str] = NAME
    description: ClassVar[str] = (
        "After a restore: the target database holds, table by table, the row counts of the "
        "restored backup's manifest (tables the backup lacks are named, not failed)"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Count the target's rows and read the manifest of the backup the step restored."""
        done = [s for s in ctx.operation.steps if s.action == ACTION and s.output.get("backup_id")]
        if not done:
            return {"backup": None, "reason": "pending: no restore step has run yet"}
        output = done[-1].output
        backup_id, target = str(output.get("backup_id")), str(output.get("target"))
        async with ctx.reading() as session:
            row = await find_backup(session, backup_id)
        if row is None:
            return {"backup": backup_id, "target": target, "problems": ["no longer stored"]}
        expected = BackupManifest.model_validate(row.manifest).row_counts
        try:
            found = await table_row_counts(ctx.databases.get(target))
        except (SQLAlchemyError, OSError, TriadError) as exc:
            problem = f"the tables of {target} could not be counted: {exc}"
            return {"backup": backup_id, "target": target, "problems": [problem]}
        ours = {t: n for t, n in found.items() if t in expected}
        return {
            "backup": backup_id,
            "target": target,
            "tables": len(expected),
            "rows": sum(ours.values()),
            "problems": list[JsonValue](counts_differ(expected, ours)),
            "not_in_backup": list[JsonValue](sorted(set(found) - set(expected))),
        }

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Pass when every table's rows equal the manifest's; fail naming each that differs."""
        backup, problems = after.get("backup"), after.get("problems")
        if backup is None or not isinstance(problems, list):
            detail = str(after.get("reason") or "not measured")
            return CheckResult(name=NAME, passed=False, detail=detail, before=before, after=after)
        where = f"backup {backup} restored into {after.get('target')}"
        if problems:
            named = "; ".join(str(p) for p in problems[:LISTED])
            detail = f"{where}: rows differ from its manifest: {named}"
        else:
            rows, tables = after.get("rows"), after.get("tables")
            detail = f"{where}: {rows} rows in {tables} tables, as its manifest counts"
        return CheckResult(
            name=NAME, passed=not problems, detail=detail, before=before, after=after
        )
