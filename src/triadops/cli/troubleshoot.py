"""``triad troubleshoot RUNBOOK`` and ``triad incidents list|show``: diagnose, fix, document.

Locally this process diagnoses, submits the resolution in the operator's name and drives it
(as ``--wait`` does); remotely the server does, its worker driving the operation. Either way
the resolution meets the same approvals as any request, and the report is stored.
"""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer
from rich.table import Table

from triadops.cli.context import AsName, BadInput, JsonFlag, local_identity, refuse_as, run
from triadops.cli.outcome import settle
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.constitution.legislative.service import (
    commit_new_operation,
    review_request,
    store_reviewed,
)
from triadops.domain.errors import NotFound
from triadops.domain.identity import Identity
from triadops.domain.investigations import Investigation
from triadops.domain.operations import Operation, OperationRequest
from triadops.domain.runbooks import Incident, incident_markdown
from triadops.ops.runbooks.service import troubleshoot
from triadops.runtime import Runtime
from triadops.storage.incidents import list_incidents, read_incident

incidents = typer.Typer(help="The incident reports troubleshooting stored.", no_args_is_help=True)
SHOWN = {True: "symptom", False: "clear", None: "inconclusive"}


def troubleshoot_command(
    name: Annotated[str, typer.Argument(help="A runbook (triad runbooks list).")],
    resolution: Annotated[
        str | None, typer.Option(help="The resolution to submit; default the first that applies.")
    ] = None,
    resolve: Annotated[
        bool,
        typer.Option("--resolve/--no-resolve", help="Submit the resolution, or only diagnose."),
    ] = True,
    investigate: Annotated[
        bool,
        typer.Option(
            "--investigate",
            help="Ask the investigator agent too (it only reads); its findings are stored.",
        ),
    ] = False,
    submit_proposal: Annotated[
        bool,
        typer.Option(
            "--submit-proposal",
            help="Submit the investigator's proposed procedure too, in your name, through the "
            "same approvals.",
        ),
    ] = False,
    as_name: AsName = None,
    as_json: JsonFlag = False,
) -> None:
    """Diagnose, resolve through the branches, validate, and store an incident report."""
    if submit_proposal and not investigate:
        raise BadInput("--submit-proposal submits what --investigate proposes: give both")
    client = remote()
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            incident = client.troubleshoot(
                name,
                resolve=resolve,
                resolution=resolution,
                investigate=investigate,
                submit_proposal=submit_proposal,
            )
    else:
        incident = _locally(
            name,
            local_identity(as_name),
            resolve=resolve,
            resolution=resolution,
            investigate=investigate,
            submit_proposal=submit_proposal,
            quiet=as_json,
        )
    if as_json:
        emit_json(incident)
    else:
        render(incident)
    if incident.status == "unresolved":
        raise typer.Exit(1)


def _locally(
    name: str,
    identity: Identity,
    *,
    resolve: bool,
    resolution: str | None,
    investigate: bool,
    submit_proposal: bool,
    quiet: bool,
) -> Incident:
    """Troubleshoot in this process: submit in `identity`'s name and drive the operation."""

    async def work(rt: Runtime) -> Incident:
        entry = rt.runbooks.get(name)

        async def submit(request: OperationRequest) -> str:
            async with rt.session(read_only=True) as reading:
                reviewed = await review_request(
                    reading, rt.powers, request=request, requester=identity
                )
            async with rt.session() as session:
                store_reviewed(session, rt.powers, reviewed)
                await commit_new_operation(session, request.operation_id)
            return request.operation_id

        async def settled(operation_id: str) -> Operation:
            return (await settle(rt, operation_id, wait=True, quiet=quiet))[0]

        return await troubleshoot(
            rt.powers,
            rt.procedures,
            entry,
            by=identity,
            trigger="manual",
            resolve=resolve,
            submit=submit,
            settle=settled,
            resolution=resolution,
            investigate=rt.investigate if investigate else None,
            submit_proposal=submit_proposal,
        )

    return run(work, creates=True, writes=True)


