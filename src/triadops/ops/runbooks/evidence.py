"""What an investigator may read, and nothing else: logs, health, alerts, operations.

Each reader opens a read-only session (or reads files) and returns plain data; none of them
writes, so an agent handed only these can look but never act. Log search matches a plain
substring (never a pattern a model could make slow) over a bounded number of lines.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import JsonValue

from triadops.constitution.powers import Powers
from triadops.domain.alerts import AlertState
from triadops.domain.errors import NotFound
from triadops.domain.operations import utcnow
from triadops.ops.logs.reader import files, lines, sources
from triadops.ops.logs.service import analyze_in_thread
from triadops.settings import Settings
from triadops.storage.alerts import list_alerts
from triadops.storage.health import latest_report
from triadops.storage.listing import list_operations
from triadops.storage.operations import get_operation, get_steps

MAX_SCANNED = 200_000
"""Lines one search reads at most; past it, it says so."""
MAX_MINUTES = 7 * 24 * 60


def _since_s(minutes: int) -> float:
    return (utcnow() - timedelta(minutes=max(1, min(minutes, MAX_MINUTES)))).timestamp()


def search_lines(
    settings: Settings, text: str, *, minutes: int, source: str | None, limit: int
) -> dict[str, JsonValue]:
    """Lines holding `text` (a plain substring, case-insensitive) in the last `minutes`."""
    wanted = text.lower().encode()
    known = sources(settings)
    chosen = [known[source]] if source in known else list(known.values())
    found: list[JsonValue] = []
    scanned = 0
    for src in chosen:
        for path in files(src, _since_s(minutes)):
            for number, raw in enumerate(lines(path), start=1):
                scanned += 1
                if scanned > MAX_SCANNED or len(found) >= limit:
                    return {"matches": found, "scanned": scanned, "complete": False}
                if wanted in raw.lower():
                    line = raw.decode("utf-8", "replace").rstrip()[:500]
                    found.append({"file": f"{src.name}/{path.name}", "line": number, "text": line})
    return {"matches": found, "scanned": scanned, "complete": True}


@dataclass(frozen=True)
class Evidence:
    """The read-only readers an investigator is handed, over one runtime's powers."""

    powers: Powers

    async def log_analysis(self, minutes: int, source: str | None) -> dict[str, Any]:
        """Counts, error templates, bursts and insights over the last `minutes`."""
        since = utcnow() - timedelta(minutes=max(1, min(minutes, MAX_MINUTES)))
        found = await analyze_in_thread(self.powers.settings, since, None, source)
        return found.model_dump(mode="json")

    async def log_search(
        self, text: str, minutes: int, source: str | None, limit: int
    ) -> dict[str, JsonValue]:
        """Lines holding a plain substring, newest files last, at most `limit` of them."""
        settings = self.powers.settings
        return await asyncio.to_thread(
            search_lines, settings, text, minutes=minutes, source=source, limit=limit
        )

    async def health(self) -> dict[str, Any]:
        """The newest stored health report (scores and failing checks), or nothing."""
        async with self.powers.reading() as session:
            row = await latest_report(session)
        if row is None:
            return {"report": None}
        return {"checked_at": row.checked_at.isoformat(), "score": row.score, "report": row.report}

    async def alerts(self, limit: int) -> list[dict[str, Any]]:
        """The firing alerts, newest first."""
        async with self.powers.reading() as session:
            rows = await list_alerts(session, states=[AlertState.FIRING], limit=limit)
        return [
            {
                "id": r.id,
                "name": r.alertname,
                "severity": r.severity,
                "count": r.count,
                "since": r.starts_at.isoformat(),
                "labels": r.labels,
                "annotations": r.annotations,
            }
            for r in rows
        ]

    async def operations(self, limit: int) -> list[dict[str, Any]]:
        """The newest operations: id, type, procedure, state, who asked, why it ended."""
        async with self.powers.reading() as session:
            rows = await list_operations(session, limit=limit)
        return [
            {
                "id": r.id,
                "type": r.operation_type,
                "procedure": r.procedure,
                "status": r.status,
                "requested_by": r.requested_by,
                "description": str(r.request.get("description", ""))[:300],
                "status_reason": r.status_reason,
            }
            for r in rows
        ]

    async def operation(self, operation_id: str) -> dict[str, Any]:
        """One operation's steps: each action, state, output (its diff) and error."""
        async with self.powers.reading() as session:
            try:
                row = await get_operation(session, operation_id)
            except NotFound as exc:
                return {"error": exc.message}
            steps = await get_steps(session, operation_id)
        return {
            "id": row.id,
            "status": row.status,
            "status_reason": row.status_reason,
            "validation": row.validation_result,
            "steps": [
                {
                    "index": s.index,
                    "action": s.action,
                    "status": s.status,
                    "output": s.output,
                    "error": s.error,
                }
                for s in steps
            ],
        }
