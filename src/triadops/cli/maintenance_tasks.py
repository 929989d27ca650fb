"""``triad maintain tasks | run | pause | resume``: the routine tasks and their runs.

The same output locally and remotely (``TRIAD_URL``): both read the same read model, the
server's answer in UTC shown in the reader's zone.
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from typing import Annotated
from urllib.parse import quote
from zoneinfo import ZoneInfo

import typer

from triadops.cli.context import AsName, BadInput, JsonFlag, local_identity, refuse_as, run
from triadops.cli.outcome import Wait, finish, settle, settle_remotely
from triadops.cli.output import console, emit_json, fitted_table
from triadops.cli.remote import remote
from triadops.constitution import lifecycle
from triadops.domain.maintenance_tasks import MaintenanceTask
from triadops.domain.operations import Operation, utcnow
from triadops.domain.windows import zone
from triadops.ops.maintenance import models, service
from triadops.ops.maintenance.runs import run_now
from triadops.runtime import Runtime

TaskArg = Annotated[str, typer.Argument(metavar="TASK", help="The task's name.")]
Reason = Annotated[str, typer.Option("--reason", help="Why; it goes in the ledger.")]


def _zone(tz: str | None) -> ZoneInfo | None:
    try:
        return zone(tz) if tz else None
    except ValueError as exc:
        raise BadInput(f"--tz: {exc}") from None


def _shown(moment: datetime | None, tz: ZoneInfo | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def tasks(
    tz: Annotated[
        str | None, typer.Option("--tz", help="An IANA zone to show times in (default: local).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the routine tasks: schedule, state, last run and result, next run, misses."""
    shown = _zone(tz)
    client = remote()
    if client is not None:
        with closing(client):
            answer = client.call("GET", "/maintenance/tasks")
        items = [MaintenanceTask.model_validate(item) for item in answer["items"]]
    else:

        async def work(rt: Runtime) -> list[MaintenanceTask]:
            async with rt.session(read_only=True) as session:
                return await models.list_tasks(session, rt.settings, now=utcnow())

        items = run(work)
    if as_json:
        emit_json(items)
        return
    table = fitted_table(
        "name", "procedure", "schedule", "state", "last run", "result", "next run", "misses"
    )
    for t in items:
        table.add_row(
            t.name,
            t.procedure,
            t.schedule,
            t.state.value,
            _shown(t.last_run_at, shown),
            t.last_result or "-",
            _shown(t.next_due, shown),
            str(t.missed_total),
        )
    console().print(table)


def run_task(
    name: TaskArg, wait: Wait = False, as_json: JsonFlag = False, as_name: AsName = None
) -> None:
    """Submit one run of TASK now, in your name: an operation through the four branches."""
    identity = local_identity(as_name)
    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            answer = client.call("POST", f"/maintenance/tasks/{_segment(name)}/run")
            op = client.operation(answer["operation_id"]).operation
            op, frozen = settle_remotely(client, op, wait=wait, quiet=as_json)
        return finish(op, frozen, as_json=as_json)

    async def work(rt: Runtime) -> tuple[Operation, bool]:
        op = await run_now(rt.powers, name=name, by=identity, now=utcnow())
        return await settle(rt, op.operation_id, wait=wait, quiet=as_json)

    op, frozen = run(work, creates=True, writes=True)
    finish(op, frozen, as_json=as_json)


def pause(name: TaskArg, reason: Reason, as_json: JsonFlag = False, as_name: AsName = None) -> None:
    """Pause TASK: the scheduler submits no run of it until it is resumed."""
    _change(name, "pause", reason, as_json=as_json, as_name=as_name)


def resume(
    name: TaskArg,
    reason: Annotated[str, typer.Option("--reason", help="Why; it goes in the ledger.")] = (
        "resumed"
    ),
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Resume a paused or held TASK; its failure count starts again."""
    _change(name, "resume", reason, as_json=as_json, as_name=as_name)


def _change(name: str, verb: str, reason: str, *, as_json: bool, as_name: str | None) -> None:
    identity = local_identity(as_name)
    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            answer = client.call(
                "POST", f"/maintenance/tasks/{_segment(name)}/{verb}", json={"reason": reason}
            )
        task = MaintenanceTask.model_validate(answer)
    else:
        change = service.pause_task if verb == "pause" else service.resume_task

        async def work(rt: Runtime) -> MaintenanceTask:
            now = utcnow()
            async with rt.session() as session:
                row = await change(
                    session, settings=rt.settings, name=name, by=identity, reason=reason, now=now
                )
                await lifecycle.commit(session)
                spec = models.find_spec(rt.settings, name)
                return models.task_of(spec, row, settings=rt.settings, now=now)

        task = run(work, creates=True, writes=True)
    if as_json:
        emit_json(task)
        return
    console().print(f"{task.name}: {task.state.value}")


def _segment(name: str) -> str:
    """The task's name as one path segment (a name with a slash is refused as unknown)."""
    return quote(name, safe="")
