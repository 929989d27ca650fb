"""The maintenance endpoints: cache optimisation, the baseline and its analysis, the calendar.

Each change is an operation through the pipeline in the caller's name, never a back door:
the answer is 202 with the operation's id, and the operation goes on as any other
(``GET /operations/{operation_id}``). Both need the executive or the legislative role, the
authorities the ``cache_cleanup`` procedure allows: the request invokes the executive
authority when the caller holds it, the legislative otherwise. The calendar is read only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from triadops.api.deps import Maintainer, PowersDep, RuntimeDep, Viewer
from triadops.api.routes.operations import NEXT_STEPS, store_submission
from triadops.api.schemas import problems
from triadops.domain.baselines import PerformanceBaseline, PerformanceReport
from triadops.domain.enums import Authority, OperationStatus, Role
from triadops.domain.errors import InvalidRequest, NotFound
from triadops.domain.identity import Identity
from triadops.domain.operations import OperationRequest
from triadops.domain.windows import zone
from triadops.ops.maintenance.application import (
    ApplicationFields,
    application_fields,
    undeclared,
)
from triadops.ops.maintenance.calendar import MAX_DAYS, Occurrence, upcoming
from triadops.storage.baselines import established, read_all
from triadops.storage.performance_reports import latest_report
from triadops.storage.targets import OWN_DATABASE

router = APIRouter(tags=["maintenance"], responses=problems(401, 403))

BASELINE_CRITERIA = ["system_functionality_maintained"]
SUBMITTED_LINKS = {verb: NEXT_STEPS[verb] for verb in ("read", "cancel")}
"""Where a client goes from the 202: the operation it names."""


def accepted(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The answers of a POST that submits an operation: 202 with its links, and `statuses`."""
    submitted = {"description": "Submitted; follow the operation", "links": SUBMITTED_LINKS}
    return {202: submitted, **problems(*statuses)}


class Submitted(BaseModel):
    """An operation submitted on the caller's behalf: follow it by its id."""

    operation_id: str
    status: OperationStatus
    status_reason: str | None
    location: str
    """Where to read it: ``/operations/{operation_id}``."""


def _authority(identity: Identity) -> Authority:
    return Authority.EXECUTIVE if Role.EXECUTIVE in identity.roles else Authority.LEGISLATIVE


async def _submit(
    runtime: RuntimeDep, powers: PowersDep, identity: Identity, fields: dict[str, object]
) -> Submitted:
    request = OperationRequest.model_validate(
        {
            "operation_type": "maintenance",
            "constitutional_authority": _authority(identity),
            "requested_by": identity.name,
            **fields,
        }
    )
    view = await store_submission(runtime, powers, request, identity)
    return Submitted(
        operation_id=view.operation_id,
        status=view.status,
        status_reason=view.status_reason,
        location=f"/operations/{view.operation_id}",
    )


@router.post(
    "/admin/cache/optimize",
    operation_id="optimize_cache",
    status_code=status.HTTP_202_ACCEPTED,
    responses=accepted(409, 422),
)
async def optimize_cache(identity: Maintainer, runtime: RuntimeDep, powers: PowersDep) -> Submitted:
    """Submit a ``cache_cleanup`` operation in the caller's name; answer with its id."""
    return await _submit(
        runtime,
        powers,
        identity,
        {
            "procedure": "cache_cleanup",
            "description": "cache optimisation (POST /admin/cache/optimize)",
        },
    )


@router.get(
    "/performance/baseline", operation_id="read_performance_baseline", responses=problems(404)
)
async def read_baseline(identity: Viewer, runtime: RuntimeDep) -> PerformanceBaseline:
    """Return the performance baseline last established, with when it was measured."""
    found = established(await read_all(runtime.databases.get(OWN_DATABASE)))
    if found is None:
        raise NotFound(
            "no performance baseline established yet: POST /performance/baseline measures one"
        )
    return found


