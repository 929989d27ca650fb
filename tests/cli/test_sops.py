"""``triad sop list|show`` and ``triad ops review``, locally and through a server alike."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.cli.conftest import Triad, data, one_error_line, operation
from tests.cli.test_remote import _run
from tests.cli.test_remote_crown import crown_token, same

PROBE = ("--criterion", "system_functionality_maintained")


def _deployed(triad: Triad, operation_id: str) -> None:
    submitted = triad(
        "ops", "submit", "--type", "deployment", "--step", "noop", *PROBE,
        "--id", operation_id, "--as", "alice",
    )  # fmt: skip
    assert f"{operation_id}: awaiting_approval" in submitted.stdout, submitted.output
    approved = triad("ops", "approve", operation_id, "--as", "bob", "--wait")
    assert f"{operation_id}: completed" in approved.stdout, approved.output


def test_the_catalogue_lists_without_a_database(triad: Triad) -> None:
    listed = data(triad("sop", "list", "--json"))
    assert [(s["id"], s["review"]) for s in listed] == [
        ("SOP-001", True),
        ("SOP-002", True),
        ("SOP-003", False),
        ("SOP-004", False),
    ]
    table = triad("sop", "list")
    assert table.exit_code == 0 and "a functional probe" in table.stdout


def test_a_deployment_without_a_probe_is_rejected_with_the_sops_reason(triad: Triad) -> None:
    result = triad("ops", "submit", "--type", "deployment", "--step", "noop", "--id", "dep-0")
    assert result.exit_code == 1
    assert "dep-0: rejected" in result.stdout
    assert "SOP-001 deployment needs a functional probe among validation_criteria" in result.stdout


def test_the_crown_reviews_and_the_review_is_no_longer_due(triad: Triad) -> None:
    _deployed(triad, "dep-1")
    shown = data(triad("sop", "show", "SOP-001", "--json"))
    assert [d["operation_id"] for d in shown["reviews_due"]] == ["dep-1"]
    assert "triad ops review dep-1 --lessons TEXT" in triad("sop", "show", "deployment").stdout

    # Locally everyone holds every role (the token decides remotely); no one reviews their own.
    refused = triad("ops", "review", "dep-1", "--lessons", "fine", "--as", "alice")
    assert one_error_line(refused) == "error: alice requested dep-1 and cannot review it"
    blank = triad("ops", "review", "dep-1", "--lessons", "  ", "--as", "carol")
    assert blank.exit_code == 2
    assert one_error_line(blank).startswith("error: --lessons: String should have at least")
    reviewed = data(
        triad("ops", "review", "dep-1", "--lessons", "probe first", "--note", "T-9", "--as",
              "carol", "--json")
    )  # fmt: skip
    assert reviewed["review"]["reviewed_by"] == "carol"
    assert operation(triad, "dep-1")["review"]["note"] == "T-9"
    assert "reviewed by carol: probe first (note: T-9)" in triad("ops", "show", "dep-1").stdout
    assert data(triad("sop", "show", "SOP-001", "--json"))["reviews_due"] == []
    assert "reviews due: none" in triad("sop", "show", "SOP-001").stdout
    missing = triad("sop", "show", "SOP-404")
    assert one_error_line(missing).startswith("error: no SOP 'SOP-404' (known: SOP-001")
    assert data(triad("audit", "verify", "--json"))["ok"] is True


@pytest.mark.slow
def test_remotely_the_same_catalogue_and_the_review_needs_a_crown_token(
    both: tuple[CliRunner, dict[str, str], dict[str, str]],
) -> None:
    runner, local, remote = both
    submitted = _run(
        runner, local, "ops", "submit", "--type", "deployment", "--step", "noop", *PROBE,
        "--id", "dep-r", "--as", "alice",
    )  # fmt: skip
    assert "dep-r: awaiting_approval" in submitted.stdout, submitted.output
    assert _run(runner, local, "ops", "approve", "dep-r", "--as", "bob", "--wait").exit_code == 0
    for args in (("sop", "list"), ("sop", "list", "--json"), ("sop", "show", "SOP-001")):
        same(_run(runner, local, *args), _run(runner, remote, *args))

    refused = _run(runner, remote, "ops", "review", "dep-r", "--lessons", "fine")
    assert refused.exit_code == 1
    assert "crown" in one_error_line(refused)
    crown = remote | {"TRIAD_TOKEN": crown_token(runner, local)}
    there = data(_run(runner, crown, "ops", "review", "dep-r", "--lessons", "fine", "--json"))
    assert there["review"]["reviewed_by"] == "queen"
    here = data(_run(runner, local, "sop", "show", "SOP-001", "--json"))
    assert here == data(_run(runner, remote, "sop", "show", "SOP-001", "--json"))
    assert here["reviews_due"] == []
