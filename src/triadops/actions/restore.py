"""``backup.restore``: a database backup written over a configured database target.

The plan that runs it takes a safety backup of the target first (``backup.database``), and
the judiciary then compares the target's rows with the manifest (``restore_matches_backup``).
Critical risk: the legislature and the crown must both approve the plan, and the
executive's consent gate checks they did when the operation starts.

Refused with the reason before anything changes (at review, and again before the target is
touched): triad's own database (see ``OWN_DATABASE_REFUSAL``), a backup that is not a
database backup, one whose engine is not the target's, one from a schema newer than this
code or the target's, and one whose files fail verification. Files are read only through
``backup_store(settings).readable``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.actions.backup import BackupIdParams, raise_unless_ok, stored_manifest
from triadops.actions.backup_store import backup_store
from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.commands.local import LocalRunner
from triadops.actions.pg_tools import checked_tool, failed, run_tool
from triadops.domain.backups import BackupManifest
from triadops.domain.enums import Risk
from triadops.domain.errors import ActionFailed, InvalidRequest
from triadops.domain.operations import StepPreview
from triadops.storage import dumps, maintenance
from triadops.storage.backups import read_manifest
from triadops.storage.restores import sqlite_restore
from triadops.storage.schema_revisions import database_revision, revision_refusal
from triadops.storage.targets import OWN_DATABASE

ACTION = "backup.restore"
FORMATS = {"sqlite": "sqlite", "pg_dump_custom": "postgresql"}
"""The engine each backup format restores into."""
OWN_DATABASE_REFUSAL = (
    "triad's own database cannot be restored by an operation: the restore would replace the "
    "ledger and the operation recording it while the server runs. Stop triad, then restore "
    "the file offline (README, 'Restoring a backup')"
)


class RestoreParams(BackupIdParams):
    """Which backup to restore, and over which database."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    target: str = Field(min_length=1, max_length=100)
    """A configured database target (not ``triad``): its data is replaced by the backup's."""


def refusal(manifest: BackupManifest, target: str, engine: AsyncEngine) -> str | None:
    """Why `manifest`'s backup may not be restored over `target`, or None (no I/O)."""
    if target == OWN_DATABASE:
        return OWN_DATABASE_REFUSAL
    engine_of_backup = FORMATS.get(manifest.format)
    if engine_of_backup != engine.dialect.name:
        return (
            f"backup {manifest.id} is a {engine_of_backup} backup ({manifest.format}); "
            f"target {target} is {engine.dialect.name}"
        )
    return None


def same_database(a: AsyncEngine, b: AsyncEngine) -> bool:
    """Whether two engines open the same database (one file, or one server's database)."""
    if a.dialect.name != b.dialect.name:
        return False
    if a.dialect.name == "sqlite":
        return dumps.sqlite_file(a).resolve() == dumps.sqlite_file(b).resolve()
    ua, ub = a.url, b.url
    return (ua.host, ua.port or 5432, ua.database) == (ub.host, ub.port or 5432, ub.database)


async def refused(ctx: ActionContext, params: RestoreParams) -> BackupManifest:
    """The backup's manifest, or InvalidRequest naming why it may not replace the target."""
    if params.target == OWN_DATABASE:
        raise InvalidRequest(OWN_DATABASE_REFUSAL, field="target")
    data = await read_manifest(ctx.databases.get(OWN_DATABASE), params.backup_id)
    kind = (data or {}).get("type", "database")
    if kind != "database":  # read before the model, which may not know the type yet
        raise InvalidRequest(
            f"backup {params.backup_id} is a {kind} backup, not a database backup",
            field="backup_id",
        )
    manifest = await stored_manifest(ctx, params.backup_id)
    engine = ctx.databases.get(params.target)
    if same_database(engine, ctx.databases.get(OWN_DATABASE)):
        raise InvalidRequest(
            f"target {params.target} is triad's own database under another name: "
            + OWN_DATABASE_REFUSAL,
            field="target",
        )
    said = refusal(manifest, params.target, engine)
    if said is None:
        said = revision_refusal(manifest.schema_revision, await database_revision(engine))
        said = f"backup {manifest.id}: {said}" if said else None
    if said is not None:
        raise InvalidRequest(said, field="backup_id")
    return manifest


