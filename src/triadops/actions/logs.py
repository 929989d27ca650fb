"""Log folder upkeep: ``logs.rotate`` (by size, gzip, generations), ``logs.purge`` (by age)."""

from __future__ import annotations

import gzip
import os
import re
import shutil
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.folders import allowed_folder
from triadops.domain.clock import unix_now
from triadops.domain.enums import Risk
from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import StepPreview, utcnow
from triadops.logfiles import BRANCHES

# name.log.20250101T020000123456Z[.gz]: sortable by name, unique to the microsecond.
_GENERATION = re.compile(r"^(?P<log>.+\.log)\.(?P<stamp>\d{8}T\d{12}Z)(?P<gz>\.gz)?$")
# Any rotated log: ours, logrotate's (app.log.1, app.log.2.gz), Python's handlers'.
_ROTATED = re.compile(r"^.+\.log\..+$")


class RotateParams(BaseModel):
    """Which log folder to rotate and how much to keep."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    path: str | None = Field(default=None, max_length=4096)
    """A configured log folder (``log_dir`` or one of ``log_dirs``); default ``log_dir``."""
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    """Rotate ``*.log`` files larger than this many bytes."""
    keep: int = Field(default=7, ge=1, le=1000)
    """Compressed generations to keep per log file; older ones are deleted."""
    force: bool = False
    """Rotate every non-empty ``*.log`` file, whatever its size."""


class PurgeLogsParams(BaseModel):
    """Which log folder to purge, and from what age."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    path: str | None = Field(default=None, max_length=4096)
    """A configured log folder (``log_dir`` or one of ``log_dirs``); default ``log_dir``."""
    older_than_days: int = Field(default=7, ge=1, le=36500)
    """Delete rotated log files not modified for more than this many days."""


def _log_folder(
    ctx: ActionContext, params: RotateParams | PurgeLogsParams, *, create: bool
) -> Path:
    own = ctx.settings.log_dir
    folder = allowed_folder(params.path, own=own, extra=ctx.settings.log_dirs, kind="log")
    if not folder.is_dir():
        if folder != own.resolve():
            raise InvalidRequest(f"log folder {folder} does not exist", field="path")
        if create:
            folder.mkdir(parents=True, exist_ok=True)
    return folder


def _due(folder: Path, params: RotateParams, own: frozenset[Path]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.glob("*.log")
        if p.resolve() not in own
        and p.is_file()
        and not p.is_symlink()
        and (size := p.stat().st_size) > 0
        and (params.force or size > params.max_bytes)
    )


def _own_streams(ctx: ActionContext) -> frozenset[Path]:
    """Triad's per-branch log files: their writer rotates them itself, never moved under it."""
    if not ctx.settings.logs.files:
        return frozenset()
    return frozenset((ctx.settings.log_dir / f"{b}.log").resolve() for b in BRANCHES)


def _generations(folder: Path) -> dict[str, list[Path]]:
    """Compressed generations by the log file they came from, oldest first."""
    found: dict[str, list[Path]] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if (m := _GENERATION.match(path.name)) and m["gz"]:
                found.setdefault(m["log"], []).append(path)
    return found


def _compress(path: Path) -> Path:
    """Gzip `path` beside itself and remove it; a crash leaves the original or a whole .gz."""
    archive = path.with_name(path.name + ".gz")
    partial = path.with_name(path.name + ".gz.partial")
    with path.open("rb") as source, gzip.open(partial, "wb") as target:
        shutil.copyfileobj(source, target)
    os.replace(partial, archive)
    path.unlink()
    return archive


