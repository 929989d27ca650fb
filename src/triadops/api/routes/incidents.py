"""Troubleshooting through the API: run a runbook, and read the incident reports it stored."""

from __future__ import annotations

from typing import Annotated, Self

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from triadops.api.deps import Operator, PowersDep, ReadSessionDep, RuntimeDep, Viewer
from triadops.api.routes.operations import store_submission
from triadops.api.schemas import problems
from triadops.domain.errors import NotFound
from triadops.domain.operations import Operation, OperationRequest
from triadops.domain.runbooks import Incident, incident_markdown
from triadops.ops.runbooks.service import troubleshoot
from triadops.storage.incidents import list_incidents, read_incident
from triadops.worker import wait_for_operation, worker_name

router = APIRouter(tags=["runbooks"], responses=problems(401))
RUNBOOK = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
INCIDENT = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^inc-[0-9a-f]{12}$")]


class Troubleshooting(BaseModel):
    """How to run a runbook: resolve or only diagnose, which resolution, how long to wait."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    resolve: bool = True
    """Submit the chosen resolution as an operation (in the caller's name)."""
    resolution: str | None = Field(default=None, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    """A resolution of the runbook; default the first its symptoms call for."""
    wait_s: float = Field(default=0.0, ge=0, le=600)
    """How long to wait for the resolution's operation before answering (default: not at
    all, the incident says ``resolving``); the operation goes on after either way."""
    investigate: bool = False
    """Ask the investigator agent (read-only) too; its findings are stored with the incident,
    and what it proposes is shown, never submitted by it."""
    submit_proposal: bool = False
    """Submit the investigator's proposed procedure too, in the caller's name, through the
    same approvals (needs ``investigate``)."""

    @model_validator(mode="after")
    def _proposal_needs_an_investigation(self) -> Self:
        if self.submit_proposal and not self.investigate:
            raise ValueError("submit_proposal submits what investigate proposes: give both")
        return self


@router.post(
    "/runbooks/{name}/troubleshoot",
    operation_id="troubleshoot",
    responses=problems(403, 404, 422),
)
async def run_runbook(
    name: RUNBOOK,
    body: Troubleshooting,
    identity: Operator,
    runtime: RuntimeDep,
    powers: PowersDep,
) -> Incident:
    """Diagnose, submit the resolution as the caller's operation, validate, store the report."""
    entry = runtime.runbooks.get(name)

    async def submit(request: OperationRequest) -> str:
        view = await store_submission(runtime, powers, request, identity)
        return view.operation_id

    async def settle(operation_id: str) -> Operation:
        return await wait_for_operation(
            powers, operation_id, drive=False, owner=worker_name(), timeout_s=body.wait_s
        )

    return await troubleshoot(
        powers,
        runtime.procedures,
        entry,
        by=identity,
        trigger="manual",
        resolve=body.resolve,
        submit=submit,
        settle=settle,
        resolution=body.resolution,
        investigate=runtime.investigate if body.investigate else None,
        submit_proposal=body.submit_proposal,
    )


class IncidentList(BaseModel):
    """The newest incident reports first."""

    items: list[Incident]


@router.get("/incidents", operation_id="list_incidents", responses=problems(422))
async def list_(
    identity: Viewer,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> IncidentList:
    """List the incident reports, newest first."""
    found = await list_incidents(session, limit=limit)
    return IncidentList(items=[Incident.model_validate(r) for r in found])


@router.get(
    "/incidents/{incident_id}",
    operation_id="read_incident",
    response_model=Incident,
    responses={200: {"content": {"text/markdown": {}}}, **problems(404, 422)},
)
async def read(
    incident_id: INCIDENT,
    identity: Viewer,
    session: ReadSessionDep,
    markdown: Annotated[bool, Query(description="The report as Markdown.")] = False,
) -> Incident | PlainTextResponse:
    """Read one incident report (as JSON, or as a Markdown post-incident report)."""
    found = await read_incident(session, incident_id)
    if found is None:
        raise NotFound(f"no incident {incident_id!r}", field="incident_id")
    incident = Incident.model_validate(found)
    if markdown:
        return PlainTextResponse(incident_markdown(incident), media_type="text/markdown")
    return incident
