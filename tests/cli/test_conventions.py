"""What every command offers the way SREs expect: --json, --version, readable help, fit."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from typer._click.core import Command
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from tests.cli.conftest import Triad, data
from triadops.cli.main import app
from triadops.domain.enums import Role

LONG_RUNNING = {"triad serve", "triad worker", "triad mcp"}
"""Daemons: they print logs while they run, not a result to parse (``triad mcp``'s stdout is
the MCP protocol itself)."""


def commands(command: Command, path: str = "triad") -> Iterator[tuple[str, Command]]:
    """Every command under `command`, with its command path."""
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            yield from commands(sub, f"{path} {name}")
        if not command.invoke_without_command:
            return
    yield path, command


ALL = sorted(commands(get_command(app)))


@pytest.mark.parametrize(("path", "command"), ALL, ids=[path for path, _ in ALL])
def test_every_command_has_json(path: str, command: Command) -> None:
    if path in LONG_RUNNING:
        pytest.skip("a daemon's output is its log")
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert "--json" in options, f"{path} has no --json"


@pytest.mark.parametrize(("path", "command"), ALL, ids=[path for path, _ in ALL])
def test_help_shows_placeholders_a_person_reads(path: str, command: Command) -> None:
    runner = CliRunner()
    words = path.split()[1:]
    result = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert not re.search(r"<[a-z]+(\[[a-z]+\])?>", result.output), result.output
    assert "{" not in result.output.splitlines()[1], result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"triad \d+\.\d+\.\d+\S*\n", result.stdout)


def test_token_create_help_lists_the_roles() -> None:
    result = CliRunner().invoke(app, ["token", "create", "--help"], env={"COLUMNS": "200"})
    for role in Role:
        assert role.value in result.output


def test_a_table_fits_a_narrow_piped_terminal(triad: Triad) -> None:
    triad("ops", "submit", "--step", "noop", "--id", "op-narrow-" + "x" * 8)
    runner = CliRunner()

    wide = runner.invoke(app, ["ops", "list"], env={"COLUMNS": "60"})

    assert wide.exit_code == 0, wide.output
    assert max(len(line) for line in wide.stdout.splitlines()) <= 60, wide.stdout
    assert "op-narrow-" in wide.stdout


def test_every_write_command_prints_json(triad: Triad) -> None:
    submitted = data(triad("ops", "submit", "--step", "noop", "--id", "op-j", "--json"))
    assert submitted["operation_id"] == "op-j"
    assert data(triad("ops", "cancel", "op-j", "--json"))["status"] == "cancelled"
    assert data(triad("freeze", "--reason", "drill", "--json"))["frozen"] is True
    assert data(triad("unfreeze", "--json"))["frozen"] is False
    made = data(triad("token", "create", "--name", "ci", "--role", "viewer", "--json"))
    assert made["name"] == "ci"
    assert data(triad("token", "revoke", "ci", "--json")) == {"name": "ci", "revoked": True}
    silence = data(triad("silences", "add", "alertname=Drill", "--duration", "1h", "--json"))
    assert silence["active"] is True
    expired = data(triad("silences", "expire", silence["id"], "--json"))
    assert expired["expired_at"] is not None