class RotateLogsAction(Action[RotateParams]):
    """Rotate ``*.log`` files over a size limit, compress them, prune old generations."""

    name: ClassVar[str] = "logs.rotate"
    description: ClassVar[str] = "Rotate and gzip log files over max_bytes; keep `keep` generations"
    params_model: ClassVar[type[BaseModel]] = RotateParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = False
    """Pruned generations are deleted; rotated ones stay beside the log until pruned."""
    idempotent: ClassVar[bool] = True
    """Running again only rotates what is still over the limit and finishes half-done gzips."""

    async def preview(self, ctx: ActionContext, params: RotateParams) -> StepPreview:
        """List the files that would be rotated and their bytes."""
        folder = _log_folder(ctx, params, create=False)
        due = _due(folder, params, _own_streams(ctx))
        total = sum(p.stat().st_size for p in due)
        counts = {log: len(gens) for log, gens in _generations(folder).items()}
        for p in due:
            counts[p.name] = counts.get(p.name, 0) + 1
        pruned = sum(max(0, n - params.keep) for n in counts.values())
        names = ", ".join(p.name for p in due) or "nothing"
        return StepPreview(
            summary=(
                f"rotate {len(due)} log files in {folder} ({total} bytes): {names};"
                f" delete {pruned} old generations beyond {params.keep}"
            ),
            touches=[str(p) for p in due],
            amounts={"files": len(due), "bytes": total, "generations_deleted": pruned},
        )

    async def run(self, ctx: ActionContext, params: RotateParams) -> Output:
        """Rotate, compress and prune; report each file and the bytes moved."""
        folder = _log_folder(ctx, params, create=True)
        # Finish rotations an interrupted run left uncompressed.
        for leftover in sorted(folder.iterdir()):
            if (m := _GENERATION.match(leftover.name)) and not m["gz"]:
                _compress(leftover)
        rotated: list[JsonValue] = []
        total = 0
        for log in _due(folder, params, _own_streams(ctx)):
            stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
            size = log.stat().st_size
            mode = log.stat().st_mode
            moved = log.with_name(f"{log.name}.{stamp}")
            os.replace(log, moved)
            log.touch(mode=mode & 0o777)
            archive = _compress(moved)
            rotated.append({"file": log.name, "bytes": size, "archive": archive.name})
            total += size
        deleted: list[JsonValue] = []
        for generations in _generations(folder).values():
            for old in generations[: max(0, len(generations) - params.keep)]:
                old.unlink()
                deleted.append(old.name)
        ctx.log.info("logs rotated", folder=str(folder), files=len(rotated), bytes=total)
        return {
            "folder": str(folder),
            "rotated": rotated,
            "rotated_bytes": total,
            "deleted_generations": deleted,
        }


def _aged(folder: Path, days: int) -> list[Path]:
    """Rotated log files in `folder` last modified more than `days` days ago.

    Never a live ``*.log`` file, however old: a process may still be writing to it.
    """
    if not folder.is_dir():
        return []
    cutoff = unix_now() - days * 86400  # the files' Unix seconds
    return sorted(
        p
        for p in folder.iterdir()
        if _ROTATED.match(p.name)
        and not p.name.endswith(".partial")
        and p.is_file()
        and not p.is_symlink()
        and p.stat().st_mtime < cutoff
    )


class PurgeLogsAction(Action[PurgeLogsParams]):
    """Delete rotated log files older than an age; live ``*.log`` files stay."""

    name: ClassVar[str] = "logs.purge"
    description: ClassVar[str] = "Delete rotated log files (name.log.*) older than older_than_days"
    params_model: ClassVar[type[BaseModel]] = PurgeLogsParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = False
    """Deleted files are gone; a logs backup is the way back."""
    idempotent: ClassVar[bool] = True

    async def preview(self, ctx: ActionContext, params: PurgeLogsParams) -> StepPreview:
        """List the files that would be deleted now and their bytes."""
        folder = _log_folder(ctx, params, create=False)
        aged = _aged(folder, params.older_than_days)
        size = sum(p.stat().st_size for p in aged)
        return StepPreview(
            summary=(
                f"delete {len(aged)} rotated log files in {folder} ({size} bytes)"
                f" older than {params.older_than_days} days"
            ),
            touches=[str(p) for p in aged],
            amounts={"files": len(aged), "bytes": size},
        )

    async def run(self, ctx: ActionContext, params: PurgeLogsParams) -> Output:
        """Delete the old rotated files; report their names and bytes."""
        folder = _log_folder(ctx, params, create=True)
        deleted: list[JsonValue] = []
        freed = 0
        for old in _aged(folder, params.older_than_days):
            size = old.stat().st_size
            old.unlink(missing_ok=True)
            deleted.append(old.name)
            freed += size
        ctx.log.info("old logs purged", folder=str(folder), files=len(deleted), bytes=freed)
        return {"folder": str(folder), "deleted": deleted, "freed_bytes": freed}
