"""Database checks: no rows lost beyond what steps declared, latency within baseline."""

from __future__ import annotations

from typing import ClassVar

from pydantic import JsonValue
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.checks.base import Check, CheckContext, Measurement
from triadops.checks.measurements import ms, number, section
from triadops.domain.errors import TriadError
from triadops.domain.operations import CheckResult, Operation
from triadops.storage import maintenance
from triadops.storage.baselines import db_latency_name, get_baseline
from triadops.storage.ledger import count_entries
from triadops.storage.targets import OWN_DATABASE

LATENCY_FLOOR_S = 0.001
"""Round trips under a millisecond are noise: limits never go below this times the tolerance."""


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


class NoDataLoss(Check):
    """Every table keeps its rows, except those a step deleted and declared."""

    name: ClassVar[str] = "no_data_loss"
    description: ClassVar[str] = (
        "Row counts per table before and after; only declared deletions may lower them, "
        "and the ledger never shrinks"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Count the rows of every table of every target database."""
        rows: dict[str, JsonValue] = {}
        errors: dict[str, JsonValue] = {}
        for target in ctx.database_targets:
            try:
                counts = await maintenance.table_row_counts(ctx.databases.get(target))
            except (SQLAlchemyError, OSError, TriadError) as exc:
                errors[target] = str(exc).splitlines()[0]
                continue
            rows[target] = dict[str, JsonValue](counts)
        # The ledger is watched even when the plan works on other databases only.
        async with AsyncSession(ctx.own) as session:
            ledger = await count_entries(session)
        return {"rows": rows, "errors": errors, "ledger_entries": ledger}

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Fail when a table lost more rows than declared, or the ledger lost any."""
        declared = declared_deletions(ctx.operation)
        rows_before, rows_after = section(before.get("rows")), section(after.get("rows"))
        problems: list[str] = []
        for target in ctx.database_targets:
            if target not in rows_before or target not in rows_after:
                when = "before" if target not in rows_before else "after"
                error = section(before.get("errors") if when == "before" else after.get("errors"))
                problems.append(
                    f"rows of {target} could not be counted {when}: {error.get(target)}"
                )
                continue
            tables_after = section(rows_after[target])
            for table, count in section(rows_before[target]).items():
                lost = int(number(count) - number(tables_after.get(table)))
                allowed = declared.get((target, table), 0)
                if target == OWN_DATABASE and table in maintenance.APPEND_ONLY_TABLES and lost > 0:
                    problems.append(f"the ledger table {table} lost {lost} rows")
                elif lost > allowed:
                    problems.append(f"{target}.{table} lost {lost} rows, {allowed} declared")
        ledger_before, ledger_after = before.get("ledger_entries"), after.get("ledger_entries")
        if number(ledger_after) < number(ledger_before):
            problems.append(f"the ledger shrank from {ledger_before} to {ledger_after} entries")
        total = sum(declared.values())
        return CheckResult(
            name=self.name,
            passed=not problems,
            detail=(
                "; ".join(problems)
                if problems
                else f"no table of {', '.join(ctx.database_targets)} lost rows beyond the "
                f"{total} deletions the steps declared"
            ),
            before=before,
            after=after,
        )


class PerformanceWithinBaseline(Check):
    """Database round trips stay within the tolerance of their baseline."""

    name: ClassVar[str] = "performance_within_baseline"
    description: ClassVar[str] = (
        "Median SELECT 1 latency per database against the stored baseline (or the "
        "before measurement) times performance_tolerance"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Time round trips to every target and read their stored baselines."""
        latency: dict[str, JsonValue] = {}
        baseline: dict[str, JsonValue] = {}
        errors: dict[str, JsonValue] = {}
        async with AsyncSession(ctx.own) as session:
            for target in ctx.database_targets:
                row = await get_baseline(session, name=db_latency_name(target))
                baseline[target] = None if row is None else row.value
        for target in ctx.database_targets:
            try:
                latency[target] = await maintenance.ping_latency_s(ctx.databases.get(target))
            except (SQLAlchemyError, OSError, TriadError) as exc:
                errors[target] = str(exc).splitlines()[0]
        return {"latency_s": latency, "baseline_s": baseline, "errors": errors}

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Fail when latency after exceeds max(baseline, before, 1 ms) times the tolerance."""
        tolerance = ctx.settings.performance_tolerance
        latency_before = section(before.get("latency_s"))
        latency_after = section(after.get("latency_s"))
        baselines = section(after.get("baseline_s")) or section(before.get("baseline_s"))
        problems: list[str] = []
        findings: list[str] = []
        for target in ctx.database_targets:
            if target not in latency_after:
                error = section(after.get("errors")).get(target)
                problems.append(f"{target} did not answer: {error}")
                continue
            now = number(latency_after[target])
            reference = max(
                number(baselines.get(target)), number(latency_before.get(target)), LATENCY_FLOOR_S
            )
            limit = reference * tolerance
            sentence = f"{target} {ms(now)} against a limit of {ms(limit)}"
            (problems if now > limit else findings).append(sentence)
        return CheckResult(
            name=self.name,
            passed=not problems,
            detail=("too slow: " + "; ".join(problems))
            if problems
            else "within baseline: " + "; ".join(findings),
            before=before,
            after=after,
        )
