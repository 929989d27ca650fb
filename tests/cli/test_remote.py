"""Remote mode: the CLI speaks to a real ``triad serve`` and prints what it prints locally."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from tests.cli.conftest import Server, data, one_error_line
from tests.cli.test_decisions import SYSTEMS
from tests.fixtures.servers import free_port
from triadops.cli.main import app

pytestmark = pytest.mark.slow


def _run(runner: CliRunner, env: dict[str, str], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def test_the_same_commands_print_the_same_locally_and_remotely(
    both: tuple[CliRunner, dict[str, str], dict[str, str]],
) -> None:
    runner, local, remote = both
    submitted = _run(runner, remote, "ops", "submit", "--step", "noop", "--id", "op-r", "--wait")
    assert submitted.exit_code == 0, submitted.output
    assert submitted.stdout == "op-r: completed\n"
    shown = data(_run(runner, local, "ops", "show", "op-r", "--json"))
    assert shown["request"]["requested_by"] == "ops"
    _run(
        runner,
        remote,
        "ops",
        "submit",
        "--step",
        "noop",
        "--id",
        "op-s",
        "--scheduled-time",
        "2999-01-01T00:00:00",
    )

    for args in (
        ["ops", "show", "op-r"],
        ["ops", "show", "op-r", "--json"],
        ["ops", "list"],
        ["ops", "list", "--json"],
        ["ops", "list", "--limit", "1"],
        ["ops", "list", "--status", "completed", "--json"],
        ["alerts", "list", "--json"],
        ["audit", "log", "--operation", "op-r", "--json"],
        ["agents", "health"],
    ):
        here, there = _run(runner, local, *args), _run(runner, remote, *args)
        assert here.exit_code == there.exit_code == 0, (args, here.output, there.output)
        assert here.stdout == there.stdout, args

    _lists_the_same_rows(runner, local, remote)

    raised = httpx.post(
        f"{remote['TRIAD_URL']}/alerts",
        headers={"Authorization": f"Bearer {remote['TRIAD_TOKEN']}"},
        json={"labels": {"alertname": "DiskFilling", "instance": "db-1"}, "severity": "warning"},
        timeout=10,
    )
    assert raised.status_code == 200, raised.text
    [alert] = data(_run(runner, local, "alerts", "list", "--json"))
    acked = _run(runner, remote, "alerts", "ack", str(alert["id"]))
    assert acked.stdout == f"alert {alert['id']}: acknowledged, acknowledged by ops\n"
    for args in (
        ["alerts", "list"],
        ["alerts", "show", str(alert["id"])],
        ["alerts", "show", str(alert["id"]), "--json"],
    ):
        here, there = _run(runner, local, *args), _run(runner, remote, *args)
        assert here.exit_code == there.exit_code == 0, (args, here.output, there.output)
        assert here.stdout == there.stdout, args

    drill = ["alertname=Drill", "severity=~info|warning"]  # the executive may add it
    preview = ["silences", "add", *drill, "--preview", "--json"]
    here, there = _run(runner, local, *preview), _run(runner, remote, *preview)
    assert here.stdout == there.stdout
    assert set(data(there)["requires"]) == {"legislative", "executive", "crown"}
    made = data(_run(runner, remote, "silences", "add", *drill, "--duration", "1h", "--json"))
    assert made["created_by"] == "ops" and made["active"] is True
    for args in (["silences", "list"], ["silences", "list", "--all", "--json"]):
        here, there = _run(runner, local, *args), _run(runner, remote, *args)
        assert here.exit_code == there.exit_code == 0, (args, here.output, there.output)
        assert here.stdout == there.stdout, args
    expired = _run(runner, remote, "silences", "expire", made["id"])
    assert expired.stdout == f"silence {made['id']}: expired by ops\n"

    verified = data(_run(runner, remote, "audit", "verify", "--json"))
    assert verified["ok"] is True and verified["entries_checked"] > 0
    assert "checked by the server" in verified["checkpoints"]["reason"]

    here = _run(runner, local, "ops", "cancel", "op-s", "--json")
    assert here.exit_code == 0, here.output
    gone = _run(runner, remote, "ops", "cancel", "op-s")
    assert gone.exit_code == 1
    assert "can no longer be cancelled" in one_error_line(gone)


def _lists_the_same_rows(runner: CliRunner, local: dict[str, str], remote: dict[str, str]) -> None:
    """Every field of a listing's line, and its cursor, is the same in both modes."""
    risky = ["--step", "database.purge_audit_logs", *SYSTEMS, "--as", "alice"]
    for op_id, kind in (("op-t", "monitoring"), ("op-u", "maintenance")):
        described = ["--description", f"purge {op_id} ✓ | <b>"]
        made = _run(
            runner, local, "ops", "submit", "--id", op_id, "--type", kind, *described, *risky
        )
        assert "awaiting_approval" in made.stdout, made.output
    assert _run(runner, remote, "ops", "reject", "op-u", "--reason", "not today").exit_code == 0

    listed = data(_run(runner, local, "ops", "list", "--json"))
    by_id = {line["operation_id"]: line for line in listed}
    assert by_id["op-t"]["risk_level"] == "critical"
    assert by_id["op-t"]["status_reason"] == "critical risk: needs approval by legislative, crown"
    assert by_id["op-r"]["status_reason"] is None
    assert by_id["op-u"]["status_reason"] == "not today"
    assert by_id["op-u"]["description"] == "purge op-u ✓ | <b>"
    since = by_id["op-s"]["created_at"]
    page = data(_run(runner, local, "ops", "list", "--limit", "2", "--json"))
    after = page[-1]["cursor"]
    for args in (
        ["ops", "list"],
        ["ops", "list", "--json"],
        ["ops", "list", "--limit", "2"],
        ["ops", "list", "--limit", "2", "--cursor", after],
        ["ops", "list", "--limit", "2", "--cursor", after, "--json"],
        ["ops", "list", "--type", "monitoring", "--json"],
        ["ops", "list", "--status", "rejected", "--status", "awaiting_approval"],
        ["ops", "list", "--status", "rejected", "--type", "maintenance", "--json"],
        ["ops", "list", "--since", since, "--json"],
        ["ops", "list", "--status", "cancelled"],
    ):
        here, there = _run(runner, local, *args), _run(runner, remote, *args)
        assert here.exit_code == there.exit_code == 0, (args, here.output, there.output)
        assert here.stdout == there.stdout, args
        assert "Traceback" not in here.output + there.output


