"""``triad backup`` of configurations, logs, system state and a declared command, end to end.

Both databases: each type backed up and recovery-tested through the CLI on real files; a
passed test is the same ledger fact as a database's; a flipped byte in an archive fails
verify and test-restore naming the file; a file changed on disk after the backup does not
matter (the archive is what is tested); retention is per type and keeps the newest
verified backup of each.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path
from typing import Any

from typer.testing import Result

from tests.cli.conftest import Triad, data, one_error_line
from tests.cli.test_backup import age
from triadops.settings import Settings


def configure(cli_env: dict[str, str], text: str) -> None:
    Path(cli_env["TRIAD_CONFIG"]).write_text(text)


def ran(triad: Triad, *args: str) -> dict[str, Any]:
    done = data(triad("backup", "run", *args, "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    output: dict[str, Any] = done["steps"][0]["output"]
    return output


def restore_tested(triad: Triad, backup_id: str) -> dict[str, Any]:
    done = data(triad("backup", "test-restore", backup_id, "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    output: dict[str, Any] = done["steps"][0]["output"]
    assert output["passed"] is True and output["backup_id"] == backup_id
    shown = data(triad("backup", "show", backup_id, "--json"))
    assert shown["restore_test"]["operation_id"] == done["operation_id"]  # the ledger fact
    assert shown["restore_test"]["checksum"] == output["checksum"]
    return output


def ended(result: Result) -> dict[str, Any]:
    """A --wait --json run's operation, whatever its exit (non-zero when it failed)."""
    done: dict[str, Any] = json.loads(result.stdout)
    return done


def failed_naming(triad: Triad, command: str, backup_id: str, name: str) -> str:
    result = triad("backup", command, backup_id, "--wait", "--json")
    done = json.loads(result.stdout)
    assert done["status"] == "failed", done
    error: str = done["steps"][0]["error"]
    assert name in error, error
    return error


def tree(root: Path) -> Path:
    """A configuration folder: files, a nested one, a link inside and a link out."""
    (root / "conf" / "sub").mkdir(parents=True)
    (root / "conf" / "app.toml").write_text("port = 8080\n")
    (root / "conf" / "sub" / "db.ini").write_text("[db]\nhost = here\n")
    os.chmod(root / "conf" / "sub" / "db.ini", 0o640)
    (root / "conf" / "inside").symlink_to(root / "conf" / "app.toml")
    (root / "secret.key").write_text("not for the archive")
    (root / "conf" / "out").symlink_to(root / "secret.key")
    return root / "conf"


def test_configurations_are_archived_member_by_member_and_recovery_tested(
    triad: Triad, cli_env: dict[str, str], tmp_path: Path
) -> None:
    conf = tree(tmp_path / "etc")
    configure(
        cli_env,
        f'[backups.configurations]\npaths = ["{conf}", "{tmp_path}/none-*.conf"]\n'
        'unreadable = "skip"\n',
    )
    made = ran(triad, "configurations")
    assert made["type"] == "configurations" and made["members"] == 3
    assert {(s["path"], s["reason"].split(" (")[0]) for s in made["left_out"]} == {
        (f"{tmp_path}/none-*.conf", "matches nothing"),
        (str(conf / "out"), "a link out of the configured paths"),
    }
    shown = data(triad("backup", "show", made["backup_id"], "--json"))
    members = {m["name"]: m for m in shown["manifest"]["members"]}
    base = str(conf).lstrip("/")
    assert set(members) == {f"{base}/app.toml", f"{base}/inside", f"{base}/sub/db.ini"}
    assert members[f"{base}/sub/db.ini"]["mode"] == 0o640
    assert members[f"{base}/inside"]["sha256"] == members[f"{base}/app.toml"]["sha256"]
    assert shown["manifest"]["format"] == "tar_zst"

    (conf / "app.toml").write_text("port = 9999\n")  # after the backup: the archive is tested
    tested = restore_tested(triad, made["backup_id"])
    assert tested["members"] == 3 and not Path(tested["restored_into"]).exists()
    listed = data(triad("backup", "list", "--type", "configurations", "--json"))
    assert [b["id"] for b in listed] == [made["backup_id"]]
    assert data(triad("backup", "list", "--type", "logs", "--json")) == []
    assert "unknown backup type 'tape'" in one_error_line(triad("backup", "list", "--type", "tape"))
    assert triad("audit", "verify").exit_code == 0


