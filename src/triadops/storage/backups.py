"""Stored backups: a row per complete backup, written by its step, read newest first."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarResult, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from triadops.domain.backups import BackupManifest
from triadops.storage.tables import BackupRow, LedgerRow, StepRow


async def save_backup(
    engine: AsyncEngine, manifest: BackupManifest, *, operation_id: str, step_key: str
) -> str:
    """Store a complete backup's manifest in one short transaction; return its id.

    A resumed step (same `step_key`) replaces the backup it stored before.
    """
    values = {
        "id": manifest.id,
        "type": manifest.type,
        "source": manifest.source,
        "operation_id": operation_id,
        "created_at": manifest.started_at,
        "size_bytes": manifest.size_bytes,
        "duration_s": manifest.duration_s,
        "checksum": manifest.checksum(),
        "manifest": manifest.model_dump(mode="json"),
    }
    async with engine.begin() as conn:
        found = await conn.scalar(select(BackupRow.id).where(BackupRow.step_key == step_key))
        if found is not None:
            await conn.execute(update(BackupRow).where(BackupRow.id == found).values(values))
        else:
            await conn.execute(insert(BackupRow), {"step_key": step_key, **values})
    return manifest.id


async def read_manifest(engine: AsyncEngine, backup_id: str) -> dict[str, Any] | None:
    """Return the stored manifest of `backup_id` (one primary-key read), or None."""
    async with engine.connect() as conn:  # a reader: no write lock, whoever else writes
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        found = await conn.scalar(select(BackupRow.manifest).where(BackupRow.id == backup_id))
    return None if found is None else dict(found)


async def backup_ids(engine: AsyncEngine) -> set[str]:
    """Every stored backup's id: the folders a row stands for (one read, no write lock)."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return set((await conn.scalars(select(BackupRow.id))).all())


async def find_backup(session: AsyncSession, backup_id: str) -> BackupRow | None:
    """Return the backup `backup_id`, or None."""
    return await session.get(BackupRow, backup_id)


async def list_backups(
    session: AsyncSession, *, type_: str | None = None, limit: int = 100
) -> list[BackupRow]:
    """Return the newest backups first, of one type when given."""
    query = select(BackupRow).order_by(BackupRow.created_at.desc(), BackupRow.id.desc())
    if type_ is not None:
        query = query.where(BackupRow.type == type_)
    return list((await session.scalars(query.limit(limit))).all())


async def mark_tested(
    session: AsyncSession, backup_id: str, *, checksum: str, at: datetime, by: str
) -> bool:
    """Record a passed recovery test on the row, in the caller's transaction.

    Only the commit that records its ``backup_restore_tested`` entry may call this.
    False when the backup is gone.
    """
    done = await session.execute(
        update(BackupRow)
        .where(BackupRow.id == backup_id)
        .values(tested_at=at, tested_checksum=checksum, tested_by=by)
    )
    return bool(getattr(done, "rowcount", 0))


async def tested_backups(session: AsyncSession, ids: Collection[str]) -> list[BackupRow]:
    """Backups whose row claims a recovery test, or named in `ids` (what the audit compares)."""
    claims = (BackupRow.tested_at.is_not(None)) | (BackupRow.tested_checksum.is_not(None))
    if ids:
        claims = claims | BackupRow.id.in_(sorted(ids))
    query = select(BackupRow).where(claims).order_by(BackupRow.id)
    return list((await session.scalars(query)).all())


async def step_output(session: AsyncSession, operation_id: str, index: int) -> dict[str, Any]:
    """The output a step recorded (in this transaction too), or an empty dict."""
    found = await session.scalar(
        select(StepRow.output).where(StepRow.operation_id == operation_id, StepRow.index == index)
    )
    return dict(found or {})


async def last_successes(session: AsyncSession) -> dict[str, tuple[datetime, int]]:
    """Per type: the newest backup's (time, size), and the last passed recovery test's.

    Keys are ``backup_<type>`` and ``recovery_test_<type>``; what never happened is absent.
    """
    found: dict[str, tuple[datetime, int]] = {}
    for type_ in (await session.scalars(select(BackupRow.type).distinct())).all():
        newest = (
            await session.execute(
                select(BackupRow.created_at, BackupRow.size_bytes)
                .where(BackupRow.type == type_)
                .order_by(BackupRow.created_at.desc())
                .limit(1)
            )
        ).first()
        if newest is not None:
            found[f"backup_{type_}"] = (newest[0], int(newest[1]))
        tested = (
            await session.execute(
                select(BackupRow.tested_at, BackupRow.size_bytes)
                .where(BackupRow.type == type_, BackupRow.tested_at.is_not(None))
                .order_by(BackupRow.tested_at.desc())
                .limit(1)
            )
        ).first()
        if tested is not None and tested[0] is not None:
            found[f"recovery_test_{type_}"] = (tested[0], int(tested[1]))
    return found


async def retention_view(
    engine: AsyncEngine,
) -> list[tuple[str, str, str, datetime, datetime | None]]:
    """Every backup: (id, type, source, created_at, tested_at), read without a write lock."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = await conn.execute(
            select(
                BackupRow.id,
                BackupRow.type,
                BackupRow.source,
                BackupRow.created_at,
                BackupRow.tested_at,
            )
        )
        return [(str(r[0]), str(r[1]), str(r[2]), r[3], r[4]) for r in rows]


async def delete_backups(engine: AsyncEngine, ids: Collection[str]) -> int:
    """Delete the rows of `ids` in one short transaction; return how many went."""
    if not ids:
        return 0
    async with engine.begin() as conn:
        done = await conn.execute(delete(BackupRow).where(BackupRow.id.in_(sorted(ids))))
    return int(getattr(done, "rowcount", 0) or 0)


async def newest_to_test(
    engine: AsyncEngine, *, type_: str | None = None, source: str | None = None
) -> str | None:
    """The newest backup not yet recovery-tested, else the newest of all, else None.

    Of one type or source when given. Read without a write lock (``backup.test_restore``
    resolves ``latest`` with it).
    """
    newest = (BackupRow.created_at.desc(), BackupRow.id.desc())
    query = select(BackupRow.id).order_by(*newest).limit(1)
    if type_ is not None:
        query = query.where(BackupRow.type == type_)
    if source is not None:
        query = query.where(BackupRow.source == source)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        untested = await conn.scalar(query.where(BackupRow.tested_at.is_(None)))
        if untested is not None:
            return str(untested)
        found = await conn.scalar(query)
    return None if found is None else str(found)


async def newest_backup(session: AsyncSession, *, at: datetime) -> BackupRow | None:
    """The newest backup taken up to `at` (one row, by the creation time's index), or None."""
    query = (
        select(BackupRow)
        .where(BackupRow.created_at <= at)
        .order_by(BackupRow.created_at.desc(), BackupRow.id.desc())
        .limit(1)
    )
    return (await session.scalars(query)).first()


async def restore_test_facts(
    session: AsyncSession, *, backup_id: str, operation_id: str
) -> list[str]:
    """The checksums that `operation_id`'s ``backup_restore_tested`` entries name for `backup_id`.

    Reads that operation's ledger entries only, by index.
    """
    rows: ScalarResult[Any] = await session.scalars(
        select(LedgerRow.details).where(
            LedgerRow.operation_id == operation_id, LedgerRow.event == "backup_restore_tested"
        )
    )
    return [
        str(d.get("checksum"))
        for d in rows.all()
        if isinstance(d, dict) and d.get("backup") == backup_id
    ]
