"""``triad evidence``: export an operation's evidence bundle; verify one offline.

``triad evidence OPERATION_ID`` (short for ``triad evidence export``) writes the bundle,
locally from the database or remotely from the server. ``triad evidence verify BUNDLE
--public-key FILE`` needs neither: the file and the public key are the whole proof.
"""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from triadops.cli.clicktypes import Command
from triadops.cli.clicktypes import Context as ClickContext
from triadops.cli.context import BadInput, JsonFlag, load_settings, run
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.constitution.ledger import checkpoints
from triadops.constitution.ledger.evidence import NO_KEY, export_evidence
from triadops.constitution.ledger.evidence_check import check_bundle
from triadops.domain.checkpoints import iso_utc
from triadops.domain.errors import InvalidRequest
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
        with closing(client):
            bundle = client.evidence(operation_id)
    else:
        bundle = _export_here(operation_id)
    _write(target, bundle)
    summary = {
        "file": str(target),
        "operation_id": bundle.operation_id,
        "status": bundle.operation.status.value,
        "first_seq": bundle.entries[0].seq,
        "checkpoint_seq": bundle.checkpoint.seq,
        "entries": len(bundle.entries),
        "key_id": bundle.checkpoint.key_id,
    }
    if as_json:
        emit_json(summary)
        return
    out_ = console()
    out_.print(f"evidence of {bundle.operation_id} ({summary['status']}) written to {target}")
    out_.print(
        f"entries {summary['first_seq']} to {summary['checkpoint_seq']} ({len(bundle.entries)}), "
        f"up to checkpoint {bundle.checkpoint.seq} signed at {iso_utc(bundle.checkpoint.at)} "
        f"by key {bundle.checkpoint.key_id}"
    )


def _export_here(operation_id: str) -> EvidenceBundle:
    settings = load_settings()
    try:
        public_key = checkpoints.verifying_key(settings)
    except InvalidRequest as exc:
        raise BadInput(exc.message) from None
    if public_key is None:
        raise BadInput(NO_KEY)
    log_path = settings.resolved_checkpoint_log

    async def work(rt: Runtime) -> EvidenceBundle:
        async with rt.session(read_only=True) as session:
            return await export_evidence(
                session, operation_id=operation_id, log_path=log_path, public_key=public_key
            )

    return run(work)


def _write(target: Path, bundle: EvidenceBundle) -> None:
    """Write the bundle to a new file: created exclusively, removed if the write fails."""
    text = bundle.model_dump_json(indent=1).encode()
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise BadInput(f"{target} already exists: a bundle is never overwritten") from None
    except OSError as exc:
        raise BadInput(f"cannot create {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(text)
    except BaseException:
        target.unlink(missing_ok=True)
        raise


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
