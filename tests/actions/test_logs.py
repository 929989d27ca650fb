from __future__ import annotations

import gzip
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from triadops.actions.base import ActionContext
from triadops.actions.logs import (
    PurgeLogsAction,
    PurgeLogsParams,
    RotateLogsAction,
    RotateParams,
)
from triadops.domain.errors import InvalidRequest


def write(path: Path, size: int, fill: bytes = b"x") -> bytes:
    data = (fill * size)[:size]
    path.write_bytes(data)
    return data


def listing(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir())}


async def test_rotates_big_logs_into_gzip_and_recreates_them(file_context: ActionContext) -> None:
    folder = file_context.settings.log_dir
    folder.mkdir()
    big = write(folder / "app.log", 2000, b"line\n")
    write(folder / "small.log", 10)
    write(folder / "notes.txt", 5000)
    (folder / "empty.log").touch()

    output = await RotateLogsAction().run(file_context, RotateParams(max_bytes=1000))

    assert output["rotated_bytes"] == 2000
    [rotated] = output["rotated"]
    assert isinstance(rotated, dict)
    assert rotated["file"] == "app.log"
    archive = folder / str(rotated["archive"])
    assert archive.name.startswith("app.log.") and archive.name.endswith("Z.gz")
    assert gzip.decompress(archive.read_bytes()) == big
    assert (folder / "app.log").stat().st_size == 0
    assert (folder / "small.log").stat().st_size == 10
    assert (folder / "notes.txt").stat().st_size == 5000
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["app.log", archive.name, "small.log", "notes.txt", "empty.log"]
    )


async def test_keeps_only_the_newest_generations(file_context: ActionContext) -> None:
    folder = file_context.settings.log_dir
    folder.mkdir()
    contents = []
    for i in range(5):
        contents.append(write(folder / "app.log", 100 + i))
        await RotateLogsAction().run(file_context, RotateParams(force=True, keep=2))
    archives = sorted(folder.glob("app.log.*.gz"))
    assert [gzip.decompress(a.read_bytes()) for a in archives] == contents[-2:]


async def test_creates_its_own_folder_and_rerun_is_harmless(file_context: ActionContext) -> None:
    folder = file_context.settings.log_dir
    assert not folder.exists()
    preview = await RotateLogsAction().preview(file_context, RotateParams())
    assert preview.amounts["files"] == 0
    assert not folder.exists()
    output = await RotateLogsAction().run(file_context, RotateParams())
    assert folder.is_dir()
    assert output["rotated"] == []


async def test_finishes_a_rotation_an_interruption_left_uncompressed(
    file_context: ActionContext,
) -> None:
    folder = file_context.settings.log_dir
    folder.mkdir()
    left = write(folder / "app.log.20250101T000000000000Z", 300)
    (folder / "app.log").touch()
    await RotateLogsAction().run(file_context, RotateParams())
    assert listing(folder).keys() == {"app.log", "app.log.20250101T000000000000Z.gz"}
    archive = folder / "app.log.20250101T000000000000Z.gz"
    assert gzip.decompress(archive.read_bytes()) == left


async def test_preview_lists_files_and_bytes_and_changes_nothing(
    file_context: ActionContext,
) -> None:
    folder = file_context.settings.log_dir
    folder.mkdir()
    write(folder / "a.log", 3000)
    write(folder / "b.log", 2000)
    write(folder / "c.log", 10)
    before = listing(folder)
    preview = await RotateLogsAction().preview(file_context, RotateParams(max_bytes=1000))
    assert preview.amounts == {"files": 2, "bytes": 5000, "generations_deleted": 0}
    assert preview.touches == [str(folder.resolve() / "a.log"), str(folder.resolve() / "b.log")]
    assert "a.log, b.log" in preview.summary
    assert listing(folder) == before


