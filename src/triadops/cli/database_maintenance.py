"""``triad maintain database``: the seed's database script as one governed operation.

The seed ran ``VACUUM ANALYZE; REINDEX DATABASE; UPDATE pg_stat_reset()`` (the last a
syntax error; a statistics reset also zeroes the counters autovacuum decides by). Here the
same upkeep is an operation's explicit steps, reviewed, run and validated like any other:
the judiciary's checks measure health before the steps and again after them.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import JsonValue

from triadops.cli.context import AsName, JsonFlag, local_identity
from triadops.cli.ops import deliver
from triadops.cli.outcome import DryRun, Wait
from triadops.cli.remote import remote
from triadops.cli.requests import RequestFlags, request_from_flags
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationRequest
from triadops.storage.targets import OWN_DATABASE

LOG_AGE_DAYS = 7
"""Rotated log files older than this are removed."""
RETENTION_DAYS = 30
"""Retention rows older than this are deleted, in batches."""
RETENTION_BATCH = 1000
"""Rows deleted per transaction."""
OWN_RETENTION = ("audit_logs",)
"""Triad's own retention data: the API's access log (never the ledger)."""
CRITERIA = (
    "system_functionality_maintained",
    "performance_within_baseline",
    "no_data_loss",
    "constitutional_compliance_verified",
)
"""Measured before the steps and after them: the health check and the measurement."""


def database_maintenance_request(
    requester: Identity,
    *,
    target: str,
    reset_stats: bool,
    retention_tables: list[str],
) -> OperationRequest:
    """Build the maintenance request for one database target."""
    on = {"target": target}
    steps: list[dict[str, JsonValue]] = [
        {"action": "database.vacuum_analyze", "params": {**on}},
        {"action": "database.reindex", "params": {**on}},
        {"action": "logs.purge", "params": {"older_than_days": LOG_AGE_DAYS}},
    ]
    steps += [
        {
            "action": "database.purge_audit_logs",
            "params": {
                **on,
                "table": table,
                "older_than_days": RETENTION_DAYS,
                "batch_size": RETENTION_BATCH,
            },
        }
        for table in retention_tables
    ]
    if reset_stats:
        steps.append({"action": "database.reset_stats", "params": {**on}})
    flags = RequestFlags(
        operation_type="maintenance",
        authority="executive",
        description=f"database maintenance of {target}"
        + (", with a statistics reset" if reset_stats else ""),
        systems=["database" if target == OWN_DATABASE else target],
        rollback_plan=(
            "No data changes but the retention deletes: VACUUM and the index rebuild rewrite "
            "storage in place; deleted retention rows and removed old log files come back "
            "only from a backup; reset statistics are re-collected by the ANALYZE after."
        ),
        criteria=list(CRITERIA),
        steps=steps,
    )
    return request_from_flags(flags, requester)


def database(
    target: Annotated[
        str, typer.Option(help="A configured database target; triad is its own database.")
    ] = OWN_DATABASE,
    reset_stats: Annotated[
        bool,
        typer.Option(
            "--reset-stats", help="Also reset the statistics counters, then ANALYZE again."
        ),
    ] = False,
    retention_table: Annotated[
        list[str] | None,
        typer.Option(
            "--retention-table",
            metavar="TABLE",
            help="A table of retention data to purge; repeatable (default on triad: "
            "audit_logs; other targets: their retention_tables must name it).",
        ),
    ] = None,
    skip_retention: Annotated[
        bool, typer.Option("--skip-retention", help="Delete no retention rows (low risk).")
    ] = False,
    dry_run: DryRun = False,
    wait: Wait = False,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Maintain a database: VACUUM ANALYZE, index rebuild, old logs, retention, measured.

    One operation through the four branches: health measured before and after by the
    judiciary, VACUUM ANALYZE, the indexes rebuilt (PostgreSQL 12+: one by one, concurrently,
    after dropping INVALID leftovers), rotated logs older than 7 days removed, retention rows
    older than 30 days deleted in batches. Deleting rows is medium risk: outside a
    maintenance window it waits for a legislative approval.
    """
    identity = local_identity(as_name)
    tables = [] if skip_retention else list(retention_table or [])
    if not tables and not skip_retention and target == OWN_DATABASE:
        tables = list(OWN_RETENTION)
    request = database_maintenance_request(
        identity, target=target, reset_stats=reset_stats, retention_tables=tables
    )
    deliver(
        request, remote(), identity, dry_run=dry_run, wait=wait, as_json=as_json, as_name=as_name
    )