@router.post(
    "/performance/baseline",
    operation_id="establish_performance_baseline",
    status_code=status.HTTP_202_ACCEPTED,
    responses=accepted(409, 422),
)
async def establish_baseline(
    identity: Maintainer, runtime: RuntimeDep, powers: PowersDep
) -> Submitted:
    """Submit an operation that measures latency percentiles and stores them as the baseline."""
    return await _submit(
        runtime,
        powers,
        identity,
        {
            "description": "establish a performance baseline (POST /performance/baseline)",
            "steps": [{"action": "performance.baseline"}],
            "affected_systems": ["performance_baseline"],
            "rollback_plan": "The step's rollback restores the baseline it replaced.",
            "validation_criteria": BASELINE_CRITERIA,
        },
    )


@router.get(
    "/performance/analysis", operation_id="read_performance_analysis", responses=problems(404)
)
async def read_analysis(identity: Viewer, runtime: RuntimeDep) -> PerformanceReport:
    """Return the newest ``performance_analysis`` report: the figures, the baseline, ratios."""
    found = await latest_report(runtime.databases.get(OWN_DATABASE))
    if found is None:
        raise NotFound(
            "no performance analysis yet: POST /performance/analysis submits one "
            "(the performance_analysis procedure)"
        )
    return found


@router.post(
    "/performance/analysis",
    operation_id="analyse_performance",
    status_code=status.HTTP_202_ACCEPTED,
    responses=accepted(409, 422),
)
async def analyse_performance(
    identity: Maintainer, runtime: RuntimeDep, powers: PowersDep
) -> Submitted:
    """Submit a ``performance_analysis`` operation in the caller's name; answer with its id."""
    return await _submit(
        runtime,
        powers,
        identity,
        {
            "procedure": "performance_analysis",
            "description": "performance analysis (POST /performance/analysis)",
        },
    )


class ApplicationPlan(BaseModel):
    """What ``POST /maintenance/application`` submits, from this server's settings."""

    request: ApplicationFields
    """The request's fields but who asks and the authority (``POST /operations`` takes them)."""
    note: str | None
    """Which of the pull and restart commands is not declared, and how to declare it."""


class ApplicationSubmitted(Submitted):
    """The application maintenance submitted, and what it leaves out."""

    note: str | None


@router.get("/maintenance/application", operation_id="read_application_maintenance")
async def application_plan(identity: Viewer, runtime: RuntimeDep) -> ApplicationPlan:
    """Return what ``POST /maintenance/application`` would submit, from this server's settings."""
    return ApplicationPlan(
        request=application_fields(runtime.settings), note=undeclared(runtime.settings)
    )


@router.post(
    "/maintenance/application",
    operation_id="maintain_application",
    status_code=status.HTTP_202_ACCEPTED,
    responses=accepted(409, 422),
)
async def maintain_application(
    identity: Maintainer, runtime: RuntimeDep, powers: PowersDep
) -> ApplicationSubmitted:
    """Submit the application maintenance in the caller's name: pull, restart, cache, baseline."""
    fields = application_fields(runtime.settings).model_dump(mode="json")
    submitted = await _submit(runtime, powers, identity, fields)
    return ApplicationSubmitted(**submitted.model_dump(), note=undeclared(runtime.settings))


class Calendar(BaseModel):
    """The next occurrences of the maintenance windows and blackouts in force."""

    tz: str
    """The zone the times are shown in."""
    items: list[Occurrence]


@router.get(
    "/maintenance/windows", operation_id="list_maintenance_windows", responses=problems(422)
)
async def maintenance_windows(
    identity: Viewer,
    runtime: RuntimeDep,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="How far ahead.")] = 7,
    tz: Annotated[str, Query(max_length=64, description="The IANA zone to show times in.")] = "UTC",
) -> Calendar:
    """List the windows' and blackouts' occurrences open now or opening within `days`."""
    try:
        shown = zone(tz)
    except ValueError as exc:
        raise InvalidRequest(str(exc), field="tz") from None
    return Calendar(tz=tz, items=upcoming(runtime.settings, days=days, tz=shown))
