"""``triad ops``: submit, inspect and decide operations, all through the constitution."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from triadops.actions.procedures.views import ProcedureDetail, procedure_detail
from triadops.cli import decisions
from triadops.cli.context import (
    AsName,
    BadInput,
    JsonFlag,
    choice,
    load_settings,
    local_identity,
    refuse_as,
    run,
)
from triadops.cli.outcome import DryRun, Wait, finish, settle, settle_remotely
from triadops.cli.output import (
    console,
    emit_json,
    render_operation,
    render_operations,
    render_outcome,
    render_preview,
)
from triadops.cli.remote import Remote, remote
from triadops.cli.requests import (
    Params,
    RequestFlags,
    StepCommand,
    Steps,
    procedure_params,
    request_from_file,
    request_from_flags,
    step_specs,
)
from triadops.cli.views import OperationLine
from triadops.constitution import ledger
from triadops.constitution.legislative.service import (
    commit_new_operation,
    preview_operation,
    review_request,
    store_reviewed,
)
from triadops.domain.acknowledgements import acknowledgement_of
from triadops.domain.enums import OperationStatus, OperationType
from triadops.domain.errors import InvalidRequest
from triadops.domain.identity import Identity
from triadops.domain.ledger import LedgerEntry
from triadops.domain.operation_views import OperationSummary
from triadops.domain.operations import (
    Operation,
    OperationRequest,
    Plan,
    PlanningResult,
    as_utc,
)
from triadops.runtime import Runtime, catalogues
from triadops.storage import ledger as ledger_store
from triadops.storage.listing import (
    ListingFilters,
    cursor_position,
    list_operations,
)
from triadops.storage.records import load_operation, operation_summary

app = typer.Typer(help="Submit, inspect and decide operations.", no_args_is_help=True)


@app.command(cls=StepCommand)
def submit(
    ctx: typer.Context,
    operation_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="maintenance (default), deployment, configuration, monitoring, emergency, "
            "validation.",
        ),
    ] = None,
    authority: Annotated[
        str | None,
        typer.Option("--authority", help="legislative, executive (default), judicial or crown."),
    ] = None,
    description: Annotated[
        str | None, typer.Option(help="Default: from the procedure or steps.")
    ] = None,
    operation_id: Annotated[
        str | None, typer.Option("--id", help="Operation id (default: generated).")
    ] = None,
    scheduled_time: Annotated[
        str | None, typer.Option(help="Earliest start, ISO 8601 (naive is UTC).")
    ] = None,
    emergency: Annotated[
        bool, typer.Option("--emergency", help="Emergency priority (SOP-002).")
    ] = False,
    window: Annotated[
        str | None,
        typer.Option(
            metavar="NAME|any",
            help="Needs a maintenance window: placed in it (at the quietest slot without "
            "--scheduled-time) and started only inside it.",
        ),
    ] = None,
    systems: Annotated[
        list[str] | None, typer.Option("--system", help="An affected system; repeatable.")
    ] = None,
    rollback_plan: Annotated[str | None, typer.Option(help="How to undo it.")] = None,
    criteria: Annotated[
        list[str] | None, typer.Option("--criterion", help="A validation check; repeatable.")
    ] = None,
    procedure: Annotated[
        str | None, typer.Option(metavar="NAME", help="A catalogue procedure.")
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            metavar="KEY=VALUE",
            help="A parameter of --procedure; repeatable. JSON when it parses, else text "
            "(a str parameter takes the text as is).",
        ),
    ] = None,
    steps: Steps = None,
    params: Params = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A JSON request instead of flags.")
    ] = None,
    dry_run: DryRun = False,
    wait: Wait = False,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Submit an operation: reviewed at once, then approved, waiting, or rejected."""
    identity = local_identity(as_name)
    flags = RequestFlags(
        operation_type=operation_type,
        authority=authority,
        description=description,
        operation_id=operation_id,
        scheduled_time=scheduled_time,
        emergency=emergency,
        window=window,
        systems=systems or [],
        rollback_plan=rollback_plan,
        criteria=criteria or [],
        procedure=procedure,
    )
    if param and not procedure:
        raise BadInput("--param sets a parameter of --procedure NAME; give the procedure")
    client = remote()
    if procedure is not None and file is None:
        declared = _declared(client, procedure)
        flags.procedure_params = procedure_params(param or [], declared.params)
        flags.operation_type = flags.operation_type or declared.operation_type.value
        flags.authority = flags.authority or declared.constitutional_authority[0].value
    if file is not None:
        given = flags.given() + (["--step"] if steps else []) + (["--params"] if params else [])
        if given:
            raise BadInput(f"--file excludes request flags; drop {', '.join(given)}")
        request = request_from_file(file, identity)
    else:
        flags.steps = step_specs(ctx, steps or [], params or [])
        request = request_from_flags(flags, identity)
    deliver(request, client, identity, dry_run=dry_run, wait=wait, as_json=as_json, as_name=as_name)