def test_an_unreadable_configuration_fails_the_backup_naming_it(
    triad: Triad, cli_env: dict[str, str], tmp_path: Path
) -> None:
    conf = tree(tmp_path / "etc")
    configure(cli_env, f'[backups.configurations]\npaths = ["{conf}"]\n')  # unreadable: fail
    done = ended(triad("backup", "run", "configurations", "--wait", "--json"))
    assert done["status"] == "failed"
    assert str(conf / "out") in done["status_reason"]
    assert "a link out of the configured paths" in done["status_reason"]
    assert data(triad("backup", "list", "--json")) == []
    fifo = tmp_path / "etc" / "pipe"
    os.mkfifo(fifo)  # never opened for reading: that would block
    configure(cli_env, f'[backups.configurations]\npaths = ["{fifo}", "{conf}/app.toml"]\n')
    done = ended(triad("backup", "run", "configurations", "--wait", "--json"))
    assert done["status"] == "failed" and f"{fifo}: not a regular file" in done["status_reason"]


def test_logs_default_to_triads_log_folder_and_a_flipped_byte_is_named(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    logs = Path(cli_env["TRIAD_HOME"]) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "app.log").write_bytes(b"line\n" * 5000)
    made = ran(triad, "logs")
    names = [
        m["name"]
        for m in data(triad("backup", "show", made["backup_id"], "--json"))["manifest"]["members"]
    ]
    assert str(logs / "app.log").lstrip("/") in names
    assert made["member_bytes"] >= 25_000 > made["size_bytes"]  # compressed
    (logs / "app.log").write_bytes(b"rotated away")  # after the backup: does not matter
    restore_tested(triad, made["backup_id"])

    archive = Path(made["folder"]) / "logs.tar.zst"
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    archive.write_bytes(bytes(raw))
    for command in ("verify", "test-restore"):
        failed_naming(triad, command, made["backup_id"], "logs.tar.zst")
    fired = [
        a["labels"]
        for a in data(triad("alerts", "list", "--json"))
        if a["labels"]["alertname"] == "TriadRecoveryTestFailed"
    ]
    assert fired == [{"alertname": "TriadRecoveryTestFailed", "type": "logs"}]


def test_system_state_exports_rows_and_a_chain_that_the_recovery_test_walks(
    triad: Triad,
) -> None:
    ran(triad, "database")  # operations, steps and ledger entries to export
    made = ran(triad, "system_state")
    counts = made["row_counts"]
    assert counts["operations"] >= 2 and counts["steps"] >= 2 and counts["ledger"] > 10
    assert counts["ledger_head"] == 1
    assert set(counts) == {
        "alerts",
        "approvals",
        "health_reports",
        "ledger",
        "ledger_head",
        "operations",
        "silences",
        "steps",
    }
    tested = restore_tested(triad, made["backup_id"])
    assert f"ledger hash chain: {counts['ledger']} entries up to its head" in tested["checks"]
    assert f"row counts of {len(counts)} exports as the manifest" in tested["checks"]
    latest = data(triad("backup", "test-restore", "latest", "--wait", "--json"))
    assert latest["steps"][0]["output"]["backup_id"] != made["backup_id"]  # the untested one
    assert triad("audit", "verify").exit_code == 0


TOOL = """#!/bin/sh
set -eu
case "$1" in
  backup) printf 'backup of %s\\n' "$TRIAD_BACKUP_ID" > "$TRIAD_BACKUP_DIR/label.txt"
          mkdir "$TRIAD_BACKUP_DIR/wal" && echo wal > "$TRIAD_BACKUP_DIR/wal/0001"
          echo "backed up" ;;
  verify) grep -q "backup of $TRIAD_BACKUP_ID" "$TRIAD_BACKUP_DIR/label.txt" ;;
  restore) cp "$TRIAD_BACKUP_DIR/label.txt" "$TRIAD_SCRATCH_DIR/" &&
           test -s "$TRIAD_SCRATCH_DIR/label.txt" && test "$(cat {marker})" = ok ;;
esac
"""