def test_a_remote_cancel_says_what_happens_next(
    both: tuple[CliRunner, dict[str, str], dict[str, str]],
) -> None:
    runner, _, remote = both
    _run(
        runner,
        remote,
        "ops",
        "submit",
        "--step",
        "noop",
        "--id",
        "op-c",
        "--scheduled-time",
        "2999-01-01T00:00:00",
    )

    result = _run(runner, remote, "ops", "cancel", "op-c", "--reason", "not needed")

    assert result.exit_code == 0, result.output
    assert (
        result.stdout == "op-c: cancelled\n  reason: not needed\n  next: stopped; it will not run\n"
    )


def test_a_bad_token_is_one_line_and_exit_1(
    both: tuple[CliRunner, dict[str, str], dict[str, str]], server: Server
) -> None:
    runner, _, remote = both

    for args in (["ops", "list"], ["ops", "submit", "--step", "noop"], ["alerts", "ack", "1"]):
        result = _run(runner, remote | {"TRIAD_TOKEN": "not-a-token"}, *args)
        assert result.exit_code == 1
        line = one_error_line(result)
        assert line.startswith(f"error: {server.url} refused the token (401): "), line
        assert "not-a-token" not in line


def test_an_unreachable_server_is_one_line(
    both: tuple[CliRunner, dict[str, str], dict[str, str]],
) -> None:
    runner, _, remote = both
    result = _run(runner, remote | {"TRIAD_URL": f"http://127.0.0.1:{free_port()}"}, "ops", "list")
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:" in one_error_line(result)


