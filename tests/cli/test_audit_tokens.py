"""``triad audit`` and ``triad token``."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tests.cli.conftest import Triad, data, one_error_line
from triadops.storage.engine import create_engine


def test_verify_an_intact_ledger(triad: Triad) -> None:
    triad("ops", "submit", "--step", "noop", "--wait")

    result = triad("audit", "verify")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ledger intact: ")
    report = data(triad("audit", "verify", "--json"))
    assert report["ok"] is True and report["entries_checked"] > 5


def test_verify_names_the_first_edited_entry(triad: Triad, database_url: str) -> None:
    triad("ops", "submit", "--step", "noop", "--wait")

    async def tamper() -> None:
        engine = create_engine(database_url)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE ledger SET actor = 'mallory' WHERE seq = 3"))
        await engine.dispose()

    asyncio.run(tamper())
    result = triad("audit", "verify")

    assert result.exit_code == 1
    assert result.stdout.startswith("ledger broken at entry 3: ")
    report = data(triad("audit", "verify", "--json"), exit_code=1)
    assert report["ok"] is False and report["first_bad_seq"] == 3


def test_log_of_one_operation(triad: Triad) -> None:
    triad("ops", "submit", "--step", "noop", "--wait", "--id", "op-l")
    triad("ops", "submit", "--step", "noop", "--id", "op-m")

    entries = data(triad("audit", "log", "--operation", "op-l", "--json"))

    assert {e["operation_id"] for e in entries} == {"op-l"}
    assert entries[0]["event"] == "submitted"
    assert len(data(triad("audit", "log", "--limit", "2", "--json"))) == 2
    assert "op-m" in triad("audit", "log").stdout


def test_token_is_shown_once_and_never_listed(triad: Triad) -> None:
    created = triad("token", "create", "--name", "ci", "--role", "executive", "--role", "viewer")

    assert created.exit_code == 0, created.output
    secret = created.stdout.splitlines()[-1]
    assert secret.startswith("triad_")
    assert "will not be shown again" in created.stderr
    listed = data(triad("token", "list", "--json"))
    assert listed == [
        {
            "name": "ci",
            "principal": "ci",
            "roles": ["executive", "viewer"],
            "created_at": listed[0]["created_at"],
            "revoked_at": None,
        }
    ]
    assert secret not in triad("token", "list").stdout


def test_token_revoke_and_refusals(triad: Triad) -> None:
    made = data(triad("token", "create", "--name", "bot", "--role", "viewer", "--json"))
    assert made["token"].startswith("triad_")

    assert triad("token", "revoke", "bot").exit_code == 0
    assert data(triad("token", "list", "--json"))[0]["revoked_at"] is not None
    assert "already revoked" in one_error_line(triad("token", "revoke", "bot"))
    assert "no token named 'ghost'" in one_error_line(triad("token", "revoke", "ghost"))
    assert "already exists" in one_error_line(
        triad("token", "create", "--name", "bot", "--role", "viewer")
    )
    bad = triad("token", "create", "--name", "x", "--role", "king")
    assert bad.exit_code == 2 and "--role: 'king'" in one_error_line(bad)