class RestoreAction(Action[RestoreParams]):
    """Replace a configured database's data with a backup's."""

    name: ClassVar[str] = ACTION
    description: ClassVar[str] = (
        "Restore a database backup over a configured target (SQLite: the online backup API "
        "into its file; PostgreSQL: pg_restore --clean --if-exists --single-transaction); "
        "verified first, refused for another engine or a newer schema"
    )
    params_model: ClassVar[type[BaseModel]] = RestoreParams
    risk: ClassVar[Risk] = Risk.CRITICAL
    """It replaces a live database's data: the legislature and the crown approve it."""
    reversible: ClassVar[bool] = False
    """Undone only by restoring the safety backup its plan takes first (a new operation)."""
    idempotent: ClassVar[bool] = True
    """Restoring the same backup again gives the same database."""
    interruptible: ClassVar[bool] = False
    """SQLite's copy runs in a thread and pg_restore in one transaction: it runs to its end."""
    timeout_s: ClassVar[float] = 86_400.0

    def __init__(self, runner: LocalRunner | None = None) -> None:
        self.runner = runner or LocalRunner()

    async def preview(self, ctx: ActionContext, params: RestoreParams) -> StepPreview:
        """Refuse what may not be restored; else name the backup, the target and the method."""
        manifest = await refused(ctx, params)
        present = await backup_store(ctx.settings).verify(manifest, hashes=False)
        if not present.ok:  # every file's sha256 is read when the step runs
            named = "; ".join(f"{p.name}: {p.problem}" for p in present.problems)
            raise InvalidRequest(
                f"backup {manifest.id} failed verification: {named}", field="backup_id"
            )
        how = (
            "SQLite's online backup API into its file"
            if manifest.format == "sqlite"
            else "pg_restore --clean --if-exists --single-transaction"
        )
        return StepPreview(
            summary=(
                f"restore backup {manifest.id} of {manifest.source} ({manifest.size_bytes} "
                f"bytes, {sum(manifest.row_counts.values())} rows in "
                f"{len(manifest.row_counts)} tables) over {params.target} with {how}; "
                "its data now is replaced"
            ),
            touches=[params.target, backup_store(ctx.settings).location(manifest.id)],
            amounts={"bytes": manifest.size_bytes, "tables": len(manifest.row_counts)},
        )

    async def run(self, ctx: ActionContext, params: RestoreParams) -> Output:
        """Check again, verify every file's sha256, then restore; answer the rows found."""
        try:
            manifest = await refused(ctx, params)
        except InvalidRequest as exc:
            raise ActionFailed(f"restore refused: {exc.message}") from None
        store = backup_store(ctx.settings)
        clock = time.perf_counter()
        raise_unless_ok(await store.verify(manifest))
        engine = ctx.databases.get(params.target)
        async with store.readable(manifest) as folder:
            file = folder / manifest.files[0].name
            if manifest.format == "sqlite":
                tools = await self._sqlite(ctx, engine, file)
            else:
                tools = await self._postgres(ctx, engine, file)
        counts = await maintenance.table_row_counts(engine)
        ctx.log.info("backup restored", backup_id=manifest.id, target=params.target)
        return {
            "backup_id": manifest.id,
            "checksum": manifest.checksum(),
            "target": params.target,
            "restored": True,
            "tables": len(counts),
            "rows": sum(counts.values()),
            "row_counts": dict[str, JsonValue](counts),
            "tools": dict[str, JsonValue](tools),
            "duration_s": round(time.perf_counter() - clock, 3),
        }

    async def _sqlite(self, ctx: ActionContext, engine: AsyncEngine, file: Path) -> dict[str, str]:
        target = dumps.sqlite_file(engine)
        await engine.dispose()  # no pooled connection of ours holds the file meanwhile
        try:
            version = await asyncio.wait_for(
                asyncio.to_thread(sqlite_restore, file, target),
                timeout=ctx.settings.backups.timeout_s,
            )
        except TimeoutError:
            raise ActionFailed(
                f"SQLite restore into {target} timed out after {ctx.settings.backups.timeout_s} s"
            ) from None
        return {"sqlite": version}

    async def _postgres(
        self, ctx: ActionContext, engine: AsyncEngine, file: Path
    ) -> dict[str, str]:
        version = await dumps.pg_server_version(engine)
        path, line = await checked_tool(
            self.runner, ctx.settings, "pg_restore", server_version_num=version
        )
        await engine.dispose()  # no idle connection of ours in the way of --clean's drops
        argv, env = dumps.libpq_params(engine.url)
        done = await run_tool(
            self.runner,
            [
                path,
                "--no-password",
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                f"--dbname={engine.url.database}",
                *argv,
                str(file),
            ],
            env=env,
            timeout_s=ctx.settings.backups.timeout_s,
        )
        if done.exit_code != 0:
            raise failed(done, f"pg_restore into {engine.url.database}")
        return {"pg_restore": line}
