"""``system_functionality_maintained``: databases answer soundly, triad's folders are usable."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import JsonValue

from triadops.checks.base import Check, CheckContext, Measurement
from triadops.checks.measurements import section
from triadops.domain.errors import TriadError
from triadops.domain.operations import CheckResult
from triadops.storage import maintenance


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
    """Every target database answers and passes its integrity check; folders stay writable."""

    name: ClassVar[str] = "system_functionality_maintained"
    description: ClassVar[str] = (
        "Each target database answers and passes an integrity check; triad's home, log "
        "and cache folders exist and are writable"
    )

    async def measure(self, ctx: CheckContext) -> Measurement:
        """Probe every target database and triad's own folders."""
        databases: dict[str, JsonValue] = {}
        for target in ctx.database_targets:
            try:
                ok, detail = await maintenance.integrity_ok(ctx.databases.get(target))
            except TriadError as exc:
                ok, detail = False, exc.message
            databases[target] = {"ok": ok, "detail": detail}
        folders: dict[str, JsonValue] = {
            "home": _folder_state(ctx.settings.home),
            "log": _folder_state(ctx.settings.log_dir),
            "cache": _folder_state(ctx.settings.cache_dir),
        }
        return {"databases": databases, "folders": folders}

    def judge(self, ctx: CheckContext, before: Measurement, after: Measurement) -> CheckResult:
        """Fail on any database or folder that is not sound after execution."""
        broken: list[str] = []
        databases = section(after.get("databases"))
        for target in ctx.database_targets:
            state = section(databases.get(target))
            if state.get("ok") is not True:
                broken.append(f"database {target}: {state.get('detail', 'not measured')}")
        for name, value in section(after.get("folders")).items():
            state = section(value)
            if state.get("writable") is not True:
                problem = "is not writable" if state.get("exists") is True else "is missing"
                broken.append(f"{name} folder {state.get('path')} {problem}")
        return CheckResult(
            name=self.name,
            passed=not broken,
            detail=("broken: " + "; ".join(broken))
            if broken
            else f"all {len(databases)} databases answer and pass integrity checks; "
            "triad's home, log and cache folders are writable",
            before=before,
            after=after,
        )
