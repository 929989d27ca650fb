"""``triad backup``: backups of every type, their verification and recovery tests.

Runs are operations through the pipeline (``triad ops show`` shows their figures); the
listing and a backup's manifest are read here or from the server, printed the same.
"""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from triadops.cli.context import AsName, JsonFlag, local_identity, run
from triadops.cli.ops import deliver
from triadops.cli.outcome import DryRun, Wait
from triadops.cli.output import console, emit_json
from triadops.cli.remote import remote
from triadops.domain.backups import BACKUP_TYPES, Backup
from triadops.domain.enums import Authority
from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import Operation
from triadops.ops.backup import models
from triadops.ops.backup.requests import (
    backup_request,
    check_request,
    prune_request,
    restore_request,
)
from triadops.runtime import Runtime
from triadops.storage.targets import OWN_DATABASE

app = typer.Typer(
    help="Back up databases, files and triad's state, verify backups and test their recovery.",
    no_args_is_help=True,
)
TYPES = BACKUP_TYPES
"""The backup types this release takes."""
BackupIdArg = Annotated[str, typer.Argument(help="A backup's id (triad backup list).")]


def known_type(kind: str | None, what: str = "TYPE") -> str | None:
    """`kind` when it is a backup type (or None); else a clear error naming the known ones."""
    if kind is not None and kind not in TYPES:
        raise InvalidRequest(
            f"{what}: unknown backup type {kind!r} (known: {', '.join(TYPES)})", field="type"
        )
    return kind


@app.command("run")
def run_backup(
    kind: Annotated[
        str,
        typer.Argument(
            metavar="TYPE",
            help="What to back up: database, configurations, logs, system_state or command.",
        ),
    ],
    target: Annotated[
        str, typer.Option(help="database: a configured target; triad is its own database.")
    ] = OWN_DATABASE,
    name: Annotated[
        str | None, typer.Option(help="command: the backups.commands entry to run.")
    ] = None,
    dry_run: DryRun = False,
    wait: Wait = False,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Back up as one governed operation: files, manifest, checksums, row counts or members."""
    known_type(kind)
    identity = local_identity(as_name)
    request = backup_request(
        type_=kind,
        target=target,
        name=name,
        requested_by=identity.name,
        authority=Authority.EXECUTIVE,
    )
    deliver(
        request,
        remote(),
        identity,
        dry_run=dry_run,
        wait=wait,
        as_json=as_json,
        as_name=as_name,
        figures=show_figures,
    )


def _check(action: str, backup_id: str, *, wait: bool, as_json: bool, as_name: str | None) -> None:
    identity = local_identity(as_name)
    request = check_request(
        action=action,
        backup_id=backup_id,
        requested_by=identity.name,
        authority=Authority.EXECUTIVE,
    )
    deliver(
        request,
        remote(),
        identity,
        dry_run=False,
        wait=wait,
        as_json=as_json,
        as_name=as_name,
        figures=show_figures,
    )


def show_figures(op: Operation) -> None:
    """Print what each backup step measured: the backup's size, time and rate, or its test."""
    out = console()
    for step in op.steps:
        o = step.output or {}
        if "backup_id" not in o:
            continue
        size, seconds = int(_number(o.get("size_bytes"))), _number(o.get("duration_s"))
        rate = size / seconds if seconds > 0 else 0.0
        if o.get("passed"):
            listed = o.get("checks")
            checks = [c for c in listed if isinstance(c, str)] if isinstance(listed, list) else []
            out.print(
                f"{o['backup_id']}: recovery test passed in {seconds:.2f} s ({_bytes(size)}, "
                f"{_number(o.get('rows')):.0f} rows): {'; '.join(checks)}"
            )
        elif "files_checked" in o:
            out.print(
                f"{o['backup_id']}: {o['files_checked']} files, "
                f"{_bytes(int(_number(o.get('bytes_checked'))))} match their sha256"
            )
        else:
            out.print(
                f"{o['backup_id']}: {_bytes(size)} in {seconds:.2f} s ({_bytes(int(rate))}/s)"
                + (f", {o['tables']} tables, {o['rows']} rows" if "tables" in o else "")
                + f"; checksum {o.get('checksum')}"
            )


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


@app.command("verify")
def verify(
    backup_id: BackupIdArg, wait: Wait = False, as_json: JsonFlag = False, as_name: AsName = None
) -> None:
    """Check every file of a backup against its manifest's sha256 (a governed operation)."""
    _check("backup.verify", backup_id, wait=wait, as_json=as_json, as_name=as_name)


@app.command("test-restore")
def test_restore(
    backup_id: BackupIdArg, wait: Wait = False, as_json: JsonFlag = False, as_name: AsName = None
) -> None:
    """Restore a backup into a scratch database, validate it, clean up; a pass is a ledger fact.

    ID ``latest`` is the newest backup not yet tested (else the newest), chosen when it runs.
    """
    _check("backup.test_restore", backup_id, wait=wait, as_json=as_json, as_name=as_name)


@app.command("restore")
def restore(
    backup_id: BackupIdArg,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="TARGET",
            help="The configured database target whose data the backup replaces (not triad).",
        ),
    ],
    dry_run: DryRun = False,
    wait: Wait = False,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Restore a backup over a database target: a safety backup first, then the restore.

    Critical: it runs once a legislator and a crown holder (neither of them you) approve
    its plan (triad ops approve); the judiciary then compares the rows with the manifest.
    """
    identity = local_identity(as_name)
    request = restore_request(
        backup_id=backup_id, target=to, requested_by=identity.name, authority=Authority.EXECUTIVE
    )
    deliver(
        request, remote(), identity, dry_run=dry_run, wait=wait, as_json=as_json, as_name=as_name
    )


@app.command("prune")
def prune(
    older_than_days: Annotated[
        int | None,
        typer.Option(min=1, max=36_500, help="Retention in days (default: each type's keep_days)."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--type", help="Only backups of this type (default: all).")
    ] = None,
    dry_run: DryRun = False,
    wait: Wait = False,
    as_json: JsonFlag = False,
    as_name: AsName = None,
) -> None:
    """Delete backups past their type's retention; never a type's newest verified, nor newest."""
    identity = local_identity(as_name)
    request = prune_request(
        older_than_days=older_than_days,
        type_=known_type(kind, "--type"),
        requested_by=identity.name,
        authority=Authority.EXECUTIVE,
    )
    deliver(
        request, remote(), identity, dry_run=dry_run, wait=wait, as_json=as_json, as_name=as_name
    )


@app.command("list")
def list_(
    kind: Annotated[str | None, typer.Option("--type", help="Only backups of this type.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the backups, newest first: size, duration, rate, rows, last passed recovery test."""
    type_ = known_type(kind, "--type")
    client = remote()
    if client is not None:
        with closing(client):
            path = "/backups" if type_ is None else f"/backups?type={type_}"
            answer = client.call("GET", path)
        found = [Backup.model_validate(item) for item in answer]
    else:

        async def work(rt: Runtime) -> list[Backup]:
            async with rt.session(read_only=True) as session:
                return await models.list_backups(session, rt.settings.backup_folder, type_=type_)

        found = run(work)
    if as_json:
        emit_json(found)
        return
    table = Table(title="backups, newest first", title_justify="left")
    for column in (
        "id",
        "type",
        "source",
        "created",
        "size",
        "duration",
        "rate",
        "rows",
        "tested",
    ):
        table.add_column(column, overflow="fold")
    for b in found:
        table.add_row(
            b.id,
            b.type,
            b.source,
            _when(b.created_at),
            _bytes(b.size_bytes),
            f"{b.duration_s:.2f} s",
            f"{_bytes(int(b.rate_bytes_per_s))}/s",
            _contents(b),
            _when(b.restore_test.tested_at) if b.restore_test else "never",
        )
    console().print(table)


