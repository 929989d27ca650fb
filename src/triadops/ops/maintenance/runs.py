"""A routine task's run as an operation request, and a run a person asks for now.

Every run, the scheduler's or a person's, is an operation through the pipeline: reviewed in
a read session (the previews may reach targets), then stored with the task's entry in one
short write transaction.
"""

from __future__ import annotations

from datetime import datetime

from triadops.actions.procedures import ProcedureCatalogue
from triadops.constitution import lifecycle
from triadops.constitution.legislative.service import review_request, store_reviewed
from triadops.constitution.powers import Powers
from triadops.domain.enums import Authority, Role
from triadops.domain.errors import InvalidRequest, TriadError
from triadops.domain.identity import Identity
from triadops.domain.operations import Operation, OperationRequest, new_operation_id
from triadops.ops.maintenance import service
from triadops.ops.maintenance.models import find_spec
from triadops.settings.tasks import TaskSpec
from triadops.storage import maintenance_tasks as store

ROUTINE_AUTHORITIES = (Authority.EXECUTIVE, Authority.LEGISLATIVE)
"""What a routine run invokes: the first of these its procedure allows and its requester holds."""


def authority_for(
    spec: TaskSpec, procedures: ProcedureCatalogue, roles: frozenset[Role]
) -> Authority:
    """Return the authority a run of `spec` invokes for a requester holding `roles`."""
    allowed = procedures.get(spec.procedure).constitutional_authority
    for authority in ROUTINE_AUTHORITIES:
        if authority in allowed and Role(authority.value) in roles:
            return authority
    needs = " or ".join(a.value for a in allowed)
    raise InvalidRequest(
        f"task {spec.name!r}: {spec.procedure} needs {needs} authority, which a routine run "
        "(executive or legislative) cannot invoke",
        field="task",
    )


def run_id(task: str, occurrence: datetime, index: int = 0) -> str:
    """The operation id of the scheduler's run of `task` for `occurrence`: one per due time."""
    suffix = f"-{index}" if index else ""
    return f"mt-{task[:32]}-{occurrence:%Y%m%dT%H%MZ}{suffix}"


def run_request(
    spec: TaskSpec,
    procedures: ProcedureCatalogue,
    *,
    requester: Identity,
    operation_id: str | None = None,
    scheduled_time: datetime | None = None,
    in_window: bool = False,
    why: str,
) -> OperationRequest:
    """Build the request for one run of `spec` in `requester`'s name.

    `in_window`: a window task's scheduled run needs its window (the legislature places it
    there and the executive starts it only inside); a person's run now does not.
    """
    procedure = procedures.get(spec.procedure)
    return OperationRequest(
        operation_id=operation_id or new_operation_id(),
        operation_type=procedure.operation_type,
        constitutional_authority=authority_for(spec, procedures, requester.roles),
        description=f"routine task {spec.name}: {procedure.description} ({why})",
        requested_by=requester.name,
        scheduled_time=scheduled_time,
        procedure=spec.procedure,
        procedure_params=spec.params,
        window=spec.window if in_window else None,
    )


def check_tasks(tasks: list[TaskSpec], procedures: ProcedureCatalogue) -> list[str]:
    """Name every task whose procedure, parameters or authority the catalogue refuses."""
    problems: list[str] = []
    everyone = frozenset({Role.EXECUTIVE, Role.LEGISLATIVE})
    for spec in tasks:
        where = f"maintenance.tasks[{spec.name}]"
        try:
            procedure = procedures.get(spec.procedure)
            procedure.arguments(spec.params)
            authority_for(spec, procedures, everyone)
        except TriadError as exc:
            problems.append(f"{where}: {exc.message}")
    return problems


async def run_now(powers: Powers, *, name: str, by: Identity, now: datetime) -> Operation:
    """Submit one run of task `name` now in `by`'s name; the task reads back its result.

    A person's run goes ahead even while the task is paused or held: a person decided.
    Its next due time does not move.
    """
    settings = powers.settings
    spec = find_spec(settings, name)
    request = run_request(spec, powers.procedures, requester=by, why=f"run by {by.name}")
    async with powers.reading() as reading:
        reviewed = await review_request(reading, powers, request=request, requester=by)
    async with powers.sessions() as session:
        stored = store_reviewed(session, powers, reviewed)
        row = await service.task_row_for(session, spec, settings=settings, now=now)
        await store.record_manual_run(
            session, name=name, operation_id=request.operation_id, now=now
        )
        service.record_run(
            session,
            task=name,
            operation_id=request.operation_id,
            occurrence=None,
            next_due=row.next_due,
            actor=by.name,
            now=now,
        )
        await lifecycle.commit(session)
    return stored.operation()
