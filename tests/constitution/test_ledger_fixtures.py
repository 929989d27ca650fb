"""Ledgers written before the events were typed still verify, byte for byte.

Each file in ``tests/fixtures/ledgers/`` is the SQLite database (gzipped) of a test of
commit 0557ae4, the last with untyped details, whose ledger verified clean there; together
they hold every event kind (the folder's README says how they were made). The typed events
must read every entry back and write exactly the details, and so the hash, it was written
with. Since every kind has exactly one fold (``tests/domain/test_events.py``) and every
kind is in a ledger verified here, every fold runs on real entries.
"""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select

from triadops.constitution.ledger import audit
from triadops.domain.chain import link_hash
from triadops.domain.events import EVENT_TYPES, parse_event
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import LedgerRow

LEDGERS = Path(__file__).parents[1] / "fixtures" / "ledgers"
FIXTURES = sorted(LEDGERS.glob("*.db.gz"))


def unpack(fixture: Path, target: Path) -> Path:
    """Write the fixture's database to `target`; return it."""
    target.write_bytes(gzip.decompress(fixture.read_bytes()))
    return target


@pytest.fixture(params=FIXTURES, ids=lambda path: path.name.split("__")[0])
async def old(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    """A copy of one old database, migrated to this release, open."""
    target = unpack(request.param, tmp_path / "triad.db")
    home = tmp_path / "home"
    home.mkdir()
    settings = Settings(home=home, database_url=f"sqlite+aiosqlite:///{target}", monitor=False)
    return await Runtime.open(settings)


async def entries(rt: Runtime) -> list[LedgerRow]:
    async with rt.session(read_only=True) as session:
        return list((await session.scalars(select(LedgerRow).order_by(LedgerRow.seq))).all())


async def test_an_old_ledger_verifies_clean(old: Runtime) -> None:
    try:
        async with old.session(read_only=True) as session:
            report = await audit.verify(session)
        rows = await entries(old)
    finally:
        await old.close()
    assert report.ok, [str(d) for d in report.discrepancies] or report.problem
    assert report.entries_checked == len(rows) > 0


async def test_every_old_entry_parses_and_writes_its_own_hash_again(old: Runtime) -> None:
    try:
        rows = await entries(old)
    finally:
        await old.close()
    for row in rows:
        event = parse_event(
            row.event, row.details, from_status=row.from_status, to_status=row.to_status
        )
        details = event.details()
        assert list(details.items()) == list(row.details.items()), row.seq
        from_status, to_status = event.statuses()
        body = {
            "seq": row.seq,
            "at": row.at.isoformat(),
            "actor": row.actor,
            "event": event.kind,
            "operation_id": row.operation_id,
            "from_status": from_status,
            "to_status": to_status,
            "details": details,
        }
        assert link_hash(row.prev_hash, body) == row.hash, row.seq


def test_the_old_ledgers_hold_every_event_kind(tmp_path: Path) -> None:
    held: set[str] = set()
    for fixture in FIXTURES:
        database = sqlite3.connect(unpack(fixture, tmp_path / fixture.stem))
        try:
            held.update(kind for (kind,) in database.execute("SELECT DISTINCT event FROM ledger"))
        finally:
            database.close()
    assert held == set(EVENT_TYPES)
