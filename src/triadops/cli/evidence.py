"""``triad evidence``: export an operation's evidence bundle; verify one offline.

``triad evidence OPERATION_ID`` (short for ``triad evidence export``) writes the bundle,
locally from the database or remotely from the server. ``triad evidence verify BUNDLE
--public-key FILE`` needs neither: the file and the public key are the whole proof.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from triadops.cli.clicktypes import Command
from triadops.cli.clicktypes import Context as ClickContext
from triadops.cli.context import BadInput, JsonFlag, load_settings, run
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.constitution.ledger import checkpoints
from triadops.constitution.ledger.evidence import NO_KEY, prepare_evidence
from triadops.constitution.ledger.evidence_check import check_bundle
from triadops.domain.errors import InvalidRequest, TriadError
from triadops.domain.evidence import EvidenceBundle, EvidenceReport
from triadops.runtime import Runtime

MAX_BUNDLE_BYTES = 1 << 30
"""A file larger than this is not read as a bundle (about four million entries)."""


class EvidenceGroup(TyperGroup):
    """``triad evidence ID`` is ``triad evidence export ID``: a word no command has is an id."""

    def resolve_command(
        self, ctx: ClickContext, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        """Send a first argument that names no command to ``export``."""
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            args = ["export", *args]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=EvidenceGroup,
    help="Export an operation's evidence bundle (triad evidence ID); verify one offline.",
    no_args_is_help=True,
)


@app.command()
def export(
    operation_id: Annotated[str, typer.Argument(metavar="OPERATION_ID")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="PATH",
            help="Where to write the bundle (never overwritten); default ID.evidence.json.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write the operation's record and its ledger segment up to a signed checkpoint."""
    target = out or Path(f"{operation_id}.evidence.json")
    if target.exists():
        raise BadInput(f"{target} already exists: a bundle is never overwritten")
    client = remote()
    if client is not None:
        with closing(client), client.evidence(operation_id) as (summary, chunks):
            _write(target, chunks)
    else:
        summary = _export_here(operation_id, target)
    summary = {"file": str(target), **summary}
    if as_json:
        emit_json({k: v for k, v in summary.items() if k != "signed_at"})
        return
    out_ = console()
    out_.print(f"evidence of {summary['operation_id']} ({summary['status']}) written to {target}")
    out_.print(
        f"entries {summary['first_seq']} to {summary['checkpoint_seq']} ({summary['entries']}), "
        f"up to checkpoint {summary['checkpoint_seq']} signed at {summary['signed_at']} "
        f"by key {summary['key_id']}"
    )


def _export_here(operation_id: str, target: Path) -> dict[str, Any]:
    """Check the export, then write the bundle to `target` as it is read."""
    settings = load_settings()
    try:
        public_key = checkpoints.verifying_key(settings)
    except InvalidRequest as exc:
        raise BadInput(exc.message) from None
    if public_key is None:
        raise BadInput(NO_KEY)
    log_path = settings.resolved_checkpoint_log

    async def work(rt: Runtime) -> dict[str, Any]:
        async with rt.session(read_only=True) as session:
            export = await prepare_evidence(
                session, operation_id=operation_id, log_path=log_path, public_key=public_key
            )
            await _write_async(target, export.chunks(session))
            return {**export.summary(), "entries": export.written}

    return run(work)


def _partial(target: Path) -> tuple[Path, int]:
    """Create the file a bundle is written to before it takes its name; return it open."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        return partial, os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise BadInput(f"cannot create {partial}: {exc.strerror}") from None


def _name(partial: Path, target: Path, last: bytes) -> None:
    """Give a complete bundle its name (never over another file); else raise."""
    if not last.rstrip().endswith(b"]}"):
        raise TriadError("the bundle ended before it was complete")
    try:
        os.link(partial, target)
    except FileExistsError:
        raise BadInput(f"{target} already exists: a bundle is never overwritten") from None
    except OSError as exc:
        raise BadInput(f"cannot create {target}: {exc.strerror}") from None


def _write(target: Path, chunks: Iterator[bytes]) -> None:
    """Write the bundle under a temporary name, named `target` only once complete."""
    partial, fd = _partial(target)
    try:
        last = b""
        with os.fdopen(fd, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
                last = (last + chunk)[-16:]
        _name(partial, target, last)
    finally:
        partial.unlink(missing_ok=True)


async def _write_async(target: Path, chunks: AsyncIterator[bytes]) -> None:
    """:func:`_write` for chunks read from the database."""
    partial, fd = _partial(target)
    try:
        last = b""
        with os.fdopen(fd, "wb") as file:
            async for chunk in chunks:
                file.write(chunk)
                last = (last + chunk)[-16:]
        _name(partial, target, last)
    finally:
        partial.unlink(missing_ok=True)


@app.command()
def verify(
    bundle_file: Annotated[Path, typer.Argument(metavar="BUNDLE")],
    public_key_file: Annotated[
        Path,
        typer.Option(
            "--public-key",
            metavar="FILE",
            help="The checkpoint key's public half (PEM or 32 raw bytes in base64).",
        ),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Check a bundle offline with the public key alone; exit 1 on any finding."""
    public_key = checkpoints.parse_public_key(
        _read(public_key_file, "the public key", checkpoints.MAX_KEY_FILE_BYTES),
        source=str(public_key_file),
    )
    report = check_bundle(_bundle(bundle_file), public_key)
    if as_json:
        emit_json(report)
    else:
        _print(report, bundle_file)
    if not report.ok:
        raise typer.Exit(1)


def _read(path: Path, what: str, limit: int) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise BadInput(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise BadInput(f"{path}: larger than {limit} bytes: not {what}")
    return data


def _bundle(path: Path) -> EvidenceBundle:
    """Read a bundle file; anything else is one line naming the file and the first fault."""
    data = _read(path, "the bundle", MAX_BUNDLE_BYTES)
    try:
        return EvidenceBundle.model_validate_json(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        said = f"{where}: {error['msg']}" if where else error["msg"]
        raise BadInput(f"{path}: not an evidence bundle ({said})") from None


def _print(report: EvidenceReport, path: Path) -> None:
    out = console()
    if report.ok:
        out.print(f"evidence of {report.operation_id} verified ({path})")
        out.print(
            f"entries {report.first_seq} to {report.checkpoint_seq}: {report.entries_checked} "
            f"chain to checkpoint {report.checkpoint_seq}, signed by key {report.key_id}"
        )
        out.print(
            f"the record ({report.status}) agrees with its {report.operation_entries} entries"
        )
        return
    out.print(
        f"evidence of {report.operation_id} does not verify: "
        f"{len(report.findings)} finding(s) ({path})"
    )
    for finding in report.findings:
        out.print(f"  - {finding}")
