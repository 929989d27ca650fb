"""Text from users and targets cannot drive the terminal: control characters are shown escaped."""

from __future__ import annotations

import json

import pytest
from typer.testing import Result

from tests.cli.conftest import Triad, data, operation
from triadops.cli.output import visible

# Clear the screen, retitle the window, move the cursor, the 8-bit CSI, a bidi override.
HOSTILE = "a\x1b[2J\x1b]0;owned\x07\x1b[10;10Hb\x9b2Jc\u202eevil"
SHOWN = r"a\x1b[2J\x1b]0;owned\x07\x1b[10;10Hb\x9b2Jc\u202eevil"
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


@pytest.fixture(autouse=True)
def _plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep Rich from colouring (its own escapes would hide what these tests look for)."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("TERM", "dumb")


def assert_inert(result: Result) -> None:
    """Assert the command succeeded and printed no byte a terminal would act on."""
    assert result.exit_code == 0, result.output
    for raw in RAW:
        assert raw not in result.stdout, f"{raw!r} reached stdout"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, ünïcode ✓", "plain text, ünïcode ✓"),
        (HOSTILE, SHOWN),
        ("tab\there\r\x00\x7f", r"tab\there\r\x00\x7f"),
        ("zero\u200bwidth\u2028line\u2066isolate", r"zero\u200bwidth\u2028line\u2066isolate"),
        ("two\nlines", r"two\nlines"),
    ],
)
def test_visible_escapes_every_control_character(text: str, shown: str) -> None:
    assert visible(text) == shown


def test_visible_keeps_a_newline_only_where_lines_are_meant() -> None:
    assert visible("one\ntwo\x1b[A", multiline=True) == "one\ntwo\\x1b[A"


def submit_hostile(triad: Triad) -> None:
    result = triad(
        "ops",
        "submit",
        "--id",
        "op-esc",
        "--step",
        "noop",
        "--description",
        HOSTILE,
        "--system",
        HOSTILE,
        "--rollback-plan",
        HOSTILE,
    )
    assert result.exit_code == 0, result.output
    assert_inert(triad("ops", "cancel", "op-esc", "--reason", HOSTILE))


def test_ops_show_escapes_description_systems_and_reason(triad: Triad) -> None:
    submit_hostile(triad)

    result = triad("ops", "show", "op-esc")

    assert_inert(result)
    assert f"description: {SHOWN}" in result.stdout
    assert f"affected systems: {SHOWN}" in result.stdout
    assert f"rollback plan: {SHOWN}" in result.stdout
    assert f"reason: {SHOWN}" in result.stdout


def test_ops_list_and_audit_log_print_no_control_characters(triad: Triad) -> None:
    submit_hostile(triad)

    listed = triad("ops", "list")
    logged = triad("audit", "log")

    assert_inert(listed)
    assert "op-esc" in listed.stdout
    assert_inert(logged)
    assert "op-esc" in logged.stdout and "cancelled" in logged.stdout


def test_json_output_stays_exact_json(triad: Triad) -> None:
    submit_hostile(triad)

    result = triad("ops", "show", "op-esc", "--json")

    assert_inert(result)
    shown = data(result)
    assert shown["request"]["description"] == HOSTILE
    assert shown["request"]["affected_systems"] == [HOSTILE]
    assert shown["status_reason"] == HOSTILE
    assert json.loads(triad("ops", "list", "--json").stdout)[0]["description"] == HOSTILE
    reasons = [e["details"].get("reason") for e in operation(triad, "op-esc")["timeline"]]
    assert HOSTILE in reasons
