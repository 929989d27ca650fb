"""``triad sop list|show``: the standard operating procedures in force, and reviews due.

Locally the catalogue is the one this machine loads (the shipped templates and
``$TRIAD_HOME/sops``); remotely, the server's.
"""

from __future__ import annotations

from contextlib import closing
from typing import Annotated

import typer
from rich.table import Table

from triadops.cli.context import JsonFlag, load_settings, run
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.constitution.crown.reviews import sop_detail
from triadops.constitution.sops import USER_FOLDER, load_catalogue
from triadops.domain.sops import SopDetail
from triadops.runtime import Runtime

app = typer.Typer(help="See the standard operating procedures in force.", no_args_is_help=True)


def _names(values: list[str]) -> str:
    return ", ".join(values) or "-"


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """List the SOPs: the types each governs, who may request, what each requires."""
    client = remote()
    if client is not None:
        with closing(client):
            entries = client.sops()
    else:  # no database needed: the catalogue is files
        entries = list(load_catalogue(load_settings().home / USER_FOLDER).entries)
    if as_json:
        emit_json(entries)
        return
    table = Table(title="standard operating procedures", title_justify="left")
    for column in ("id", "name", "governs", "requested by", "approvals", "checks", "review"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            e.id,
            e.name,
            _names([t.value for t in e.governs]),
            _names([a.value for a in e.requested_by]),
            _names([a.value for a in e.approvals]),
            _names([c.what for c in e.criteria]),
            "crown" if e.review else "-",
        )
    console().print(table)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="An SOP's id (SOP-001) or name (deployment).")],
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many reviews due.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Show one SOP: its phases by branch, what it requires, and the reviews it has due."""
    client = remote()
    if client is not None:
        with closing(client):
            detail = client.sop(name, limit=limit)
    else:

        async def work(rt: Runtime) -> SopDetail:
            async with rt.session(read_only=True) as session:
                return await sop_detail(session, rt.sops, name, limit=limit)

        detail = run(work)
    if as_json:
        emit_json(detail)
    else:
        _render(detail)


def _render(sop: SopDetail) -> None:
    out = console()
    out.print(f"{sop.id} {sop.name}: {sop.title}", style="bold")
    out.print(f"authority: {sop.authority}")
    out.print(f"governs: {_names([t.value for t in sop.governs])}")
    out.print(f"requested by: {_names([a.value for a in sop.requested_by])}")
    out.print(f"approvals at least: {_names([a.value for a in sop.approvals])}")
    for need in sop.criteria:
        out.print(f"validation needs {need.what}: {' or '.join(need.any_of)}")
    if sop.needs_affected_systems:
        out.print("the request names its affected_systems")
    if sop.needs_rollback_plan:
        out.print("the request gives a rollback_plan")
    out.print(f"post-change review by the crown: {'required' if sop.review else 'not required'}")
    out.print(f"source: {sop.source}  sha256: {sop.digest}")
    for phase in sop.phases:
        out.print(f"{phase.name} ({phase.branch.value})")
        for duty in phase.duties:
            out.print(f"  - {duty}")
    if not sop.review:
        return
    if not sop.reviews_due:
        out.print("reviews due: none")
        return
    table = Table(title="reviews due", title_justify="left")
    for column in ("operation", "type", "status", "requested by", "ended"):
        table.add_column(column, overflow="fold")
    for due in sop.reviews_due:
        table.add_row(
            due.operation_id,
            due.operation_type.value,
            due.status.value,
            due.requested_by,
            due.updated_at.isoformat(timespec="seconds"),
        )
    out.print(table)
    out.print(f"review one: triad ops review {sop.reviews_due[0].operation_id} --lessons TEXT")
