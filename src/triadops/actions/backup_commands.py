"""``backup.command``: a backup taken by a declared command (pgBackRest, Barman), recorded.

Teams that already run a backup tool keep it; triad runs it as governed work and keeps
the proof. ``[[backups.commands]]`` names the declared commands (``[commands.<name>]``)
that back up, verify and recovery-test. The backup command runs with ``TRIAD_BACKUP_DIR``
set to the store's partial folder: whatever it writes there (a manifest of its own, a
``pgbackrest info --output=json``) is kept with the backup, each file's sha256 in the
manifest, and goes through the store like any backup. With nothing written, only the
command's exit, duration and output's end are recorded. Verify and the recovery test run
the declared commands with ``TRIAD_BACKUP_DIR`` holding those files and
``TRIAD_BACKUP_ID`` naming the backup; a passed recovery test is the same ledger fact as a
database's (``backup.test_restore`` dispatches here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from triadops.actions.backup_alerts import BACKUP_FAILED, first_line, report_outcome
from triadops.actions.backup_files import describe
from triadops.actions.backup_store import backup_store, stored
from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.commands.action import command_action
from triadops.actions.commands.invocation import Completed, Runner
from triadops.actions.commands.local import LocalRunner
from triadops.domain.backups import BackupManifest, CommandRun
from triadops.domain.enums import Risk
from triadops.domain.errors import ActionFailed, NotFound
from triadops.domain.operations import StepPreview, utcnow
from triadops.domain.parameters import NAME
from triadops.settings import Settings
from triadops.settings.backups import CommandBackup
from triadops.storage.backups import backup_ids
from triadops.storage.targets import OWN_DATABASE

TAIL = 1000
"""Characters of the end of stdout and stderr kept in the manifest and quoted in errors."""


class CommandBackupParams(BaseModel):
    """Which declared backup command to run."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = Field(pattern=NAME)
    """A ``[[backups.commands]]`` entry's name."""


def declared(settings: Settings, name: str) -> CommandBackup:
    """The backup command entry `name`, or NotFound naming the declared ones."""
    entry = settings.backups.command(name)
    if entry is None:
        known = ", ".join(c.name for c in settings.backups.commands) or "none"
        raise NotFound(f"no backup command {name!r} (backups.commands: {known})")
    return entry


def _tail(done: Completed) -> str:
    text = "\n".join(t.strip() for t in (done.stdout, done.stderr) if t.strip())
    return text[-TAIL:]


async def run_declared(
    settings: Settings, command: str, env: dict[str, str], runner: Runner
) -> tuple[Completed, list[str]]:
    """Run the declared command `command` here with `env` added; fail naming how it ended."""
    action = command_action(command, settings.commands[command], runner)
    invocation = action.invocation(action.spec.argv, action.parse({}))
    invocation = dataclasses.replace(invocation, env={**invocation.env, **env})
    done = await runner.run(invocation)
    argv = [invocation.mask(a) for a in invocation.argv]
    if done.timed_out:
        raise ActionFailed(
            f"{command} timed out after {action.spec.timeout_s:g} s: {argv}; {_tail(done)}"
        )
    if done.exit_code not in action.spec.success_codes:
        raise ActionFailed(f"{command} exited with {done.exit_code}: {argv}; {_tail(done)}")
    return done, argv


def _written(folder: Path) -> list[str]:
    """The files a command wrote under `folder`, relative; refuse anything but files."""
    names = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise ActionFailed(f"{path.relative_to(folder)}: only files may be kept, not links")
        if path.is_file():
            names.append(path.relative_to(folder).as_posix())
    return names


