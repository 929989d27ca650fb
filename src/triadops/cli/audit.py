"""``triad audit``: verify the ledger against its chain and signed checkpoints, read it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from triadops.cli.context import BadInput, JsonFlag, load_settings, run
from triadops.cli.output import console, emit_json, render_entries
from triadops.cli.remote import remote
from triadops.constitution import ledger, lifecycle
from triadops.constitution.ledger import audit, checkpoints
from triadops.constitution.ledger.publishing import publish_checkpoint
from triadops.domain.checkpoints import Checkpoint, CheckpointReport, iso_utc
from triadops.domain.errors import InvalidRequest
from triadops.domain.ledger import LedgerEntry, VerifyReport
from triadops.runtime import Runtime
from triadops.storage import ledger as ledger_store

T = TypeVar("T")

app = typer.Typer(help="Verify and read the crown's ledger.", no_args_is_help=True)

NO_KEY = (
    "no checkpoint key: set TRIAD_CHECKPOINT_KEY_FILE (triad audit keygen writes one) "
    "or TRIAD_CHECKPOINT_KEY"
)


def _setting(load: Callable[[], T]) -> T:
    """Load a key from the settings; a key that cannot be read is bad input (exit 2)."""
    try:
        return load()
    except InvalidRequest as exc:
        raise BadInput(exc.message) from None


@app.command()
def verify(as_json: JsonFlag = False) -> None:
    """Replay the chain against the stored state, check its checkpoints; exit 1 on any finding.

    Remotely the server replays the chain; the checkpoints are checked where their log is.
    """
    client = remote()
    if client is not None:
        with closing(client):
            report = client.verify()
        unchecked = CheckpointReport(
            checked=False,
            reason=f"checked by the server {client.target.url} without its checkpoint log: "
            "run triad audit verify where the log is",
        )
        return _report(report, unchecked, as_json=as_json)
    settings = load_settings()
    public_key = _setting(lambda: checkpoints.verifying_key(settings))
    log_path = settings.resolved_checkpoint_log

    async def work(rt: Runtime) -> tuple[VerifyReport, CheckpointReport]:
        async with rt.session(read_only=True) as session:
            report, recorded = await audit.verify_with_checkpoints(session, alerts=settings.alerts)
            if public_key is None:
                return report, CheckpointReport(
                    checked=False,
                    reason="no checkpoint key configured (checkpoint_public_key_file, "
                    "checkpoint_key_file or checkpoint_key)",
                )
            mine = recorded.get(checkpoints.public_key_id(public_key), {})
            checked = await checkpoints.check_log(
                session, log_path=log_path, public_key=public_key, recorded=mine
            )
        return report, checked

    _report(*run(work), as_json=as_json)


def _report(report: VerifyReport, checked: CheckpointReport, *, as_json: bool) -> None:
    """Print what the replay and the checkpoints found; exit 1 on any finding."""
    ok = report.ok and not checked.problems
    if as_json:
        emit_json({**report.model_dump(mode="json"), "ok": ok, "checkpoints": checked})
    else:
        out = console()
        if report.chain_intact:
            out.print(f"ledger intact: {report.entries_checked} entries checked")
        else:
            out.print(f"ledger broken at entry {report.first_bad_seq}: {report.problem}")
        if not checked.checked:
            out.print(f"checkpoints not checked: {checked.reason}")
        elif not checked.problems:
            out.print(f"checkpoints consistent: {checked.count} checked against the ledger")
        else:
            out.print(f"checkpoints broken: {len(checked.problems)} finding(s)")
            for problem in checked.problems:
                out.print(f"  - {problem}")
        if report.discrepancies:
            # After the ledger's own verdicts: is the ledger whole, then does the state
            # agree with it.
            out.print(f"state disagrees with the ledger: {len(report.discrepancies)} finding(s)")
            for discrepancy in report.discrepancies:
                out.print(f"  - {discrepancy}")
    if not ok:
        raise typer.Exit(1)


@app.command()
def checkpoint(as_json: JsonFlag = False) -> None:
    """Sign the ledger's head (seq, hash, time) and append it to the checkpoint log.

    Remotely the server signs with its key and appends to its log (the crown's token).
    """
    client = remote()
    if client is not None:
        with closing(client):
            signed, where = client.checkpoint()
        return _signed(signed, where, as_json=as_json)
    settings = load_settings()
    key = _setting(lambda: checkpoints.signing_key(settings))
    if key is None:
        raise BadInput(NO_KEY)
    log_path = settings.resolved_checkpoint_log

    async def work(rt: Runtime) -> Checkpoint:
        async with rt.session(read_only=True) as session:
            signed = await checkpoints.write_checkpoint(session, key=key, log_path=log_path)
        # Recorded after the line is on disk, in a write of its own: the log's I/O never
        # runs under the database's write lock.
        async with rt.session() as session:
            checkpoints.record_checkpoint(session, signed)
            await lifecycle.commit(session)
        await publish_checkpoint(settings, signed)  # outside any transaction; never fatal
        return signed

    _signed(run(work), str(log_path), as_json=as_json)


def _signed(signed: Checkpoint, where: str, *, as_json: bool) -> None:
    """Print a signed checkpoint and the log it went to, alike in both modes."""
    if as_json:
        emit_json(signed)
        return
    out = console()
    out.print(f"checkpoint {signed.seq} at {iso_utc(signed.at)}")
    out.print(f"hash: {signed.hash}")
    out.print(f"key id: {signed.key_id}")
    out.print(f"appended to {where}")


@app.command()
def keygen(
    out: Annotated[
        Path,
        typer.Option(
            "--out", metavar="PATH", help="Where to write the private key; never overwritten."
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Write a new Ed25519 checkpoint key (mode 0600); print its public key and key id."""
    public_key = checkpoints.generate_key_file(out)
    made = {
        "key_file": str(out),
        "key_id": checkpoints.public_key_id(public_key),
        "public_key": checkpoints.public_key_text(public_key),
    }
    if as_json:
        emit_json(made)
        return
    notes = console(stderr=True)
    notes.print(f"private key written to {out} (mode 0600); sign with it through")
    notes.print(f"  TRIAD_CHECKPOINT_KEY_FILE={out.resolve()}; keep it away from the database")
    notes.print("verifiers need only the public key: a file holding it, named by")
    notes.print("  TRIAD_CHECKPOINT_PUBLIC_KEY_FILE")
    console().print(f"key id: {made['key_id']}")
    console().print(f"public key: {made['public_key']}")


@app.command()
def log(
    operation: Annotated[
        str | None, typer.Option("--operation", metavar="ID", help="Only this operation's.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="The newest N entries.")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Show the newest ledger entries, oldest first."""
    client = remote()
    if client is not None:
        with closing(client):
            entries = client.entries(operation_id=operation, limit=limit)
    else:

        async def work(rt: Runtime) -> list[LedgerEntry]:
            async with rt.session(read_only=True) as session:
                rows = await ledger_store.select_entries(
                    session, operation_id=operation, limit=limit
                )
                return [ledger.to_entry(row) for row in rows]

        entries = run(work)
    if as_json:
        emit_json(entries)
    else:
        render_entries(entries)