async def test_refuses_folders_that_are_not_configured(
    file_context: ActionContext, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(elsewhere / "x.log", 5000)
    link = file_context.settings.home / "sneaky"
    link.symlink_to(elsewhere)
    for path in (elsewhere, link, file_context.settings.home, Path("/var/log")):
        with pytest.raises(InvalidRequest, match=r"is not allowed \(allowed: .*/home/logs\)"):
            await RotateLogsAction().run(file_context, RotateParams(path=str(path), force=True))
    assert listing(elsewhere) == {"x.log": 5000}


async def test_rotates_a_configured_extra_folder(
    file_context: ActionContext, tmp_path: Path
) -> None:
    extra = tmp_path / "service-logs"
    extra.mkdir()
    write(extra / "svc.log", 50)
    settings = file_context.settings.model_copy(update={"log_dirs": [extra]})
    ctx = replace(file_context, settings=settings)
    output = await RotateLogsAction().run(ctx, RotateParams(path=str(extra), force=True))
    assert output["folder"] == str(extra.resolve())
    assert output["rotated_bytes"] == 50
    with pytest.raises(InvalidRequest, match="does not exist"):
        missing = tmp_path / "gone"
        ctx2 = replace(ctx, settings=settings.model_copy(update={"log_dirs": [missing]}))
        await RotateLogsAction().run(ctx2, RotateParams(path=str(missing)))
    files = listing(extra)
    assert files["svc.log"] == 0  # recreated empty
    [archive] = [name for name in files if name != "svc.log"]
    assert archive.startswith("svc.log.") and archive.endswith("Z.gz")


async def test_removes_rotated_logs_older_than_max_age_and_keeps_young_ones(
    file_context: ActionContext,
) -> None:
    folder = file_context.settings.log_dir
    folder.mkdir()
    day = 86400.0
    now = time.time()
    ages = {
        "app.log.20250101T020000000000Z.gz": 8,  # ours, old
        "app.log.1": 30,  # logrotate's, old
        "worker.log.2.gz": 7.1,
        "app.log.20250110T020000000000Z.gz": 6.9,  # young: kept
        "app.log": 40,  # live, however old: kept
        "notes.txt": 40,  # not a log: kept
    }
    for name, days in ages.items():
        write(folder / name, 100)
        os.utime(folder / name, (now - days * day, now - days * day))
    params = PurgeLogsParams(older_than_days=7)

    preview = await PurgeLogsAction().preview(file_context, params)
    assert preview.amounts["files"] == 3
    assert len(listing(folder)) == len(ages)  # a preview deletes nothing
    output = await PurgeLogsAction().run(file_context, params)

    old = ["app.log.1", "app.log.20250101T020000000000Z.gz", "worker.log.2.gz"]
    assert output["deleted"] == old
    assert sorted(listing(folder)) == sorted(set(ages) - set(old))
    again = await PurgeLogsAction().run(file_context, params)
    assert again["deleted"] == []


async def test_rotation_alone_never_deletes_by_age(file_context: ActionContext) -> None:
    folder = file_context.settings.log_dir
    folder.mkdir()
    write(folder / "app.log.1", 100)
    os.utime(folder / "app.log.1", (0, 0))
    await RotateLogsAction().run(file_context, RotateParams())
    assert (folder / "app.log.1").exists()


async def test_purge_refuses_folders_that_are_not_configured(file_context: ActionContext) -> None:
    with pytest.raises(InvalidRequest):
        await PurgeLogsAction().run(file_context, PurgeLogsParams(path="/etc"))


async def test_never_moves_triads_own_branch_logs_whose_writer_rotates_them(
    file_context: ActionContext,
) -> None:
    folder = file_context.settings.log_dir
    folder.mkdir()
    own = write(folder / "executive.log", 2000, b"line\n")
    write(folder / "app.log", 2000, b"line\n")

    output = await RotateLogsAction().run(file_context, RotateParams(max_bytes=1000, force=True))

    assert [r["file"] for r in output["rotated"] if isinstance(r, dict)] == ["app.log"]
    assert (folder / "executive.log").read_bytes() == own
    assert not list(folder.glob("executive.log.*"))
