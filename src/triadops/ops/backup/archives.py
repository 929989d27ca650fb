"""The recovery test of an archive backup: extracted into a scratch folder, compared, removed.

The archive's own sha256 is verified first (through the store). Then it is extracted as a
stream with tarfile's ``data`` filter, which refuses absolute names, ``..`` and links out
of the scratch folder; each member's size, sha256 and mode are compared with the manifest,
and a member missing, added or twice is named. A system state backup's exports are each
loaded, line by line, and counted against the manifest, and its ledger's hash chain is
walked as ``triad audit verify`` walks it (``ChainWalk``), up to its exported head. The
scratch folder is always removed. It lives in ``ops`` because that walk is the
constitution's.
"""

from __future__ import annotations

import asyncio
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson
import zstandard
from pydantic import JsonValue

from triadops.actions.backup import raise_unless_ok
from triadops.actions.backup_archive import extract_archive
from triadops.actions.backup_files import sha256_file
from triadops.actions.backup_store import backup_store
from triadops.actions.base import ActionContext, Output
from triadops.constitution.ledger.chain import ChainWalk
from triadops.domain.backups import BackupManifest, counts_differ
from triadops.domain.errors import ActionFailed
from triadops.storage.ledger import StoredLink
from triadops.storage.state_export import LEDGER, LINK_FIELDS, export_name

LISTED = 10
"""Problems named in a failed test's error."""
BATCH = 500


def compare_archive(archive: Path, scratch: Path, manifest: BackupManifest) -> int:
    """Extract and compare every member; fail naming each that differs. Blocking."""
    expected = {m.name: m for m in manifest.members or []}
    seen: set[str] = set()
    problems: list[str] = []

    def check(info: tarfile.TarInfo, path: Path) -> None:
        member = expected.get(info.name)
        if info.name in seen:
            problems.append(f"{info.name}: in the archive twice")
            return
        seen.add(info.name)
        if member is None:
            problems.append(f"{info.name}: in the archive, not in the manifest")
            return
        size = path.stat().st_size
        if size != member.size_bytes:
            problems.append(f"{info.name}: {size} bytes, the manifest says {member.size_bytes}")
            return
        found = sha256_file(path)
        if found != member.sha256:
            problems.append(f"{info.name}: sha256 {found}, the manifest says {member.sha256}")
        elif info.mode != member.mode:
            problems.append(f"{info.name}: mode {info.mode:o}, the manifest says {member.mode:o}")

    try:
        extract_archive(archive, scratch, check)
    except (zstandard.ZstdError, tarfile.TarError, EOFError) as exc:
        raise ActionFailed(
            f"{archive.name}: not a readable zstandard tar archive ({exc})"
        ) from None
    problems += [f"{name}: missing from the archive" for name in sorted(set(expected) - seen)]
    if problems:
        more = f" (and {len(problems) - LISTED} more)" if len(problems) > LISTED else ""
        raise ActionFailed(
            f"restored copy of {manifest.id} differs from its manifest: "
            + "; ".join(problems[:LISTED])
            + more
        )
    return len(seen)


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    """Each line of an export, parsed, one at a time (an export may be large)."""
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                yield orjson.loads(line)


def check_exports(scratch: Path, manifest: BackupManifest) -> tuple[dict[str, int], str]:
    """Load each export, count its rows, walk the ledger's chain; say what held. Blocking."""
    counts: dict[str, int] = {}
    for table in manifest.row_counts:
        path = scratch / export_name(table)
        try:
            counts[table] = sum(1 for _ in _rows(path)) if path.is_file() else -1
        except orjson.JSONDecodeError as exc:
            raise ActionFailed(f"{path.name}: not JSON lines ({exc})") from None
    differ = counts_differ(manifest.row_counts, counts)
    if differ:
        raise ActionFailed(
            f"restored exports of {manifest.id} differ from its manifest: " + "; ".join(differ)
        )
    walk = ChainWalk()
    links: list[StoredLink] = []
    for row in _rows(scratch / export_name(LEDGER)):
        values = [row.get(k) for k in LINK_FIELDS]
        links.append(cast(StoredLink, (*values, row.get("at"))))
        if len(links) == BATCH:
            walk.check(links)
            links = []
    walk.check(links)
    heads = list(_rows(scratch / export_name("ledger_head")))
    if len(heads) != 1:
        raise ActionFailed(f"{manifest.id}: the exported ledger head has {len(heads)} rows")
    walk.check_head(int(heads[0]["seq"]), str(heads[0]["hash"]))
    report = walk.report()
    if not report.ok:
        raise ActionFailed(
            f"restored ledger of {manifest.id} breaks at entry {report.first_bad_seq}: "
            f"{report.problem}"
        )
    return counts, f"ledger hash chain: {report.entries_checked} entries up to its head"


async def test_archive(ctx: ActionContext, manifest: BackupManifest) -> Output:
    """Verify, extract into a scratch folder, compare; always remove the scratch."""
    clock = time.perf_counter()
    store = backup_store(ctx.settings)
    raise_unless_ok(await store.verify(manifest))
    checks: list[JsonValue] = [f"sha256 of {len(manifest.files)} files"]
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="triad-restore-"))
    try:
        async with store.readable(manifest) as folder:
            archive = folder / manifest.files[0].name
            extracted = await asyncio.to_thread(compare_archive, archive, scratch, manifest)
        checks.append(f"{extracted} members extracted safely, size, sha256 and mode as listed")
        if manifest.type == "system_state":
            counts, chain = await asyncio.to_thread(check_exports, scratch, manifest)
            checks.append(f"row counts of {len(counts)} exports as the manifest")
            checks.append(chain)
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    members = manifest.members or []
    return {
        "backup_id": manifest.id,
        "type": manifest.type,
        "checksum": manifest.checksum(),
        "passed": True,
        "restored_into": str(scratch),
        "checks": checks,
        "size_bytes": manifest.size_bytes,
        "members": len(members),
        "member_bytes": sum(m.size_bytes for m in members),
        "tables": len(manifest.row_counts),
        "rows": sum(manifest.row_counts.values()),
        "duration_s": round(time.perf_counter() - clock, 3),
    }
