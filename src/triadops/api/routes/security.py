"""The security report: what the newest ``security_updates`` run found (read only).

Running an audit is an operation like any other (the ``security_updates`` procedure, or
``triad maintain run security_updates``); nothing here changes anything.
"""

from __future__ import annotations

from fastapi import APIRouter

from triadops.api.deps import ReadSessionDep, Viewer
from triadops.api.schemas import problems
from triadops.domain.errors import NotFound
from triadops.domain.security import SecurityReport
from triadops.storage.security import latest_report

router = APIRouter(tags=["security"], responses=problems(401, 403))


@router.get("/security/report", operation_id="read_security_report", responses=problems(404))
async def read_report(identity: Viewer, session: ReadSessionDep) -> SecurityReport:
    """Return the newest security report: vulnerable packages, OS updates, or why skipped."""
    found = await latest_report(session)
    if found is None:
        raise NotFound("no security report yet: submit the security_updates procedure to audit")
    return found