def deliver(
    request: OperationRequest,
    client: Remote | None,
    identity: Identity,
    *,
    dry_run: bool,
    wait: bool,
    as_json: bool,
    as_name: str | None,
    figures: Callable[[Operation], None] | None = None,
) -> None:
    """Preview or submit `request` here or on the server, then report (and wait) as asked.

    `figures` prints what a completed operation's steps measured (a backup's size and rate),
    after its outcome; never with ``--json``, whose operation holds them already.
    """
    if client is not None:
        refuse_as(as_name)
        with closing(client):
            if dry_run:
                plan, finding = client.preview(request)
                return _show_preview(plan, finding, as_json=as_json)
            answer = client.submit(request)
            op, frozen = settle_remotely(client, answer.operation, wait=wait, quiet=as_json)
        return _finished(op, frozen, as_json=as_json, figures=figures)

    if dry_run:

        async def preview(rt: Runtime) -> tuple[Plan, PlanningResult]:
            async with rt.session(read_only=True) as session:
                return await preview_operation(session, rt.powers, request=request)

        return _show_preview(*run(preview, creates=True), as_json=as_json)

    async def work(rt: Runtime) -> tuple[Operation, bool]:
        # Reviewed (previews may reach targets) before the write lock is taken.
        async with rt.session(read_only=True) as reading:
            reviewed = await review_request(reading, rt.powers, request=request, requester=identity)
        async with rt.session() as session:
            store_reviewed(session, rt.powers, reviewed)
            await commit_new_operation(session, request.operation_id)
        return await settle(rt, request.operation_id, wait=wait, quiet=as_json)

    op, frozen = run(work, creates=True, writes=True)
    _finished(op, frozen, as_json=as_json, figures=figures)


def _finished(
    op: Operation, frozen: bool, *, as_json: bool, figures: Callable[[Operation], None] | None
) -> None:
    if figures is not None and not as_json and op.status is OperationStatus.COMPLETED:
        render_outcome(op, frozen=frozen)
        figures(op)
        return
    finish(op, frozen, as_json=as_json)


def _declared(client: Remote | None, name: str) -> ProcedureDetail:
    """Read a procedure's declaration: its parameters' types, its type and authority.

    They fill what the flags leave out (``--type``, ``--authority``: the first it allows).
    """
    if client is not None:
        return client.procedure(name)
    return procedure_detail(catalogues(load_settings())[2], name)


def _show_preview(plan: Plan, finding: PlanningResult, *, as_json: bool) -> None:
    if as_json:
        emit_json({"plan": plan, "planning_result": finding})
    else:
        render_preview(plan, finding)


@app.command("list")
def list_(
    status: Annotated[
        list[str] | None, typer.Option(help="Only operations in this state; repeatable.")
    ] = None,
    operation_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only operations of this type; repeatable.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only those created at or after this time, ISO 8601 (naive is UTC)."),
    ] = None,
    cursor: Annotated[
        str | None,
        typer.Option(help="Continue where a listing with the same filters stopped."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """List operations, newest first (ties by id).

    A full page ends with the command that lists the next one. With --json each operation
    carries the ``cursor`` that continues after it: the last one's, when the page is full.
    """
    filters = ListingFilters(
        statuses=[choice(OperationStatus, s, "--status") for s in status or []],
        types=[choice(OperationType, t, "--type") for t in operation_type or []],
        since=None if since is None else _since(since),
    )
    try:
        after = None if cursor is None else cursor_position(cursor, **filters)
    except InvalidRequest as exc:
        raise BadInput(f"--cursor: {exc.message.removeprefix('cursor: ')}") from None

    client = remote()
    if client is not None:
        with closing(client):
            summaries, _ = client.operations(
                statuses=[s.value for s in filters["statuses"]],
                types=[t.value for t in filters["types"]],
                since=None if filters["since"] is None else filters["since"].isoformat(),
                cursor=cursor,
                limit=limit,
            )
    else:

        async def work(rt: Runtime) -> list[OperationSummary]:
            async with rt.session(read_only=True) as session:
                rows = await list_operations(session, **filters, after=after, limit=limit)
                return [operation_summary(row) for row in rows]

        summaries = run(work)
    # Each line's cursor is its own position under the filters, in either mode.
    lines = [OperationLine.listed(summary, filters) for summary in summaries]
    if as_json:
        emit_json(lines)
        return
    render_operations(lines)
    if len(lines) == limit:
        again = [f"--status {s}" for s in filters["statuses"]]
        again += [f"--type {t}" for t in filters["types"]]
        again += [f"--since {shlex.quote(since)}"] if since is not None else []
        again += [f"--limit {limit}"] if limit != 50 else []
        again += [f"--cursor {lines[-1].cursor}"]
        console().print(f"more: triad ops list {' '.join(again)}", soft_wrap=True)


def _since(value: str) -> datetime:
    """Return `value` as an aware UTC time; BadInput saying what is wrong otherwise."""
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise BadInput(
            f"--since: {value!r} is not an ISO 8601 time such as 2026-01-31T09:00:00Z"
        ) from None
    except OverflowError:
        raise BadInput(f"--since: {value!r} is out of range once converted to UTC") from None


@app.command()
def show(operation_id: str, as_json: JsonFlag = False) -> None:
    """Show an operation: request, plan, approvals, steps, results and its timeline."""
    client = remote()
    if client is not None:
        with closing(client):
            answer = client.operation(operation_id)
        op, timeline = answer.operation, answer.timeline
    else:

        async def work(rt: Runtime) -> tuple[Operation, list[LedgerEntry]]:
            async with rt.session(read_only=True) as session:
                op = await load_operation(session, operation_id)
                rows = await ledger_store.select_operation_entries(session, operation_id)
                return op, [ledger.to_entry(row) for row in rows]

        op, timeline = run(work)
    if as_json:
        data = op.model_dump(mode="json")
        data["constitutional_compliance"] = op.constitutional_compliance
        data["timeline"] = [entry.model_dump(mode="json") for entry in timeline]
        ack = acknowledgement_of(op.acknowledgement_deadline, timeline)
        data["acknowledgement"] = None if ack is None else ack.model_dump(mode="json")
        emit_json(data)
    else:
        render_operation(op, timeline)


app.command()(decisions.approve)
app.command()(decisions.reject)
app.command()(decisions.cancel)
app.command(cls=StepCommand)(decisions.amend)
app.command()(decisions.resolve)
app.command()(decisions.ack)
app.command()(decisions.review)
