"""``no_data_loss``: the tables a plan touches keep their rows, and the ledger never shrinks.

What is counted, and why the cost stays bounded:

- Only the tables the plan's steps touch (their previews' ``target.table`` and their
  ``target``/``table`` params), one ``count(*)`` each, plus one range count on the age
  column of a table a step purges by age. Nothing else in any database is read.
- Triad's own governance tables (operations, steps, approvals, tokens, principals, crown
  state, baselines) are never counted: every operation running at the same time writes
  them, so their counts say nothing about this one, and counting them costs what the
  history costs. Their record is the ledger, which is append-only: its head (one row) is
  compared instead; ``triad audit verify`` walks the whole chain.
- Retention tables (triad's audit log, a target's ``retention_tables``) are counted only
  when a step of this plan names them: other operations purge them by design.

A purge by age may take every row that is due by the time it can start, so a purge
interrupted and resumed (whose last attempt declares only its own deletions) or one
running beside another purge of the same table is judged against the rows that were due,
not only against what it declared.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from pydantic import JsonValue
from sqlalchemy.exc import SQLAlchemyError

from triadops.checks.base import Check, CheckContext, Measurement
from triadops.checks.footprint import AgePurge, Footprint, footprint
from triadops.checks.measurements import number, section
from triadops.domain.errors import TriadError
from triadops.domain.operations import CheckResult, Operation, utcnow
from triadops.storage import maintenance
from triadops.storage.ledger import head
from triadops.storage.tables import OWN_RETENTION_TABLES
from triadops.storage.targets import OWN_DATABASE

START_SLACK_S = 60.0
"""Time allowed, besides the earlier steps' timeouts, between the before measurement and
the start of a purge's first attempt (the judiciary measures, then execution starts)."""
BUDGET_SHARE = 0.8
"""Share of ``check_timeout_s`` the database may spend on one count before it is stopped,
so the database gives up first and says which table was too slow."""


def declared_deletions(operation: Operation) -> dict[tuple[str, str], int]:
    """Sum the ``deleted_rows`` the operation's steps reported, by (target, table)."""
    declared: dict[tuple[str, str], int] = {}
    for step in operation.steps:
        target = step.params.get("target", OWN_DATABASE)
        target = target if isinstance(target, str) else OWN_DATABASE
        for table, rows in section(step.output.get("deleted_rows")).items():
            key = (target, table)
            declared[key] = declared.get(key, 0) + int(number(rows))
    return declared


def counted_tables(ctx: CheckContext, found: Footprint) -> list[tuple[str, str]]:
    """Return the (target, table) pairs whose rows this check counts, sorted."""
    counted = []
    for target, tables in found.tables.items():
        if target == OWN_DATABASE:
            retention = OWN_RETENTION_TABLES
        else:
            retention = frozenset(ctx.settings.retention_tables.get(target, []))
        for table in tables:
            if table in retention:
                if (target, table) in found.named:
                    counted.append((target, table))
            elif target != OWN_DATABASE:
                counted.append((target, table))
    return sorted(counted)


class NoDataLoss(Check):
    """The tables the plan touches keep their rows, except those its steps deleted."""

    name: ClassVar[str] = "no_data_loss"
    description: ClassVar[str] = (
        "Row counts of the tables the plan touches, before and after; only declared "
        "deletions (or, for a purge by age, rows that were due) may lower them, and the "
        "ledger's head never moves back"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Count the rows of the touched tables and read the ledger's head."""
        found = footprint(ctx.operation, ctx.databases.names())
        rows: dict[str, dict[str, JsonValue]] = {}
        due: dict[str, dict[str, JsonValue]] = {}
        errors: dict[str, JsonValue] = {}
        for target, table in counted_tables(ctx, found):
            purge = found.purges.get((target, table))
            try:
                total, older = await maintenance.count_rows(
                    ctx.databases.get(target),
                    table=table,
                    older_than=None if purge is None else (purge.column, _due_before(purge)),
                    budget_s=ctx.settings.check_timeout_s * BUDGET_SHARE,
                )
            except (SQLAlchemyError, OSError, TriadError, TimeoutError) as exc:
                errors[f"{target}.{table}"] = str(exc).splitlines()[0]
                continue
            rows.setdefault(target, {})[table] = total
            if older is not None:
                due.setdefault(target, {})[table] = older
        async with ctx.reading() as session:
            seq, digest = await head(session)
        return {
            "rows": dict[str, JsonValue](rows),
            "due": dict[str, JsonValue](due),
            "errors": errors,
            "ledger_head": {"seq": seq, "hash": digest},
        }

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Fail when a table lost more rows than allowed, or the ledger's head moved back."""
        declared = declared_deletions(ctx.operation)
        problems: list[str] = []
        counted: list[str] = []
        for when, measurement in (("before", before), ("after", after)):
            for name, error in section(measurement.get("errors")).items():
                problems.append(f"rows of {name} could not be counted {when}: {error}")
        rows_after, due_before = section(after.get("rows")), section(before.get("due"))
        for target, tables in section(before.get("rows")).items():
            for table, count in section(tables).items():
                name = f"{target}.{table}"
                left = section(rows_after.get(target)).get(table)
                if left is None:
                    continue  # its error after is reported above
                counted.append(name)
                lost = int(number(count) - number(left))
                said = declared.get((target, table), 0)
                was_due = section(due_before.get(target)).get(table)
                if lost > max(said, int(number(was_due))):
                    due_note = "" if was_due is None else f", {int(number(was_due))} were due"
                    problems.append(f"{name} lost {lost} rows, {said} declared{due_note}")
        seq_before = int(number(section(before.get("ledger_head")).get("seq")))
        seq_after = int(number(section(after.get("ledger_head")).get("seq")))
        if seq_after < seq_before:
            problems.append(f"the ledger shrank from {seq_before} to {seq_after} entries")
        tables = (
            f"no table of {', '.join(counted)} lost rows beyond the "
            f"{sum(declared.values())} deletions the steps declared"
            if counted
            else "the plan touches no table this check counts"
        )
        return CheckResult(
            name=self.name,
            passed=not problems,
            detail="; ".join(problems)
            if problems
            else f"{tables}; the ledger's head moved from {seq_before} to {seq_after}",
            before=before,
            after=after,
        )


def _due_before(purge: AgePurge) -> datetime:
    """Return the cutoff under which rows may be gone once the purge could have started."""
    return (
        utcnow()
        - timedelta(days=purge.older_than_days)
        + timedelta(seconds=purge.start_within_s + START_SLACK_S)
    )
