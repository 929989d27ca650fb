"""``triad token create`` refuses names that pass for another person or for triadops."""

from __future__ import annotations

import getpass

import pytest

from tests.cli.conftest import Triad, data, one_error_line


@pytest.mark.parametrize(
    ("flag", "name", "problem"),
    [
        ("--name", "alice.", "cannot be a new token's name"),
        ("--name", "alice-", "cannot be a new token's name"),
        ("--principal", "alice.", "cannot be a new principal"),
        ("--name", "a1ice", "looks like the existing principal 'alice' (confusable)"),
        ("--principal", "a1ice", "looks like the existing principal 'alice' (confusable)"),
        ("--name", "legislative-rules", "is reserved"),
        ("--principal", "the-crown", "is reserved"),
        ("--name", "triad-monitor", "is reserved"),
        ("--principal", "root", "is reserved"),
        ("--name", f"{getpass.getuser()}@local", "names ending in @local are local CLI"),
    ],
)
def test_a_name_that_passes_for_another_is_one_error_line(
    triad: Triad, flag: str, name: str, problem: str
) -> None:
    assert triad("token", "create", "--name", "alice", "--role", "viewer").exit_code == 0
    args = ["--name", name] if flag == "--name" else ["--name", "t1", "--principal", name]

    refused = triad("token", "create", *args, "--role", "viewer")

    field = "name" if flag == "--name" else "principal"
    line = one_error_line(refused)
    assert line.startswith(f"error: {field}: '{name}'") and problem in line, line
    assert [t["name"] for t in data(triad("token", "list", "--json"))] == ["alice"]


def test_the_local_operator_is_never_a_token_principal(triad: Triad) -> None:
    user = getpass.getuser()
    done = data(triad("ops", "submit", "--step", "noop", "--wait", "--json"))
    shown = data(triad("ops", "show", done["operation_id"], "--json"))

    assert shown["request"]["requested_by"] == f"{user}@local"
    token = triad(
        "token", "create", "--name", "ops", "--principal", f"{user}@local", "--role", "viewer"
    )
    assert "reserved: names ending in @local" in one_error_line(token)


@pytest.mark.parametrize("name", ["alice.", "legislative-rules", "root", "triad-monitor"])
def test_acting_as_a_name_that_passes_for_another_is_refused(triad: Triad, name: str) -> None:
    refused = triad("ops", "submit", "--step", "noop", "--as", name)

    assert refused.exit_code == 2
    assert one_error_line(refused).startswith(f"error: --as: '{name}'")
    assert data(triad("ops", "list", "--json")) == [], "nothing was submitted"
