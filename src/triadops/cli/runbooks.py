"""``triad runbooks list|show|validate``: the troubleshooting scenarios in force.

Locally the catalogue is the one this machine loads (the shipped runbooks and
``$TRIAD_HOME/runbooks``); remotely, the server's. ``validate`` always checks files here.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer
from rich.table import Table

from triadops.cli.context import JsonFlag, load_settings, run
from triadops.cli.output import console, emit_json, fitted_table, visible
from triadops.cli.remote import remote
from triadops.domain.runbooks import Diagnostic, RunbookEntry
from triadops.domain.standards import RunbookRecord
from triadops.ops.runbooks.catalogue import BUILTIN, USER_FOLDER, RunbookCatalogue, check_paths
from triadops.ops.standards.service import runbook_record
from triadops.runtime import Runtime, catalogues

app = typer.Typer(help="See the troubleshooting runbooks in force.", no_args_is_help=True)


def _local(paths: list[Path] | None = None) -> tuple[RunbookCatalogue, list[str]]:
    settings = load_settings()
    actions, checks, procedures = catalogues(settings)
    catalogue, problems = check_paths(
        [BUILTIN, *(paths or [settings.home / USER_FOLDER])],
        checks=checks.names(),
        procedures=procedures.names(),
        actions=actions.names(),
    )
    return catalogue, [str(p) for p in problems]


def _entries() -> list[RunbookEntry]:
    client = remote()
    if client is not None:
        with closing(client):
            return client.runbooks()
    catalogue, problems = _local()
    if problems:
        raise typer.BadParameter(f"{problems[0]} (triad runbooks validate lists every problem)")
    return list(catalogue.entries)


@app.command("list")
def list_(as_json: JsonFlag = False) -> None:
    """List the runbooks: the alerts each answers, its diagnostics and resolutions."""
    entries = _entries()
    if as_json:
        emit_json(entries)
        return
    table = Table(title="runbooks", title_justify="left")
    for column in ("name", "title", "alerts", "diagnostics", "resolutions", "source"):
        table.add_column(column, overflow="fold")
    for e in entries:
        r = e.runbook
        table.add_row(
            r.name,
            r.title,
            ", ".join(r.alerts) or "-",
            str(len(r.diagnostics)),
            ", ".join(f.procedure or f.action or "" for f in r.resolutions),
            e.source,
        )
    console().print(table)


def _reads(d: Diagnostic) -> str:
    if d.logs is not None:
        q = d.logs
        return f"logs {q.source}: {q.level}+ over {q.since}, at most {q.at_most}"
    return f"{d.kind} {getattr(d, d.kind)}"


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="A runbook's name (triad runbooks list).")],
    as_json: JsonFlag = False,
) -> None:
    """Show one runbook: what it diagnoses, and what it may propose to resolve."""
    client = remote()
    if client is not None:
        with closing(client):
            entry = client.runbook(name)
    else:
        catalogue, problems = _local()
        if problems:
            raise typer.BadParameter(problems[0])
        entry = catalogue.get(name)
    if as_json:
        emit_json(entry)
        return
    r, out = entry.runbook, console()
    out.print(f"{r.name}: {r.title}", style="bold")
    if r.description:
        out.print(r.description.strip())
    out.print(f"answers alerts: {', '.join(r.alerts) or '-'}")
    out.print("diagnose:")
    for d in r.diagnostics:
        out.print(f"  - {d.name}: {_reads(d)}" + (f" ({d.description})" if d.description else ""))
    out.print("resolve (each an operation through the branches):")
    for f in r.resolutions:
        target = f"procedure {f.procedure}" if f.procedure else f"action {f.action}"
        when = f" when {' or '.join(f.when)} shows its symptom" if f.when else ""
        out.print(f"  - {f.name}: {target}{when}")
    out.print(f"source: {entry.source}")


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[PATH]...", help="Files or folders to check (default: $TRIAD_HOME/runbooks)."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check runbook files here, without a server: one error line per mistake, exit 1."""
    for path in paths or []:
        if not path.exists():
            raise typer.BadParameter(f"{path}: no such file or folder")
    catalogue, problems = _local(paths)
    names = catalogue.names()
    if as_json:
        emit_json({"ok": not problems, "runbooks": names, "problems": problems})
    elif not problems:
        console().print(f"{len(names)} runbooks valid: {', '.join(names)}")
    for problem in problems if not as_json else ():
        typer.echo(f"error: {visible(problem)}", err=True)
    if problems:
        raise typer.Exit(1)


@app.command()
def record(
    name: Annotated[str, typer.Argument(help="A runbook's name (triad runbooks list).")],
    as_json: JsonFlag = False,
) -> None:
    """Show a runbook's success record: its incidents by outcome, its resolutions' plans."""
    client = remote()
    if client is not None:
        with closing(client):
            answer = client.call("GET", f"/runbooks/{quote(name, safe='')}/record")
        found = RunbookRecord.model_validate(answer)
    else:

        async def work(rt: Runtime) -> RunbookRecord:
            entry = rt.runbooks.get(name)
            async with rt.session(read_only=True) as session:
                return await runbook_record(session, entry.runbook)

        found = run(work)
    if as_json:
        emit_json(found)
        return
    out = console()
    ended = ", ".join(f"{n} {status}" for status, n in sorted(found.incidents.items()))
    out.print(f"{found.runbook}: incidents: {ended or 'none yet'}", markup=False)
    table = fitted_table("resolution", "plan", "standing", "streak", "passed", "failed")
    for r in found.resolutions:
        if not r.plans:
            table.add_row(r.resolution, "never run", "", "", "", "")
        for p in r.plans:
            table.add_row(
                r.resolution,
                p.plan_hash[:12],
                p.standing.value,
                str(p.streak),
                str(p.successes),
                str(p.failures),
            )
    out.print(table)
