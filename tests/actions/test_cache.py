from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from triadops.actions.base import ActionContext
from triadops.actions.cache import CleanupCacheAction, CleanupParams
from triadops.domain.errors import InvalidRequest


def put(path: Path, size: int, age_s: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"c" * size)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


@pytest.fixture
def cache(file_context: ActionContext) -> Path:
    folder = file_context.settings.cache_dir
    put(folder / "old.bin", 100, age_s=7200)
    put(folder / "sub" / "older.bin", 50, age_s=90000)
    put(folder / "fresh.bin", 70, age_s=10)
    put(folder / "sub" / "fresh.bin", 30, age_s=60)
    return folder


async def test_deletes_only_files_older_than_the_limit(
    file_context: ActionContext, cache: Path
) -> None:
    output = await CleanupCacheAction().run(file_context, CleanupParams(max_age_s=3600))
    assert output == {"folder": str(cache.resolve()), "deleted_files": 2, "freed_bytes": 150}
    assert files(cache) == ["fresh.bin", "sub/fresh.bin"]
    again = await CleanupCacheAction().run(file_context, CleanupParams(max_age_s=3600))
    assert again["deleted_files"] == 0


async def test_default_age_is_a_day(file_context: ActionContext, cache: Path) -> None:
    output = await CleanupCacheAction().run(file_context, CleanupParams())
    assert output["deleted_files"] == 1
    assert "sub/older.bin" not in files(cache)


async def test_preview_counts_and_changes_nothing(file_context: ActionContext, cache: Path) -> None:
    before = files(cache)
    preview = await CleanupCacheAction().preview(file_context, CleanupParams(max_age_s=3600))
    assert preview.amounts == {"files": 2, "bytes": 150}
    assert files(cache) == before


async def test_symlinks_are_removed_not_followed(
    file_context: ActionContext, cache: Path, tmp_path: Path
) -> None:
    outside = put(tmp_path / "outside" / "precious.bin", 10, age_s=90000)
    (cache / "to-file").symlink_to(outside)
    (cache / "to-folder").symlink_to(outside.parent)
    for link in (cache / "to-file", cache / "to-folder"):
        os.utime(link, (time.time() - 90000,) * 2, follow_symlinks=False)
    await CleanupCacheAction().run(file_context, CleanupParams(max_age_s=3600))
    assert outside.exists()
    assert not (cache / "to-file").is_symlink()


async def test_refuses_folders_that_are_not_configured(
    file_context: ActionContext, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    put(elsewhere / "old.bin", 10, age_s=90000)
    with pytest.raises(InvalidRequest, match=r"cache folder .* is not allowed \(allowed: "):
        await CleanupCacheAction().run(file_context, CleanupParams(path=str(elsewhere)))
    assert files(elsewhere) == ["old.bin"]


async def test_cleans_a_configured_extra_folder_and_creates_its_own(
    file_context: ActionContext, tmp_path: Path
) -> None:
    extra = tmp_path / "models-cache"
    put(extra / "old.bin", 10, age_s=90000)
    ctx = replace(
        file_context, settings=file_context.settings.model_copy(update={"cache_dirs": [extra]})
    )
    output = await CleanupCacheAction().run(ctx, CleanupParams(path=str(extra)))
    assert output["deleted_files"] == 1
    assert not file_context.settings.cache_dir.exists()
    await CleanupCacheAction().run(ctx, CleanupParams())
    assert file_context.settings.cache_dir.is_dir()
