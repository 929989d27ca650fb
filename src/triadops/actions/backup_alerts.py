"""The alerts a failed backup or recovery test raises, and the next success resolves.

One alert per backup type and kind: ``TriadBackupFailed`` and ``TriadRecoveryTestFailed``,
labelled ``type`` (the backup's type; ``command:<name>`` for a declared command's). A
failure fires it (critical: a backup nobody can restore is no backup), naming the source,
the backup and the error; the next success of the same kind resolves it. A scheduled run
also fails its routine task (``MaintenanceTaskFailed``); this alert is raised by manual
runs too.
"""

from __future__ import annotations

from triadops.actions.base import ActionContext
from triadops.domain.alerts import AlertIn, Severity
from triadops.domain.backups import BackupManifest
from triadops.domain.operations import utcnow

BACKUP_FAILED = "TriadBackupFailed"
RECOVERY_TEST_FAILED = "TriadRecoveryTestFailed"
ERROR_CHARS = 500
"""An error's first line is kept in the alert, cut to this length."""


def first_line(exc: BaseException) -> str:
    """The error's first line, bounded (what the step's own error also says)."""
    lines = str(exc).splitlines()
    said = lines[0] if lines else type(exc).__name__
    return said[:ERROR_CHARS]


def alert_type(manifest: BackupManifest) -> str:
    """The ``type`` label of a backup's alerts: its type, and a command's name."""
    return f"command:{manifest.source}" if manifest.type == "command" else manifest.type


async def report_outcome(
    ctx: ActionContext,
    alertname: str,
    *,
    type_: str,
    failure: str | None,
    about: dict[str, str],
) -> str:
    """Fire `alertname` for `type_` when `failure` is given, else resolve it; say what happened.

    Never raises: the backup or recovery test's own outcome stands whatever the alert
    service does, and the answer says when the alert could not be stored.
    """
    labels = {"alertname": alertname, "type": type_}
    if failure is None:
        alert = AlertIn(labels=labels, status="resolved")
    else:
        alert = AlertIn(
            labels=labels,
            severity=Severity.CRITICAL,
            annotations={"summary": failure, "operation_id": ctx.operation_id, **about},
            starts_at=utcnow(),
        )
    if ctx.alerts is None:
        return "not raised: no alert service in this context"
    try:
        await ctx.alerts([alert])
    except Exception as exc:  # the outcome stands; the answer says the alert did not
        ctx.log.warning("backup alert not stored", alert=alertname, error=type(exc).__name__)
        return f"not stored: {type(exc).__name__}"
    return "resolved" if failure is None else "firing"
