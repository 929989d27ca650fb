"""``triad procedures``: list, show and validate the procedure files requests ask for by name.

``list`` and ``show`` read the server's catalogue remotely (TRIAD_URL), else the one this
machine's settings load. ``validate`` checks files or folders here, with no server and no
database: one ``error:`` line on stderr per mistake, then exit 1.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer

from triadops.actions.procedures import BUILTIN, check_paths, folders
from triadops.actions.procedures.views import (
    ProcedureDetail,
    procedure_detail,
    procedure_lines,
)
from triadops.cli.context import JsonFlag, load_settings
from triadops.cli.output import console, emit_json, fitted_table, visible
from triadops.cli.remote import remote
from triadops.runtime import catalogues, registries

app = typer.Typer(help="List, show and validate procedures.", no_args_is_help=True)


@app.command("list")
def list_procedures(as_json: JsonFlag = False) -> None:
    """List the procedures: name, risk, type, authority, steps and the file of each."""
    client = remote()
    if client is not None:
        with closing(client):
            lines = client.procedures()
    else:
        lines = procedure_lines(catalogues(load_settings())[2])
    if as_json:
        emit_json(lines)
        return
    table = fitted_table("name", "risk", "type", "authority", "steps", "source")
    for line in lines:
        table.add_row(
            line.name,
            line.risk.value,
            line.operation_type.value,
            ", ".join(a.value for a in line.constitutional_authority),
            str(line.steps),
            line.source,
        )
    console().print(table if lines else "no procedures")


@app.command()
def show(name: Annotated[str, typer.Argument(metavar="NAME")], as_json: JsonFlag = False) -> None:
    """Show a procedure: its parameters with their types, steps, criteria and rollback plan."""
    client = remote()
    if client is not None:
        with closing(client):
            detail = client.procedure(name)
    else:
        detail = procedure_detail(catalogues(load_settings())[2], name)
    if as_json:
        emit_json(detail)
        return
    _render(detail)


def _render(detail: ProcedureDetail) -> None:
    out = console()
    authority = " or ".join(a.value for a in detail.constitutional_authority)
    out.print(f"procedure {detail.name}: {detail.description}")
    out.print(
        f"type: {detail.operation_type.value}; authority: {authority}; risk: {detail.risk.value}"
    )
    out.print(f"source: {detail.source} (sha256 {detail.sha256[:16]})")
    if detail.expected_duration_s is not None:
        out.print(f"expected duration: {detail.expected_duration_s:g} s")
    for key, spec in detail.params.items():
        rules: list[str] = [spec.type]
        if spec.pattern is not None:
            rules.append(f"pattern {spec.pattern!r}")
        if spec.min is not None:
            rules.append(f"min {spec.min:g}")
        if spec.max is not None:
            rules.append(f"max {spec.max:g}")
        if spec.choices is not None:
            rules.append(f"one of {spec.choices}")
        rules.append("required" if spec.default is None else f"default {spec.default!r}")
        text = f" ({spec.description})" if spec.description else ""
        out.print(f"param {key}: {', '.join(rules)}{text}")
    for index, step in enumerate(detail.steps):
        params = f" {step.params}" if step.params else ""
        out.print(f"step {index}: {step.action}{params}")
    out.print(f"rollback plan: {detail.rollback_plan}")
    out.print(f"validation criteria: {', '.join(detail.validation_criteria)}")
    if detail.affected_systems:
        out.print(f"affected systems: {', '.join(detail.affected_systems)}")


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[PATH]...",
            help="Files or folders to check (default: $TRIAD_HOME/procedures and "
            "procedure_folders).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check procedure files here, without a server: one error line per mistake, exit 1."""
    settings = load_settings()
    actions, checks = registries(settings)
    given = list(paths or [])
    checked, problems = check_paths(
        [BUILTIN, *(given or folders(settings))],
        actions=actions,
        checks=checks.names(),
        required={str(p) for p in (given or settings.procedure_folders)},
    )
    names = checked.names()
    if as_json:
        emit_json(
            {
                "ok": not problems,
                "procedures": names,
                "problems": [
                    {"file": p.file, "where": p.where, "what": p.what, "line": str(p)}
                    for p in problems
                ],
            }
        )
    elif not problems:
        console().print(f"{len(names)} procedures valid: {', '.join(names)}")
    for problem in problems if not as_json else ():
        typer.echo(f"error: {visible(str(problem))}", err=True)
    if problems:
        raise typer.Exit(1)