def render(incident: Incident) -> None:
    """The incident's diagnosis, resolution and validation as tables and lines."""
    out = console()
    out.print(f"{incident.id}: {incident.runbook}: {incident.status}", style="bold")
    table = Table(title="diagnosis", title_justify="left")
    for column in ("diagnostic", "reads", "found", "detail"):
        table.add_column(column, overflow="fold")
    for f in incident.diagnosis:
        after = next((v for v in incident.validation if v.name == f.name), None)
        found = SHOWN[f.symptom] + (f" → {SHOWN[after.symptom]}" if after else "")
        table.add_row(f.name, f.kind, found, f.detail)
    out.print(table)
    c = incident.chosen
    if c is not None:
        target = f"procedure {c.procedure}" if c.procedure else f"action {c.action}"
        out.print(
            f"resolution: {c.resolution} ({target}): operation {c.operation_id or '-'}, "
            f"{c.status or 'not submitted'}"
        )
    if incident.investigation is not None:
        render_investigation(incident.investigation)
    for step in incident.timeline:
        out.print(f"  {step.at:%H:%M:%S} {step.phase}: {step.what}")
    out.print(f"report: triad incidents show {incident.id} --markdown")


def render_investigation(found: Investigation) -> None:
    """What the investigator found, what it cites, and what it proposes (never run by it)."""
    out = console()
    out.print(f"investigation ({found.model}): {found.status}", markup=False)
    if found.hypothesis:
        out.print(f"  hypothesis: {found.hypothesis}", markup=False)
    for e in found.evidence:
        cited = "; ".join([*e.ids, *e.lines])
        out.print(f"  evidence {e.result} ({e.tool}): {e.note} {cited}".rstrip(), markup=False)
    if found.proposal.operation_id:
        done = f"submitted at your request as operation {found.proposal.operation_id}"
        out.print(f"  proposed {found.proposal.procedure}: {done}", markup=False)
    elif found.proposal.command:
        out.print(f"  proposed (not submitted): {found.proposal.command}", markup=False)
    for note in found.notes:
        out.print(f"  note: {note}", markup=False)


@incidents.command("list")
def list_(
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List the incident reports, newest first."""
    client = remote()
    if client is not None:
        with closing(client):
            found = client.incidents(limit=limit)
    else:

        async def work(rt: Runtime) -> list[Incident]:
            async with rt.session(read_only=True) as session:
                rows = await list_incidents(session, limit=limit)
            return [Incident.model_validate(r) for r in rows]

        found = run(work)
    if as_json:
        emit_json(found)
        return
    table = Table(title="incidents", title_justify="left")
    for column in ("id", "runbook", "status", "opened", "by", "operation"):
        table.add_column(column, overflow="fold")
    for i in found:
        table.add_row(
            i.id,
            i.runbook,
            i.status,
            i.opened_at.isoformat(timespec="seconds"),
            i.opened_by,
            (i.chosen.operation_id if i.chosen else None) or "-",
        )
    console().print(table)


@incidents.command()
def show(
    incident_id: Annotated[str, typer.Argument(metavar="ID", help="An incident's id.")],
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the post-incident report as Markdown.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show one incident report: what was found, done and proven, and its timeline."""
    client = remote()
    if client is not None:
        with closing(client):
            incident = client.incident(incident_id)
    else:

        async def work(rt: Runtime) -> Incident:
            async with rt.session(read_only=True) as session:
                found = await read_incident(session, incident_id)
            if found is None:
                raise NotFound(f"no incident {incident_id!r} (triad incidents list shows them)")
            return Incident.model_validate(found)

        incident = run(work)
    if as_json:
        emit_json(incident)
    elif markdown:
        typer.echo(incident_markdown(incident), nl=False)
    else:
        render(incident)