class CommandBackupAction(Action[CommandBackupParams]):
    """Run a declared backup command; keep what it wrote and how it ran."""

    name: ClassVar[str] = "backup.command"
    description: ClassVar[str] = (
        "Back up with a declared command (backups.commands: pgBackRest, Barman): keep the "
        "files it writes into TRIAD_BACKUP_DIR with their sha256, its exit and output"
    )
    params_model: ClassVar[type[BaseModel]] = CommandBackupParams
    risk: ClassVar[Risk] = Risk.LOW
    """Only a command the settings declare as a backup tool runs, with no parameter."""
    reversible: ClassVar[bool] = True
    """The backup it takes is kept, not undone."""
    idempotent: ClassVar[bool] = True
    """A resumed step takes a new backup and replaces the row the first attempt stored."""
    timeout_s: ClassVar[float] = 86_400.0
    """Above the declared command's own timeout, which bounds it."""

    def __init__(self, runner: Runner | None = None) -> None:
        self.runner: Runner = runner or LocalRunner()

    async def preview(self, ctx: ActionContext, params: CommandBackupParams) -> StepPreview:
        """Name the declared command and where its files go."""
        entry = declared(ctx.settings, params.name)
        spec = ctx.settings.commands[entry.backup]
        where = backup_store(ctx.settings).where
        return StepPreview(
            summary=(
                f"back up {entry.name} with the declared command {entry.backup} "
                f"({spec.argv[0]}, timeout {spec.timeout_s:g} s); keep its files in {where}"
            ),
            touches=[where, "triad.backups"],
        )

    async def run(self, ctx: ActionContext, params: CommandBackupParams) -> Output:
        """Back up; a failure fires ``TriadBackupFailed`` for the command, a success resolves it."""
        type_ = f"command:{params.name}"
        try:
            output = await self._backup(ctx, declared(ctx.settings, params.name))
        except Exception as exc:
            await report_outcome(
                ctx,
                BACKUP_FAILED,
                type_=type_,
                failure=f"backup by {params.name} failed: {first_line(exc)}",
                about={"source": params.name},
            )
            raise
        alerts = await report_outcome(ctx, BACKUP_FAILED, type_=type_, failure=None, about={})
        return output | {"alerts": alerts}

    async def _backup(self, ctx: ActionContext, entry: CommandBackup) -> Output:
        store = backup_store(ctx.settings)
        await store.prepare(await backup_ids(ctx.databases.get(OWN_DATABASE)))
        started = utcnow()
        clock = time.perf_counter()
        backup_id = f"cmd-{started:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        partial = await store.start(backup_id)
        try:
            env = {"TRIAD_BACKUP_DIR": str(partial), "TRIAD_BACKUP_ID": backup_id}
            done, argv = await run_declared(ctx.settings, entry.backup, env, self.runner)
            names = await asyncio.to_thread(_written, partial)
            files = await describe(partial, names)
            manifest = BackupManifest(
                id=backup_id,
                type="command",
                source=entry.name,
                format="command",
                started_at=started,
                finished_at=utcnow(),
                duration_s=round(time.perf_counter() - clock, 3),
                size_bytes=sum(f.size_bytes for f in files),
                files=files,
                row_counts={},
                tools={"command": entry.backup},
                command=CommandRun(
                    command=entry.backup,
                    argv=argv,
                    exit_code=done.exit_code,
                    duration_s=round(done.duration_s, 3),
                    output_tail=_tail(done),
                ),
            )
            manifest = await store.publish(partial, manifest)
        except BaseException:
            await asyncio.shield(store.discard(partial))
            raise
        await stored(ctx, store, partial, manifest)
        ctx.log.info("backup stored", backup_id=backup_id, size_bytes=manifest.size_bytes)
        return {
            "backup_id": manifest.id,
            "type": "command",
            "source": entry.name,
            "checksum": manifest.checksum(),
            "folder": store.location(manifest.id),
            "size_bytes": manifest.size_bytes,
            "duration_s": manifest.duration_s,
            "files": [f.name for f in files],
            "exit_code": done.exit_code,
            "output_tail": _tail(done),
        }


async def declared_check(
    ctx: ActionContext,
    manifest: BackupManifest,
    role: str,
    runner: Runner,
    *,
    scratch: Path | None = None,
) -> list[JsonValue]:
    """Run the entry's `role` command (verify, restore_test) on the backup; say what ran.

    The backup's files are in ``TRIAD_BACKUP_DIR`` (read through the store), and a
    recovery test's scratch folder in ``TRIAD_SCRATCH_DIR``.
    """
    entry = declared(ctx.settings, manifest.source)
    command: str | None = getattr(entry, role)
    if command is None:
        return []
    store = backup_store(ctx.settings)
    async with store.readable(manifest) as folder:
        env = {"TRIAD_BACKUP_DIR": str(folder), "TRIAD_BACKUP_ID": manifest.id}
        if scratch is not None:
            env["TRIAD_SCRATCH_DIR"] = str(scratch)
        try:
            done, _ = await run_declared(ctx.settings, command, env, runner)
        except ActionFailed as exc:
            raise ActionFailed(f"{role} of {manifest.id} by {exc}") from None
    return [f"{role} by {command}: exit {done.exit_code} in {done.duration_s:.2f} s"]
