"""``logs_clean_after_change``: the logs, as evidence that a change broke nothing.

Before the steps run it analyses the last ``logs.analysis.check_lookback_minutes`` of the
affected systems' logs: triad's own always, and each configured log folder an affected
system names (``affected_systems: [nginx]`` for ``log_dirs = ["/var/log/nginx"]``). After,
it analyses the time since the first step started. It fails on a warning or error template
the hour before never showed, or on a known one whose rate per minute jumped past
``jump_factor`` with at least ``jump_min_count`` lines. With fewer than ``check_min_lines``
lines before, there is no norm: the verdict passes and says it is inconclusive.

It lives in ``ops`` because it reads the log files as the analysis does; the runtime
registers it (``log_checks``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import ClassVar

from pydantic import JsonValue

from triadops.checks.base import Check, CheckContext, Measurement
from triadops.domain.clock import utcnow
from triadops.domain.log_figures import same_template
from triadops.domain.operations import CheckResult, Operation
from triadops.ops.logs.reader import OWN, Source, sources
from triadops.ops.logs.service import analyze
from triadops.settings import Settings

KEPT = 200
"""Templates a measurement keeps (the most frequent); more are counted, not named."""
TEMPLATE_CHARS = 300
LISTED = 5
"""Templates a verdict names."""


def affected(settings: Settings, operation: Operation) -> list[Source]:
    """Triad's own logs and the configured sources the operation names as affected."""
    named = set(operation.request.affected_systems)
    if operation.plan is not None:
        named |= set(operation.plan.affected_systems)
    return [s for name, s in sources(settings).items() if name == OWN or name in named]


def _started(operation: Operation) -> datetime | None:
    starts = [s.started_at for s in operation.steps if s.started_at is not None]
    return min(starts) if starts else None


class LogsCleanAfterChange(Check):
    """No new kind of warning or error in the affected systems' logs, none jumped."""

    name: ClassVar[str] = "logs_clean_after_change"
    description: ClassVar[str] = (
        "The logs of triad and of the affected systems' configured log folders show no "
        "warning or error template unseen in the hour before the change, and no known one "
        "whose rate jumped; inconclusive (passing) with too few lines before"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Analyse the hour before the steps (before), or the time since they started (after)."""
        settings = ctx.settings
        options = settings.logs.analysis
        now = utcnow()
        started = _started(ctx.operation)
        since = (
            started
            if started is not None
            else now - timedelta(minutes=options.check_lookback_minutes)
        )
        since = min(since, now - timedelta(seconds=1))
        chosen = affected(settings, ctx.operation)
        found = await asyncio.to_thread(analyze, settings, since, now, selected=chosen)
        templates: dict[str, JsonValue] = {}
        for t in found.templates:
            if t.count and len(templates) < KEPT:
                templates[t.template[:TEMPLATE_CHARS]] = t.count
        return {
            "phase": "after" if started is not None else "before",
            "since": since.isoformat(),
            "until": now.isoformat(),
            "minutes": round((now - since).total_seconds() / 60, 3),
            "sources": list[JsonValue](found.sources),
            "lines": found.lines,
            "truncated": found.truncated,
            "templates": templates,
        }

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Fail on a new template or a jumped one; inconclusive with too few lines before."""
        options = ctx.settings.logs.analysis
        lines = _int(before.get("lines"))
        seen = _templates(before)
        now = _templates(after)

        def verdict(passed: bool, detail: str) -> CheckResult:
            return CheckResult(
                name=self.name, passed=passed, detail=detail, before=before, after=after
            )

        if lines < options.check_min_lines:
            return verdict(
                True,
                f"inconclusive: {lines} log lines in the {before.get('minutes')} minutes "
                f"before the change (fewer than {options.check_min_lines}); no norm to compare "
                f"with ({_int(after.get('lines'))} lines after)",
            )
        new = [t for t in now if not any(same_template(t, known) for known in seen)]
        before_minutes = max(_float(before.get("minutes")), 1.0)
        after_minutes = max(_float(after.get("minutes")), 1.0)
        jumps = []
        for template, count in now.items():
            known = [n for t, n in seen.items() if same_template(template, t)]
            if not known or count < options.jump_min_count:
                continue
            rate_before = sum(known) / before_minutes
            rate_after = count / after_minutes
            if rate_after >= options.jump_factor * rate_before:
                jumps.append(f'"{template}" at {rate_after:.2f}/min (before {rate_before:.2f}/min)')
        if new or jumps:
            said = [f'new: "{t}" ({now[t]} times)' for t in new[:LISTED]]
            said += [f"jumped: {j}" for j in jumps[:LISTED]]
            more = len(new) + len(jumps) - len(said)
            tail = f" (and {more} more)" if more > 0 else ""
            return verdict(False, "; ".join(said) + tail)
        return verdict(
            True,
            f"no new warning or error template and none jumped: {_int(after.get('lines'))} "
            f"lines after the change, {lines} in the {before.get('minutes')} minutes before",
        )


def _templates(measurement: Measurement) -> dict[str, int]:
    found = measurement.get("templates")
    if not isinstance(found, dict):
        return {}
    return {str(k): _int(v) for k, v in found.items()}


def _int(value: JsonValue) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _float(value: JsonValue) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def log_checks() -> list[Check]:
    """The log checks (registered by the runtime beside the built-in ones)."""
    return [LogsCleanAfterChange()]
