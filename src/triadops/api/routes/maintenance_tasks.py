"""Routine maintenance tasks: list them, run one now, pause and resume.

A run is an operation through the pipeline in the caller's name (202 with its id, as
``/admin/cache/optimize`` answers); pausing and resuming are ledger entries. All three need
the executive or the legislative role; reading needs any token. An unknown task is 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field

from triadops.api.deps import Maintainer, PowersDep, RuntimeDep, SessionDep, Viewer
from triadops.api.routes.maintenance import Submitted, accepted
from triadops.api.schemas import problems
from triadops.constitution import lifecycle
from triadops.domain.maintenance_tasks import MaintenanceTask
from triadops.domain.operations import utcnow
from triadops.ops.maintenance import models, service
from triadops.ops.maintenance.policy import MAX_REASON
from triadops.ops.maintenance.runs import run_now

router = APIRouter(prefix="/maintenance/tasks", tags=["maintenance"], responses=problems(401))

TaskName = Annotated[str, Path(max_length=64, description="The task's name.")]


class TaskList(BaseModel):
    """The routine tasks in force, in the table's order, times in UTC."""

    items: list[MaintenanceTask]


class TaskReason(BaseModel):
    """Why a task is paused or resumed: it goes in the ledger."""

    model_config = {"extra": "forbid"}

    reason: str = Field(min_length=1, max_length=MAX_REASON)


class ResumeReason(BaseModel):
    """Why a task is resumed (optional: "resumed" when left out)."""

    model_config = {"extra": "forbid"}

    reason: str = Field(default="resumed", min_length=1, max_length=MAX_REASON)


@router.get("", operation_id="list_maintenance_tasks")
async def list_tasks(identity: Viewer, runtime: RuntimeDep) -> TaskList:
    """List every routine task: schedule, state, last run and result, next due, misses."""
    async with runtime.session(read_only=True) as session:
        items = await models.list_tasks(session, runtime.settings, now=utcnow())
    return TaskList(items=items)


@router.post(
    "/{name}/run",
    operation_id="run_maintenance_task",
    status_code=status.HTTP_202_ACCEPTED,
    responses=accepted(403, 404, 409, 422),
)
async def run_task(name: TaskName, identity: Maintainer, powers: PowersDep) -> Submitted:
    """Submit one run of the task now, in the caller's name; answer with its operation."""
    op = await run_now(powers, name=name, by=identity, now=utcnow())
    return Submitted(
        operation_id=op.operation_id,
        status=op.status,
        status_reason=op.status_reason,
        location=f"/operations/{op.operation_id}",
    )


@router.post(
    "/{name}/pause", operation_id="pause_maintenance_task", responses=problems(403, 404, 409, 422)
)
async def pause(
    name: TaskName, body: TaskReason, identity: Maintainer, runtime: RuntimeDep, session: SessionDep
) -> MaintenanceTask:
    """Pause a task: the scheduler submits no run of it until it is resumed."""
    now = utcnow()
    row = await service.pause_task(
        session, settings=runtime.settings, name=name, by=identity, reason=body.reason, now=now
    )
    await lifecycle.commit(session)
    spec = models.find_spec(runtime.settings, name)
    return models.task_of(spec, row, settings=runtime.settings, now=now)


@router.post(
    "/{name}/resume", operation_id="resume_maintenance_task", responses=problems(403, 404, 409, 422)
)
async def resume(
    name: TaskName,
    identity: Maintainer,
    runtime: RuntimeDep,
    session: SessionDep,
    body: ResumeReason | None = None,
) -> MaintenanceTask:
    """Resume a paused or held task; its failure count starts again."""
    now = utcnow()
    reason = (body or ResumeReason()).reason
    row = await service.resume_task(
        session, settings=runtime.settings, name=name, by=identity, reason=reason, now=now
    )
    await lifecycle.commit(session)
    spec = models.find_spec(runtime.settings, name)
    return models.task_of(spec, row, settings=runtime.settings, now=now)
