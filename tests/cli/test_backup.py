"""``triad backup``: run, list, show, verify and test-restore, locally and through a server."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from typer.testing import CliRunner

from tests.cli.conftest import Server, Triad, data, one_error_line, operation
from triadops.cli.main import app
from triadops.domain.operations import utcnow
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.tables import BackupRow


def backed_up(triad: Triad) -> dict[str, Any]:
    done = data(triad("backup", "run", "database", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    (step,) = done["steps"]
    assert step["action"] == "backup.database"
    output: dict[str, Any] = step["output"]
    return output


def test_a_backup_then_its_recovery_test_show_their_figures(
    triad: Triad, settings: Settings
) -> None:
    made = backed_up(triad)
    assert made["size_bytes"] > 0 and made["rows"] > 0 and made["rate_bytes_per_s"] > 0
    listed = data(triad("backup", "list", "--json"))
    assert [b["id"] for b in listed] == [made["backup_id"]]
    assert listed[0]["restore_test"] is None

    verified = data(triad("backup", "verify", made["backup_id"], "--wait", "--json"))
    assert verified["status"] == "completed", verified["status_reason"]
    assert verified["steps"][0]["output"]["files_checked"] == 1

    tested = data(triad("backup", "test-restore", made["backup_id"], "--wait", "--json"))
    assert tested["status"] == "completed", tested["status_reason"]
    output = tested["steps"][0]["output"]
    assert output["passed"] is True and output["checksum"] == made["checksum"]
    shown_op = operation(triad, tested["operation_id"])
    assert shown_op["steps"][0]["output"]["rows"] == made["rows"]

    shown = data(triad("backup", "show", made["backup_id"], "--json"))
    assert shown["restore_test"]["checksum"] == made["checksum"]
    assert shown["restore_test"]["operation_id"] == tested["operation_id"]
    assert shown["manifest"]["row_counts"]["operations"] >= 1
    text = triad("backup", "show", made["backup_id"])
    assert text.exit_code == 0 and "recovery test passed" in text.stdout
    assert made["checksum"] in text.stdout
    assert triad("audit", "verify").exit_code == 0


def test_test_restore_latest_tests_the_newest_backup_not_yet_tested(triad: Triad) -> None:
    made = backed_up(triad)
    tested = data(triad("backup", "test-restore", "latest", "--wait", "--json"))
    assert tested["status"] == "completed", tested["status_reason"]
    output = tested["steps"][0]["output"]
    assert (output["requested"], output["backup_id"]) == ("latest", made["backup_id"])
    shown = data(triad("backup", "show", made["backup_id"], "--json"))
    assert shown["restore_test"]["operation_id"] == tested["operation_id"]


def test_a_flipped_byte_fails_the_recovery_test_naming_the_file(
    triad: Triad, settings: Settings
) -> None:
    made = backed_up(triad)
    (dump,) = [p for p in Path(made["folder"]).iterdir() if p.name != "manifest.json"]
    data_ = bytearray(dump.read_bytes())
    data_[100] ^= 0xFF
    dump.write_bytes(bytes(data_))
    for command in ("verify", "test-restore"):
        result = triad("backup", command, made["backup_id"], "--wait", "--json")
        failed = json.loads(result.stdout)
        assert failed["status"] == "failed", failed
        assert dump.name in failed["steps"][0]["error"], failed["steps"][0]
    assert data(triad("backup", "show", made["backup_id"], "--json"))["restore_test"] is None


def test_bad_input_is_one_line(triad: Triad) -> None:
    assert "unknown backup type 'tapes'" in one_error_line(triad("backup", "run", "tapes"))
    assert "no backup 'nope'" in one_error_line(triad("backup", "show", "nope"))
    assert "nowhere" in one_error_line(triad("backup", "run", "database", "--target", "nowhere"))
    assert data(triad("ops", "list", "--json")) == []


def test_through_a_server_and_here_the_same(
    both: tuple[CliRunner, dict[str, str], dict[str, str]], server: Server
) -> None:
    runner, local, remote = both
    done = runner.invoke(app, ["backup", "run", "database", "--wait", "--json"], env=remote)
    ran = data(done)
    assert ran["status"] == "completed", ran["status_reason"]
    assert ran["request"]["requested_by"] == "ops"
    backup_id = ran["steps"][0]["output"]["backup_id"]
    tested = data(
        runner.invoke(app, ["backup", "test-restore", backup_id, "--wait", "--json"], env=remote)
    )
    assert tested["status"] == "completed", tested["status_reason"]
    for args in (["backup", "list", "--json"], ["backup", "show", backup_id, "--json"]):
        there = runner.invoke(app, args, env=remote)
        here = runner.invoke(app, args, env=local)
        assert there.exit_code == here.exit_code == 0, (there.output, here.output)
        assert json.loads(there.stdout) == json.loads(here.stdout)
    shown = json.loads(
        runner.invoke(app, ["backup", "show", backup_id, "--json"], env=local).stdout
    )
    assert shown["restore_test"]["operation_id"] == tested["operation_id"]
    missing = runner.invoke(app, ["backup", "show", "nope"], env=remote)
    assert missing.exit_code != 0 and "no backup 'nope'" in missing.stderr


def test_prune_keeps_the_newest_verified_backup(triad: Triad, settings: Settings) -> None:
    first, second, third = (backed_up(triad) for _ in range(3))
    tested = data(triad("backup", "test-restore", first["backup_id"], "--wait", "--json"))
    assert tested["status"] == "completed"
    asyncio.run(age(settings, [first["backup_id"], second["backup_id"]], days=40))
    done = data(triad("backup", "prune", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    assert done["steps"][0]["output"]["deleted"] == [second["backup_id"]]
    left = [b["id"] for b in data(triad("backup", "list", "--json"))]
    assert sorted(left) == sorted([first["backup_id"], third["backup_id"]])
    assert not Path(second["folder"]).exists() and Path(first["folder"]).exists()
    assert triad("audit", "verify").exit_code == 0


async def age(settings: Settings, ids: list[str], *, days: int) -> None:
    rt = await Runtime.open(settings, migrate=False)
    try:
        async with rt.session() as session:
            await session.execute(
                update(BackupRow)
                .where(BackupRow.id.in_(ids))
                .values(created_at=utcnow() - timedelta(days=days))
            )
            await session.commit()
    finally:
        await rt.close()


def test_waiting_prints_the_figures_of_the_backup_and_its_recovery_test(triad: Triad) -> None:
    ran = triad("backup", "run", "database", "--wait")
    assert ran.exit_code == 0, ran.output
    [backup_id] = [b["id"] for b in data(triad("backup", "list", "--json"))]
    line = next(x for x in ran.stdout.splitlines() if x.startswith(f"{backup_id}: "))
    assert " in " in line and "/s)" in line and " tables, " in line and "checksum" in line
    tested = triad("backup", "test-restore", backup_id, "--wait")
    assert tested.exit_code == 0, tested.output
    assert f"{backup_id}: recovery test passed in " in tested.stdout
    assert "PRAGMA integrity_check: ok" in tested.stdout or "pg_restore" in tested.stdout
    verified = triad("backup", "verify", backup_id, "--wait")
    assert f"{backup_id}: 1 files, " in verified.stdout and "match their sha256" in verified.stdout