def declare_tool(cli_env: dict[str, str], tmp_path: Path) -> Path:
    marker = tmp_path / "restore-ok"
    marker.write_text("ok")
    script = tmp_path / "tool.sh"
    script.write_text(TOOL.replace("{marker}", str(marker)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    commands = "".join(
        f'[commands.tool_{role}]\ndescription = "the tool: {role}"\n'
        f'argv = ["{script}", "{role}"]\n\n'
        for role in ("backup", "verify", "restore")
    )
    configure(
        cli_env,
        commands + '[[backups.commands]]\nname = "tool"\nbackup = "tool_backup"\n'
        'verify = "tool_verify"\nrestore_test = "tool_restore"\n',
    )
    return marker


def test_a_declared_command_backs_up_and_its_tool_verifies_and_recovery_tests(
    triad: Triad, cli_env: dict[str, str], tmp_path: Path
) -> None:
    marker = declare_tool(cli_env, tmp_path)
    made = ran(triad, "command", "--name", "tool")
    assert made["files"] == ["label.txt", "wal/0001"] and made["exit_code"] == 0
    shown = data(triad("backup", "show", made["backup_id"], "--json"))
    assert shown["type"] == "command" and shown["source"] == "tool"
    assert shown["manifest"]["command"]["output_tail"] == "backed up"

    verified = data(triad("backup", "verify", made["backup_id"], "--wait", "--json"))
    assert verified["status"] == "completed", verified["status_reason"]
    assert verified["steps"][0]["output"]["declared"][0].startswith("verify by tool_verify: exit 0")
    tested = restore_tested(triad, made["backup_id"])
    assert [c.split(":")[0] for c in tested["checks"]] == [
        "sha256 of 2 files",
        "verify by tool_verify",
        "restore_test by tool_restore",
    ]

    marker.write_text("broken")  # the tool's own restore check now fails
    second = ran(triad, "command", "--name", "tool")
    error = failed_naming(triad, "test-restore", second["backup_id"], "tool_restore exited with 1")
    assert f"restore_test of {second['backup_id']}" in error
    label = Path(made["folder"]) / "label.txt"
    label.write_text("tampered")
    failed_naming(triad, "test-restore", made["backup_id"], "label.txt")
    assert "a command backup needs --name" in one_error_line(triad("backup", "run", "command"))
    line = one_error_line(triad("backup", "run", "command", "--name", "nope"))
    assert "no backup command 'nope' (backups.commands: tool)" in line


def test_a_command_that_keeps_no_file_is_recorded_by_its_exit_and_output(
    triad: Triad, cli_env: dict[str, str]
) -> None:
    configure(
        cli_env,
        '[commands.say]\ndescription = "a tool that keeps its backups itself"\n'
        'argv = ["/bin/echo", "backup 42 taken"]\n'
        '[[backups.commands]]\nname = "own"\nbackup = "say"\nrestore_test = "say"\n',
    )
    made = ran(triad, "command", "--name", "own")
    assert made["files"] == [] and made["output_tail"] == "backup 42 taken"
    command = data(triad("backup", "show", made["backup_id"], "--json"))["manifest"]["command"]
    assert command["argv"] == ["/bin/echo", "backup 42 taken"] and command["exit_code"] == 0
    tested = restore_tested(triad, made["backup_id"])
    assert tested["checks"][-1].startswith("restore_test by say: exit 0")


def test_an_undeclared_backup_command_stops_at_load(triad: Triad, cli_env: dict[str, str]) -> None:
    configure(cli_env, '[[backups.commands]]\nname = "x"\nbackup = "nope"\nrestore_test = "nope"\n')
    line = one_error_line(triad("backup", "list"))
    assert "backups.commands[0].backup: no command 'nope' is declared" in line


def test_retention_is_per_type_and_keeps_the_newest_verified(
    triad: Triad, cli_env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    conf = tree(tmp_path / "etc")
    configure(cli_env, f'[backups.configurations]\npaths = ["{conf}/app.toml"]\n[backups.logs]\n')
    configs = [ran(triad, "configurations")["backup_id"] for _ in range(3)]
    logs = [ran(triad, "logs")["backup_id"] for _ in range(3)]
    restore_tested(triad, configs[0])
    restore_tested(triad, logs[0])
    asyncio.run(age(settings, configs[:2] + logs[:2], days=40))  # past logs' 7, not cfg's 90
    done = data(triad("backup", "prune", "--wait", "--json"))
    assert done["status"] == "completed", done["status_reason"]
    output = done["steps"][0]["output"]
    assert output["deleted_by_type"] == {"logs": [logs[1]]}  # logs[0]: the newest verified
    assert output["keep_days"] == {
        "database": 30,
        "configurations": 90,
        "logs": 7,
        "system_state": 14,
    }
    asyncio.run(age(settings, configs[:2], days=100))
    done = data(triad("backup", "prune", "--type", "configurations", "--wait", "--json"))
    assert done["steps"][0]["output"]["deleted"] == [configs[1]]
    left = {b["id"] for b in data(triad("backup", "list", "--json"))}
    assert left == {configs[0], configs[2], logs[0], logs[2]}
    assert triad("audit", "verify").exit_code == 0
