"""Troubleshooting runbooks: the scenarios in force, their diagnostics and resolutions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from triadops.api.deps import ReadSessionDep, RuntimeDep, Viewer
from triadops.api.schemas import problems
from triadops.domain.runbooks import RunbookEntry
from triadops.domain.standards import RunbookRecord
from triadops.ops.standards.service import runbook_record

router = APIRouter(prefix="/runbooks", tags=["runbooks"], responses=problems(401))


class RunbookList(BaseModel):
    """The runbooks in force, by name."""

    items: list[RunbookEntry]


@router.get("", operation_id="list_runbooks")
async def list_runbooks(identity: Viewer, runtime: RuntimeDep) -> RunbookList:
    """List the runbooks in force: the shipped scenarios and the server's own."""
    return RunbookList(items=list(runtime.runbooks.entries))


@router.get("/{name}", operation_id="read_runbook", responses=problems(404, 422))
async def read_runbook(
    name: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")],
    identity: Viewer,
    runtime: RuntimeDep,
) -> RunbookEntry:
    """Read one runbook: the alerts it answers, its diagnostics and its resolutions."""
    return runtime.runbooks.get(name)


@router.get("/{name}/record", operation_id="read_runbook_record", responses=problems(404, 422))
async def read_runbook_record(
    name: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")],
    identity: Viewer,
    runtime: RuntimeDep,
    session: ReadSessionDep,
) -> RunbookRecord:
    """The runbook's success record: its incidents by outcome, its resolutions' plans."""
    return await runbook_record(session, runtime.runbooks.get(name).runbook)
