"""Run a runbook's diagnostics: each reads one thing, within a budget, and fails alone.

A check is measured now and judged against itself (it must pass as it stands); a health
figure comes from one fresh reading shared by every health diagnostic; a log query counts
lines in triad's own streams (gzipped generations included); the ledger is audited. A
diagnostic that errs or runs out of time is inconclusive, never a symptom and never a crash.
"""

from __future__ import annotations

import asyncio
import fnmatch
from datetime import timedelta

from pydantic import JsonValue

from triadops.checks.base import CheckContext
from triadops.constitution.ledger.audit import verify
from triadops.constitution.powers import Powers
from triadops.domain.enums import Authority, OperationStatus, OperationType
from triadops.domain.health import CheckStatus, HealthReport
from triadops.domain.operations import Operation, OperationRequest, StepSpec, utcnow
from triadops.domain.runbooks import Diagnostic, Finding, LogQuery, Runbook, duration_s
from triadops.ops.health.service import check_health
from triadops.ops.logs.service import analyze
from triadops.settings import Settings
from triadops.storage.engine import session_factory

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
FAILED_SHOWN = 5


def _probe_operation() -> Operation:
    """The operation a check sees while diagnosing: none in particular (it reads the newest)."""
    now = utcnow()
    request = OperationRequest(
        operation_type=OperationType.MAINTENANCE,
        constitutional_authority=Authority.EXECUTIVE,
        description="a runbook's diagnosis",
        requested_by="runbook-diagnosis",
        steps=[StepSpec(action="noop")],
    )
    return Operation(
        operation_id="diagnosis",
        status=OperationStatus.COMPLETED,
        request=request,
        created_at=now,
        updated_at=now,
    )


async def diagnose(powers: Powers, runbook: Runbook) -> list[Finding]:
    """Run every diagnostic of `runbook`, concurrently; one that fails is inconclusive."""
    health: asyncio.Task[HealthReport] | None = None
    if any(d.health is not None for d in runbook.diagnostics):
        health = asyncio.create_task(check_health(powers))
    budget = powers.settings.check_timeout_s
    found = await asyncio.gather(*(_one(powers, d, health, budget) for d in runbook.diagnostics))
    return list(found)


async def _one(
    powers: Powers, d: Diagnostic, health: asyncio.Task[HealthReport] | None, budget: float
) -> Finding:
    try:
        async with asyncio.timeout(budget * 2 if d.kind == "health" else budget):
            if d.check is not None:
                return await _check(powers, d, d.check)
            if d.health is not None and health is not None:
                return _health(d, d.health, await health)
            if d.logs is not None:
                return await asyncio.to_thread(_logs, powers.settings, d, d.logs)
            return await _ledger(powers, d)
    except TimeoutError:
        return Finding(name=d.name, kind=d.kind, symptom=None, detail=f"took over {budget:g} s")
    except Exception as exc:  # one diagnostic fails alone: inconclusive, named
        first = (str(exc).splitlines() or [""])[0][:200]
        return Finding(
            name=d.name, kind=d.kind, symptom=None, detail=f"{type(exc).__name__}: {first}"
        )


async def _check(powers: Powers, d: Diagnostic, name: str) -> Finding:
    check = powers.checks.get(name)
    ctx = CheckContext(
        settings=powers.settings,
        databases=powers.databases,
        own=powers.engine,
        operation=_probe_operation(),
    )
    measured = await check.measure(ctx)
    result = check.judge(ctx, measured, measured)
    return Finding(
        name=d.name,
        kind="check",
        symptom=not result.passed,
        detail=f"{name}: {result.detail}",
        evidence={"check": name, "measured": dict[str, JsonValue](measured)},
    )


def _health(d: Diagnostic, pattern: str, report: HealthReport) -> Finding:
    matched = [
        (f"{part.name}.{c.name}", c)
        for part in report.components
        for c in part.checks
        if fnmatch.fnmatchcase(c.name, pattern)
        or fnmatch.fnmatchcase(f"{part.name}.{c.name}", pattern)
    ]
    if not matched:
        return Finding(
            name=d.name, kind="health", symptom=None, detail=f"no health check matches {pattern}"
        )
    failed = [
        f"{n} {c.value}{c.unit} (threshold {c.threshold})"
        for n, c in matched
        if c.status is CheckStatus.FAIL
    ]
    unknown = [n for n, c in matched if c.status is CheckStatus.UNKNOWN]
    evidence: dict[str, JsonValue] = {n: c.value for n, c in matched}
    if failed:
        shown = "; ".join(failed[:FAILED_SHOWN])
        return Finding(
            name=d.name, kind="health", symptom=True, detail=f"failing: {shown}", evidence=evidence
        )
    if unknown:
        return Finding(
            name=d.name,
            kind="health",
            symptom=None,
            detail=f"not measured: {', '.join(unknown[:FAILED_SHOWN])}",
            evidence=evidence,
        )
    return Finding(
        name=d.name,
        kind="health",
        symptom=False,
        detail=f"{len(matched)} checks within their thresholds",
        evidence=evidence,
    )


def _logs(settings: Settings, d: Diagnostic, q: LogQuery) -> Finding:
    """Count the lines of the level and up in the source (``ops/logs``: rotated files too)."""
    since = utcnow() - timedelta(seconds=duration_s(q.since))
    found = analyze(settings, since, source=q.source)
    floor = LEVELS[q.level]
    count = sum(c.count for c in found.counts if LEVELS.get(c.level.lower(), 0) >= floor)
    templates = [t for t in found.templates if LEVELS.get(t.level.lower(), 0) >= floor]
    top = {t.template[:200]: t.count for t in templates[:FAILED_SHOWN]}
    capped = " (a lower bound: the analysis was truncated)" if found.truncated else ""
    return Finding(
        name=d.name,
        kind="logs",
        symptom=count > q.at_most,
        detail=(
            f"{count} {q.level}+ lines in the last {q.since} of {q.source}, at most "
            f"{q.at_most} expected{capped}"
        ),
        evidence={"count": count, "lines_read": found.lines_read, "templates": top},
    )


async def _ledger(powers: Powers, d: Diagnostic) -> Finding:
    async with session_factory(powers.engine)() as session:
        report = await verify(session, alerts=powers.settings.alerts)
    if report.ok:
        return Finding(
            name=d.name,
            kind="ledger",
            symptom=False,
            detail=f"intact: {report.entries_checked} entries prove the stored state",
        )
    found = [f"{x.subject}: {x.problem}" for x in report.discrepancies[:FAILED_SHOWN]]
    if report.problem:
        found.insert(0, f"chain at {report.first_bad_seq}: {report.problem}")
    return Finding(name=d.name, kind="ledger", symptom=True, detail="; ".join(found))
