"""Archive backups on real files: safe extraction, members compared, paths and links judged.

The attacker's archives are crafted here with tarfile and zstandard themselves: a member
named ``../`` out of the scratch folder, an absolute one, a link out of it; each is refused
naming the member, and nothing lands outside the scratch folder. A member whose bytes were
changed inside a re-packed archive fails the comparison naming it.
"""

from __future__ import annotations

import io
import json
import os
import re
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zstandard
from sqlalchemy import func, select

from tests.fixtures.pipeline import request, submit
from triadops.actions.backup_archive import archive_files
from triadops.actions.backup_paths import collect
from triadops.domain.backups import ArchiveMember, BackupFile, BackupManifest
from triadops.domain.errors import ActionFailed
from triadops.ops.backup.archives import check_exports, compare_archive
from triadops.runtime import Runtime
from triadops.storage.state_export import TABLES, export_state, read_snapshot
from triadops.storage.tables import LedgerRow
from triadops.storage.targets import OWN_DATABASE

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def crafted(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """A zstandard tar archive holding exactly `members`, as an attacker would write it."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    path.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return path


def manifest_of(members: list[ArchiveMember]) -> BackupManifest:
    return BackupManifest(
        id="cfg-test",
        type="configurations",
        source="triad",
        format="tar_zst",
        started_at=NOW,
        finished_at=NOW,
        duration_s=0.0,
        size_bytes=0,
        files=[BackupFile(name="configurations.tar.zst", size_bytes=0, sha256="0" * 64)],
        row_counts={},
        tools={},
        members=members,
    )


def file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize(
    ("member", "refused"),
    [
        ((file("../escaped.txt"), b"out"), "../escaped.txt"),
        ((file("etc/../../escaped.txt"), b"out"), "etc/../../escaped.txt"),
        ((file("/tmp/absolute.txt"), b"out"), "/tmp/absolute.txt"),
        ((link("up", "../../escaped.txt"), b""), "up"),
        ((link("abs", "/etc/passwd"), b""), "abs"),
        ((link("hard", "/etc/passwd", tarfile.LNKTYPE), b""), "hard"),
    ],
)
def test_a_member_out_of_the_scratch_folder_is_refused_naming_it(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes], refused: str
) -> None:
    archive = crafted(tmp_path / "evil.tar.zst", [(file("ok.txt"), b"fine"), member])
    scratch = tmp_path / "a" / "b" / "scratch"
    scratch.mkdir(parents=True)
    before = sorted(p for p in tmp_path.rglob("*") if not p.is_relative_to(scratch))
    with pytest.raises(ActionFailed, match=re.escape(f"member '{refused}' refused")):
        compare_archive(archive, scratch, manifest_of([]))
    after = sorted(p for p in tmp_path.rglob("*") if not p.is_relative_to(scratch))
    assert after == before  # nothing written outside the scratch folder
    assert not Path("/tmp/absolute.txt").exists()


def sources(root: Path) -> list[ArchiveMember]:
    (root / "a.conf").write_text("a = 1\n")
    (root / "b.conf").write_text("b = 2\n")
    found, skipped = collect([str(root)], exclude=[], leave_out=[], required=True)
    assert skipped == []
    members, _ = archive_files(root.parent / "good.tar.zst", found, level=3, fail_unreadable=True)
    return members


def test_a_tampered_member_in_a_repacked_archive_is_named(tmp_path: Path) -> None:
    root = tmp_path / "conf"
    root.mkdir()
    members = sources(root)
    good = tmp_path / "good.tar.zst"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert compare_archive(good, scratch, manifest_of(members)) == 2

    names = [m.name for m in members]
    repacked = crafted(
        tmp_path / "repacked.tar.zst",
        [(file(names[0]), b"a = 1\n"), (file(names[1]), b"b = 3\n"), (file("extra"), b"x")],
    )
    again = tmp_path / "again"
    again.mkdir()
    with pytest.raises(ActionFailed) as failed:
        compare_archive(repacked, again, manifest_of(members))
    said = str(failed.value)
    assert f"{names[1]}: sha256 " in said and "extra: in the archive, not in the manifest" in said
    assert names[0] not in said

    short = crafted(tmp_path / "short.tar.zst", [(file(names[0]), b"a = 1\n")])
    third = tmp_path / "third"
    third.mkdir()
    with pytest.raises(ActionFailed, match=re.escape(f"{names[1]}: missing from the archive")):
        compare_archive(short, third, manifest_of(members))


def test_garbage_is_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.zst"
    junk.write_bytes(os.urandom(2048))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(
        ActionFailed, match=re.escape("junk.tar.zst: not a readable zstandard tar archive")
    ):
        compare_archive(junk, scratch, manifest_of([]))


def test_links_are_followed_only_inside_the_configured_paths(tmp_path: Path) -> None:
    root = tmp_path / "conf"
    (root / "deep").mkdir(parents=True)
    (root / "a.conf").write_text("a")
    (tmp_path / "outside.key").write_text("secret")
    (root / "in").symlink_to(root / "a.conf")
    (root / "out").symlink_to(tmp_path / "outside.key")
    (root / "loop").symlink_to(root)
    (root / "deep" / "excluded.tmp").write_text("x")
    backups = root / "backups"
    backups.mkdir()
    (backups / "old.tar.zst").write_text("never archived")
    found, skipped = collect([str(root)], exclude=["*.tmp"], leave_out=[backups], required=True)
    assert [s.name for s in found] == [
        f"{str(root).lstrip('/')}/a.conf",
        f"{str(root).lstrip('/')}/in",
    ]
    assert found[1].read == root / "a.conf"
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons["out"].startswith("a link out of the configured paths")
    assert reasons["loop"] == "a link to a folder: not followed"
    assert set(reasons) == {"out", "loop"}


def test_an_unreadable_file_is_skipped_or_fails_as_configured(tmp_path: Path) -> None:
    root = tmp_path / "conf"
    root.mkdir()
    (root / "a.conf").write_text("a")
    gone = root / "b.conf"
    gone.write_text("b")
    found, _ = collect([str(root)], exclude=[], leave_out=[], required=True)
    gone.unlink()  # vanished between the listing and the read (a rotated log)
    members, skipped = archive_files(tmp_path / "x.tar.zst", found, level=3, fail_unreadable=False)
    assert [m.path for m in members] == [str(root / "a.conf")]
    assert [(s.path, s.reason) for s in skipped] == [(str(gone), "No such file or directory")]
    with pytest.raises(ActionFailed, match=re.escape(f"{gone}: cannot be read")):
        archive_files(tmp_path / "y.tar.zst", found, level=3, fail_unreadable=True)


def test_every_state_table_is_exported() -> None:
    assert set(TABLES) == {
        "alerts",
        "approvals",
        "health_reports",
        "ledger",
        "ledger_head",
        "operations",
        "silences",
        "steps",
    }


async def test_a_broken_exported_ledger_or_a_lost_row_fails_the_state_checks(
    runtime: Runtime, tmp_path: Path
) -> None:
    for _ in range(2):
        await submit(runtime, request())
    folder = tmp_path / "exports"
    folder.mkdir()
    counts = await export_state(runtime.databases.get(OWN_DATABASE), folder)
    assert counts["ledger"] > 4 and counts["operations"] == 2 and counts["ledger_head"] == 1
    manifest = manifest_of([]).model_copy(update={"type": "system_state", "row_counts": counts})
    found, chain = check_exports(folder, manifest)
    assert (
        found == counts and chain == f"ledger hash chain: {counts['ledger']} entries up to its head"
    )

    ledger = folder / "ledger.jsonl"
    lines = ledger.read_bytes().splitlines(keepends=True)
    edited = json.loads(lines[2])
    edited["actor"] = "mallory"
    ledger.write_bytes(b"".join([*lines[:2], json.dumps(edited).encode() + b"\n", *lines[3:]]))
    with pytest.raises(ActionFailed, match=r"breaks at entry 3: its content does not match"):
        check_exports(folder, manifest)

    ledger.write_bytes(b"".join(lines[:-1]))  # the newest entry lost: the head says more
    short = manifest.model_copy(update={"row_counts": counts | {"ledger": counts["ledger"] - 1}})
    with pytest.raises(ActionFailed, match=r"\(truncated\)"):
        check_exports(folder, short)
    with pytest.raises(ActionFailed, match=rf"ledger: {counts['ledger']} in the manifest, "):
        check_exports(folder, manifest)


async def test_the_state_is_read_in_one_snapshot_that_takes_no_write_lock(
    runtime: Runtime,
) -> None:
    await submit(runtime, request())
    engine = runtime.databases.get(OWN_DATABASE)
    async with read_snapshot(engine) as conn:
        before = (await conn.execute(select(func.count()).select_from(LedgerRow))).scalar_one()
        await submit(runtime, request())  # a writer commits meanwhile: nothing waits
        after = (await conn.execute(select(func.count()).select_from(LedgerRow))).scalar_one()
    assert after == before  # the export's view did not move
    async with read_snapshot(engine) as conn:
        now = (await conn.execute(select(func.count()).select_from(LedgerRow))).scalar_one()
    assert now > before
