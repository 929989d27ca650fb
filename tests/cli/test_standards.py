"""``triad standards`` locally and against a real ``triad serve``, both databases.

The runs that make a plan a proposal go through the pipeline in Python on the same
database; the CLI then reads and decides, and a bad argument is one error line.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli.conftest import Server, Triad, data, one_error_line
from tests.ops.standards.conftest import open_restarts, restart_settings
from triadops.cli.main import app
from triadops.domain.errors import NotFound
from triadops.domain.standards import Standing
from triadops.settings import Settings


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return restart_settings(settings, tmp_path / "broken")


def _toml(settings: Settings) -> str:
    """The same settings as triad.toml (the CLI must share the database's governance)."""
    command = settings.commands["restart"]
    argv = json.dumps(command.argv)
    return (
        f"[standards]\npropose_after = {settings.standards.propose_after}\n\n"
        f"[commands.restart]\ndescription = {json.dumps(command.description)}\n"
        f"argv = {argv}\nrollback_argv = {json.dumps(command.rollback_argv)}\n"
        f'risk = "high"\nreversible = true\nidempotent = true\ntimeout_s = 30.0\n'
    )


async def _proposed(settings: Settings, tmp_path: Path) -> str:
    """Run the restart twice; wait until it is proposed (a server's worker may drive it)."""
    r = await open_restarts(settings, tmp_path)
    try:
        plan = (await r.run()).plan_hash
        await r.run()
        assert plan is not None
        deadline = time.monotonic() + 60
        while True:
            try:
                if (await r.record(plan)).standing is Standing.PROPOSED:
                    return plan
            except NotFound:
                pass
            assert time.monotonic() < deadline, "the two runs never made a proposal"
            await asyncio.sleep(0.05)
    finally:
        await r.rt.close()


def test_list_show_grant_decline_and_revoke_locally(
    triad: Triad, settings: Settings, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    Path(cli_env["TRIAD_CONFIG"]).write_text(_toml(settings))
    plan = asyncio.run(_proposed(settings, tmp_path))
    listed = data(triad("standards", "list", "--standing", "proposed", "--json"))
    assert [(s["plan_hash"], s["streak"]) for s in listed] == [(plan, 2)]
    table = triad("standards", "list")
    assert plan[:12] in table.stdout and "proposed" in table.stdout

    declined = data(
        triad("standards", "decline", plan[:12], "--reason", "not yet", "--as", "bob", "--json")
    )
    assert (declined["standing"], declined["decided_by"]) == ("declined", "bob")
    granted = data(triad("standards", "grant", plan[:12], "--as", "dave", "--json"))
    assert (granted["standing"], granted["decided_by"]) == ("standard", "dave")
    shown = triad("standards", "show", plan)
    assert shown.exit_code == 0 and "standard" in shown.stdout and "dave" in shown.stdout
    revoked = data(triad("standards", "revoke", plan, "--reason", "moved to k8s", "--json"))
    assert revoked["standing"] == "revoked" and revoked["reason"] == "moved to k8s"

    again = one_error_line(triad("standards", "grant", plan, "--as", "bob"))
    assert "revoked cannot be granted" in again
    assert "at least its first 8" in one_error_line(triad("standards", "show", "abc"))
    assert "no standard change" in one_error_line(triad("standards", "show", "0123456789abcdef"))
    bad = one_error_line(triad("standards", "list", "--standing", "approved"))
    assert "--standing" in bad and "proposed" in bad
    assert data(triad("standards", "show", plan, "--json"))["standing"] == "revoked"

    book = data(triad("runbooks", "record", "data_inconsistency", "--json"))
    assert book["runbook"] == "data_inconsistency"
    table = triad("runbooks", "record", "data_inconsistency")
    assert table.exit_code == 0 and "never run" in table.stdout
    assert "no_such" in one_error_line(triad("runbooks", "record", "no_such"))


@pytest.fixture
def server_env(settings: Settings) -> dict[str, str]:
    command = settings.commands["restart"].model_dump(mode="json")
    return {
        "TRIAD_COMMANDS": json.dumps({"restart": command}),
        "TRIAD_STANDARDS": json.dumps({"propose_after": settings.standards.propose_after}),
    }


def test_the_remote_cli_grants_in_the_tokens_name(
    settings: Settings, tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = asyncio.run(_proposed(settings, tmp_path))
    for name in ("TRIAD_HOME", "TRIAD_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {"TRIAD_URL": server.url, "TRIAD_TOKEN": server.token, "TRIAD_CONFIG": ""}
    runner = CliRunner()
    listed = runner.invoke(app, ["standards", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    assert [s["standing"] for s in json.loads(listed.stdout)] == ["proposed"], listed.stdout
    granted = runner.invoke(app, ["standards", "grant", plan[:16], "--json"], env=env)
    assert granted.exit_code == 0, granted.output
    assert json.loads(granted.stdout)["decided_by"] == "ops"
    refused = runner.invoke(app, ["standards", "grant", plan, "--as", "bob"], env=env)
    assert refused.exit_code != 0 and "--as" in refused.stderr
