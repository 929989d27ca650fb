"""``cache.cleanup``: delete cache files older than an age limit."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.folders import allowed_folder
from triadops.domain.clock import unix_now
from triadops.domain.enums import Risk
from triadops.domain.errors import InvalidRequest
from triadops.domain.operations import StepPreview


class CleanupParams(BaseModel):
    """Which cache folder to clean and how old an entry must be to go."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_age_s: float = Field(default=86400.0, ge=0)
    """Delete files not modified for longer than this many seconds."""
    path: str | None = Field(default=None, max_length=4096)
    """A configured cache folder (``cache_dir`` or one of ``cache_dirs``); default ``cache_dir``."""


def _cache_folder(ctx: ActionContext, params: CleanupParams, *, create: bool) -> Path:
    own = ctx.settings.cache_dir
    folder = allowed_folder(params.path, own=own, extra=ctx.settings.cache_dirs, kind="cache")
    if not folder.is_dir():
        if folder != own.resolve():
            raise InvalidRequest(f"cache folder {folder} does not exist", field="path")
        if create:
            folder.mkdir(parents=True, exist_ok=True)
    return folder


def _expired(folder: Path, max_age_s: float) -> list[tuple[Path, int]]:
    """Files (and symlinks, not their targets) under `folder` older than `max_age_s`."""
    if not folder.is_dir():
        return []
    cutoff = unix_now() - max_age_s  # the process's clock, in the files' Unix seconds
    found: list[tuple[Path, int]] = []
    # os.walk does not descend into symlinked folders, so nothing outside is reached.
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root, name)
            stat = path.lstat()
            if stat.st_mtime < cutoff:
                found.append((path, stat.st_size))
    return sorted(found)


class CleanupCacheAction(Action[CleanupParams]):
    """Remove expired entries from one of triad's cache folders."""

    name: ClassVar[str] = "cache.cleanup"
    description: ClassVar[str] = "Delete cache files older than max_age_s"
    params_model: ClassVar[type[BaseModel]] = CleanupParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = False
    """Deleted entries are rebuilt on demand, not restored."""
    idempotent: ClassVar[bool] = True

    async def preview(self, ctx: ActionContext, params: CleanupParams) -> StepPreview:
        """Count the files and bytes that would be deleted now."""
        folder = _cache_folder(ctx, params, create=False)
        expired = _expired(folder, params.max_age_s)
        size = sum(n for _, n in expired)
        return StepPreview(
            summary=(
                f"delete {len(expired)} cache files ({size} bytes) in {folder}"
                f" older than {params.max_age_s:g} s"
            ),
            touches=[str(folder)],
            amounts={"files": len(expired), "bytes": size},
        )

    async def run(self, ctx: ActionContext, params: CleanupParams) -> Output:
        """Delete the expired files and report how many and how many bytes."""
        folder = _cache_folder(ctx, params, create=True)
        files = 0
        freed = 0
        for path, size in _expired(folder, params.max_age_s):
            try:
                path.unlink()
            except FileNotFoundError:
                continue  # removed by its owner meanwhile
            files += 1
            freed += size
        ctx.log.info("cache cleaned", folder=str(folder), files=files, bytes=freed)
        return {"folder": str(folder), "deleted_files": files, "freed_bytes": freed}
