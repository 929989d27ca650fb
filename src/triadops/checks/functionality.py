"""``system_functionality_maintained``: databases answer soundly, triad's folders are usable."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from triadops.checks.base import Check, CheckContext, Measurement
from triadops.checks.footprint import footprint
from triadops.checks.measurements import section
from triadops.domain.errors import TriadError
from triadops.domain.operations import CheckResult
from triadops.storage import maintenance

BUDGET_SHARE = 0.8
"""Share of ``check_timeout_s`` one database probe may take before the database stops it,
so the verdict names the slow target instead of the whole check timing out."""


def _folder_state(path: Path) -> dict[str, JsonValue]:
    """Say whether `path` exists and a file can really be created in it."""
    if not path.is_dir():
        return {"path": str(path), "exists": False, "writable": False}
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return {"path": str(path), "exists": True, "writable": False}
    return {"path": str(path), "exists": True, "writable": True}


class SystemFunctionalityMaintained(Check):
    """Every target answers, rewritten storage passes its integrity check, folders are usable.

    A full integrity check reads every page it covers, so it runs only where a step
    rewrites storage (VACUUM, REINDEX, a purge), and only over what that step touches: the
    purged table, or the whole database a VACUUM or REINDEX rewrote. Every other target gets
    one cheap query, which costs the same however much history it holds.
    """

    name: ClassVar[str] = "system_functionality_maintained"
    description: ClassVar[str] = (
        "Each target database answers; where a step rewrote storage, the tables or database "
        "it touched pass an integrity check; triad's home, log and cache folders exist and "
        "are writable"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Probe every target database and triad's own folders."""
        rewritten = footprint(ctx.operation, ctx.databases.names()).storage
        databases: dict[str, JsonValue] = {}
        for target in sorted({*ctx.database_targets, *rewritten}):
            databases[target] = await self._probe(ctx, target, rewritten)
        folders: dict[str, JsonValue] = {
            "home": _folder_state(ctx.settings.home),
            "log": _folder_state(ctx.settings.log_dir),
            "cache": _folder_state(ctx.settings.cache_dir),
        }
        return {"databases": databases, "folders": folders}

    @staticmethod
    async def _probe(
        ctx: CheckContext, target: str, rewritten: dict[str, set[str] | None]
    ) -> dict[str, JsonValue]:
        budget = ctx.settings.check_timeout_s * BUDGET_SHARE
        scope = "integrity" if target in rewritten else "liveness"
        try:
            engine = ctx.databases.get(target)
            if target in rewritten:
                ok, detail = await maintenance.integrity_ok(
                    engine, tables=rewritten[target], budget_s=budget
                )
            else:
                ok, detail = await asyncio.wait_for(maintenance.answers(engine), timeout=budget)
        except TriadError as exc:
            ok, detail = False, exc.message
        except TimeoutError:
            ok, detail = False, f"no answer within {budget:g} s"
        return {"ok": ok, "detail": detail, "scope": scope}

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Fail on any database or folder that is not sound after execution."""
        broken: list[str] = []
        databases = section(after.get("databases"))
        for target in sorted({*ctx.database_targets, *databases}):
            state = section(databases.get(target))
            if state.get("ok") is not True:
                broken.append(f"database {target}: {state.get('detail', 'not measured')}")
        for name, value in section(after.get("folders")).items():
            state = section(value)
            if state.get("writable") is not True:
                problem = "is not writable" if state.get("exists") is True else "is missing"
                broken.append(f"{name} folder {state.get('path')} {problem}")
        checked = [t for t, v in databases.items() if section(v).get("scope") == "integrity"]
        integrity = f", and {', '.join(checked)} passed integrity checks" if checked else ""
        return CheckResult(
            name=self.name,
            passed=not broken,
            detail=("broken: " + "; ".join(broken))
            if broken
            else f"all {len(databases)} databases answer{integrity}; "
            "triad's home, log and cache folders are writable",
            before=before,
            after=after,
        )
