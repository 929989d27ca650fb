"""``triad audit``: verify the ledger's hash chain and read its entries."""

from __future__ import annotations

from typing import Annotated

import typer

from triadops.cli.context import JsonFlag, run
from triadops.cli.output import console, emit_json, render_entries
from triadops.constitution.crown import ledger
from triadops.domain.ledger import LedgerEntry, VerifyReport
from triadops.runtime import Runtime
from triadops.storage import ledger as ledger_store

app = typer.Typer(help="Verify and read the crown's ledger.", no_args_is_help=True)


@app.command()
def verify(as_json: JsonFlag = False) -> None:
    """Walk the whole chain; exit 1 and name the first bad entry when it is broken."""

    async def work(rt: Runtime) -> VerifyReport:
        async with rt.session() as session:
            return await ledger.verify(session)

    report = run(work)
    if as_json:
        emit_json(report)
    elif report.ok:
        console().print(f"ledger intact: {report.entries_checked} entries checked")
    else:
        console().print(f"ledger broken at entry {report.first_bad_seq}: {report.problem}")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def log(
    operation: Annotated[
        str | None, typer.Option("--operation", metavar="ID", help="Only this operation's.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="The newest N entries.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Show the newest ledger entries, oldest first."""

    async def work(rt: Runtime) -> list[LedgerEntry]:
        async with rt.session() as session:
            rows = await ledger_store.select_entries(session, operation_id=operation, limit=limit)
            return [ledger.to_entry(row) for row in rows]

    entries = run(work)
    if as_json:
        emit_json(entries)
    else:
        render_entries(entries)