@app.command("show")
def show(backup_id: BackupIdArg, as_json: JsonFlag = False) -> None:
    """Show one backup: its manifest, each file's sha256, row counts, its recovery test."""
    client = remote()
    if client is not None:
        with closing(client):
            found = Backup.model_validate(client.call("GET", f"/backups/{backup_id}"))
    else:

        async def work(rt: Runtime) -> Backup:
            async with rt.session(read_only=True) as session:
                return await models.show_backup(session, rt.settings.backup_folder, backup_id)

        found = run(work)
    if as_json:
        emit_json(found)
    else:
        render(found)


def render(b: Backup) -> None:
    """Print a backup: its line, its figures, its files and its tables' rows."""
    out = console()
    m = b.manifest
    kind = ", ".join(x for x in (b.type, m.dialect, m.format) if x)
    out.print(f"backup {b.id} of {b.source} ({kind}), operation {b.operation_id}")
    out.print(
        f"started {_when(m.started_at)}, {b.duration_s:.2f} s, {_bytes(b.size_bytes)} "
        f"at {_bytes(int(b.rate_bytes_per_s))}/s; checksum {b.checksum}"
    )
    tested = b.restore_test
    out.print(
        f"recovery test passed {_when(tested.tested_at)} (operation {tested.operation_id})"
        if tested
        else "recovery test: none passed yet (triad backup test-restore ID)"
    )
    out.print("tools: " + ", ".join(f"{k} {v}" for k, v in sorted(m.tools.items())))
    out.print(f"folder: {b.folder}")
    files = Table(title="files", title_justify="left")
    for column in ("name", "size", "sha256"):
        files.add_column(column, overflow="fold")
    for f in m.files:
        files.add_row(f.name, _bytes(f.size_bytes), f.sha256)
    out.print(files)
    if m.members is not None:
        members = Table(title="archive members", title_justify="left")
        for column in ("name", "size", "mode", "sha256"):
            members.add_column(column, overflow="fold")
        for a in m.members:
            members.add_row(a.name, _bytes(a.size_bytes), f"{a.mode:o}", a.sha256)
        out.print(members)
    for s in m.skipped or []:
        out.print(f"left out: {s.path}: {s.reason}")
    if m.command is not None:
        c = m.command
        out.print(f"command {c.command}: exit {c.exit_code} in {c.duration_s:.2f} s: {c.argv}")
    if not m.row_counts:
        return
    rows = Table(title="rows per table", title_justify="left")
    rows.add_column("table")
    rows.add_column("rows", justify="right")
    for name, count in sorted(m.row_counts.items()):
        rows.add_row(name, str(count))
    out.print(rows)


def _contents(b: Backup) -> str:
    if b.manifest.members is not None and b.type != "system_state":
        return f"{len(b.manifest.members)} files"
    return str(sum(b.manifest.row_counts.values()))


def _when(at: datetime) -> str:
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
