"""``triad audit verify`` replays the ledger and names each stored record that disagrees."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import TextClause, select, text, update

from tests.cli.conftest import Triad, data
from triadops.domain.chain import link_hash
from triadops.storage.engine import create_engine, session_factory
from triadops.storage.ledger import entry_body
from triadops.storage.tables import LedgerHeadRow, LedgerRow


def tamper(database_url: str, *statements: str | TextClause) -> None:
    """The attacker: plain SQL against the database, past every service."""

    async def work() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement) if isinstance(statement, str) else statement)
        await engine.dispose()

    asyncio.run(work())


def history(triad: Triad) -> None:
    submit = ("ops", "submit", "--as", "alice", "--wait", "--step", "noop")
    assert triad(*submit, "--id", "op-a").exit_code == 0
    failed = triad(*submit, "--params", '{"fail": true}', "--id", "op-b")
    assert "op-b: failed" in failed.stdout, failed.output
    assert triad("token", "create", "--name", "ci", "--role", "viewer").exit_code == 0


def test_verify_names_every_record_that_disagrees(triad: Triad, database_url: str) -> None:
    history(triad)
    clean = triad("audit", "verify")
    assert clean.exit_code == 0, clean.output
    assert "state disagrees" not in clean.stdout
    report = data(triad("audit", "verify", "--json"))
    assert report["discrepancies"] == []
    assert (report["operations_checked"], report["tokens_checked"]) == (2, 1)

    tamper(
        database_url,
        "UPDATE operations SET status = 'completed' WHERE id = 'op-b'",
        "UPDATE steps SET status = 'succeeded' WHERE operation_id = 'op-b'",
        """UPDATE tokens SET roles = '["crown"]' WHERE name = 'ci'""",
    )
    result = triad("audit", "verify")

    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ledger intact: "), "the chain itself is untouched"
    assert lines[-4:] == [
        "state disagrees with the ledger: 3 finding(s)",
        "  - operation op-b: stored status completed but the ledger's last transition is to failed",
        "  - step 0 of op-b: stored status succeeded, ledger says failed",
        "  - token ci: stored roles crown but the ledger granted viewer",
    ]
    report = data(triad("audit", "verify", "--json"), exit_code=1)
    assert report["ok"] is False and report["first_bad_seq"] is None
    assert [(d["kind"], d["subject"]) for d in report["discrepancies"]] == [
        ("operation", "operation op-b"),
        ("step", "step 0 of op-b"),
        ("token", "token ci"),
    ]


def test_a_deleted_operation_is_named(triad: Triad, database_url: str) -> None:
    history(triad)
    tamper(
        database_url,
        "DELETE FROM steps WHERE operation_id = 'op-a'",
        "DELETE FROM operations WHERE id = 'op-a'",
    )

    result = triad("audit", "verify")

    assert result.exit_code == 1
    assert "  - operation op-a: in the ledger but not stored (deleted)" in result.stdout


def test_stored_names_cannot_drive_the_terminal(triad: Triad, database_url: str) -> None:
    history(triad)
    tamper(
        database_url,
        text("UPDATE operations SET requested_by = :name WHERE id = 'op-a'").bindparams(
            name="eve\x1b[2J"
        ),
    )

    result = triad("audit", "verify")

    assert result.exit_code == 1
    assert "\x1b" not in result.stdout
    assert "stored requester eve\\x1b[2J but the ledger's submission is by alice" in result.stdout


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_verify_never_waits_for_the_write_lock(triad: Triad, database_url: str) -> None:
    """SQLite's one write lock (PostgreSQL readers never wait for writers)."""
    history(triad)
    writer = sqlite3.connect(database_url.removeprefix("sqlite+aiosqlite:///"), timeout=1)
    writer.isolation_level = None
    writer.execute("BEGIN IMMEDIATE")  # a worker in the middle of a commit
    try:
        result = triad("audit", "verify")
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ledger intact: ")


def test_a_forged_transition_with_the_chain_recomputed_fails_verify(
    triad: Triad, database_url: str
) -> None:
    history(triad)

    async def forge() -> int:
        """Say op-a was cancelled while scheduled, then ran on; return where it runs on."""
        engine = create_engine(database_url)
        async with session_factory(engine)() as session:
            stmt = select(LedgerRow).where(
                LedgerRow.operation_id == "op-a",
                LedgerRow.event == "transition",
                LedgerRow.from_status == "scheduled",
            )
            victim = (await session.scalars(stmt)).one().seq
            rows = (
                await session.scalars(
                    select(LedgerRow).where(LedgerRow.seq >= victim).order_by(LedgerRow.seq)
                )
            ).all()
            rows[0].to_status = "cancelled"
            onward = next(r.seq for r in rows if r.from_status == "executing")
            prev = rows[0].prev_hash
            for row in rows:
                row.prev_hash = prev
                row.hash = prev = link_hash(prev, entry_body(row))
            await session.execute(update(LedgerHeadRow).values(seq=rows[-1].seq, hash=prev))
            await session.commit()
        await engine.dispose()
        return onward

    onward = asyncio.run(forge())
    result = triad("audit", "verify")

    assert result.exit_code == 1
    assert result.stdout.startswith("ledger intact: "), "the forger recomputed every hash"
    report = data(triad("audit", "verify", "--json"), exit_code=1)
    assert [d["problem"] for d in report["discrepancies"]] == [
        f"entry {onward}: transition executing → validating does not follow on: the "
        "previous transition ended at cancelled (discontinuous)"
    ]