def test_local_only_commands_say_why_and_never_go_local(
    both: tuple[CliRunner, dict[str, str], dict[str, str]], server: Server
) -> None:
    runner, local, remote = both
    everything = local | remote  # a local database is reachable too: it must not be used
    for args in (
        ["token", "list"],
        ["token", "create", "--name", "x", "--role", "crown"],
        ["token", "revoke", "ops"],
        ["freeze", "--reason", "x", "--as", "bob"],
        ["ops", "cancel", "x", "--as", "bob"],
    ):
        result = _run(runner, everything, *args)
        assert result.exit_code != 0, (args, result.output)
        line = one_error_line(result)
        assert (
            "works on the database only (tokens are administered where the database is" in line
            or "--as: remotely" in line
        ), line
    assert [t["name"] for t in data(_run(runner, local, "token", "list", "--json"))] == ["ops"]
    assert data(_run(runner, local, "audit", "verify", "--json"))["ok"] is True


def test_login_keeps_the_token_0600_and_logout_forgets_it(
    both: tuple[CliRunner, dict[str, str], dict[str, str]], server: Server, tmp_path: Path
) -> None:
    runner, _, _ = both
    nothing_local = {"TRIAD_HOME": str(tmp_path / "nowhere"), "TRIAD_CONFIG": ""}

    refused = runner.invoke(app, ["login", "--url", server.url], input="wrong\n", env=nothing_local)
    assert refused.exit_code == 1
    assert "refused the token (401)" in one_error_line(refused)
    hosts = tmp_path / "user-config" / "triad" / "hosts.toml"
    assert not hosts.exists()

    result = runner.invoke(
        app, ["login", "--url", server.url + "/"], input=server.token + "\n", env=nothing_local
    )

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(hosts.stat().st_mode) == 0o600
    assert server.token not in result.output
    listed = runner.invoke(app, ["ops", "list", "--json"], env=nothing_local)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []
    assert runner.invoke(app, ["logout"], env=nothing_local).stdout == "logged out\n"
    assert not hosts.exists()
    after = runner.invoke(app, ["ops", "list"], env=nothing_local)
    assert "no triad database at" in one_error_line(after)


def test_a_remote_approval_shows_the_plan_and_names_its_hash(
    both: tuple[CliRunner, dict[str, str], dict[str, str]],
) -> None:
    runner, local, remote = both
    risky = ["--step", "database.purge_audit_logs", *SYSTEMS]
    for op_id in ("op-a", "op-b"):
        submitted = _run(runner, local, "ops", "submit", "--id", op_id, *risky, "--as", "alice")
        assert "awaiting_approval" in submitted.stdout, submitted.output

    approved = _run(runner, remote, "ops", "approve", "op-a")
    rejected = _run(runner, remote, "ops", "reject", "op-b", "--reason", "not today", "--json")

    assert approved.exit_code == 0, approved.output
    plan_hash = data(_run(runner, local, "ops", "show", "op-a", "--json"))["plan_hash"]
    assert f"plan hash: {plan_hash}" in approved.stdout
    assert "op-a: awaiting_approval" in approved.stdout  # critical: the crown approves too
    shown = data(_run(runner, local, "ops", "show", "op-a", "--json"))
    assert [(a["approver"], a["plan_hash"]) for a in shown["approvals"]] == [("ops", plan_hash)]
    assert data(rejected)["status"] == "rejected"
    own = _run(runner, remote, "ops", "submit", "--id", "op-own", *risky)
    assert "awaiting_approval" in own.stdout
    refused = _run(runner, remote, "ops", "approve", "op-own")
    assert refused.exit_code == 1
    assert "own" in one_error_line(refused) or "requester" in one_error_line(refused)
