"""``triad ops list``: by type, state and time, page by page with the cursor it prints."""

from __future__ import annotations

import shlex

import pytest

from tests.cli.conftest import Triad, data, one_error_line


@pytest.fixture
def listed(triad: Triad) -> Triad:
    """Four operations, oldest first: fix-1, watch-1, fix-2, watch-2 (all scheduled)."""
    for name in ("fix-1", "watch-1", "fix-2", "watch-2"):
        kind = "monitoring" if name.startswith("watch") else "maintenance"
        result = triad("ops", "submit", "--step", "noop", "--id", name, "--type", kind)
        assert result.exit_code == 0, result.output
    return triad


def ids(triad: Triad, *args: str) -> list[str]:
    return [item["operation_id"] for item in data(triad("ops", "list", *args, "--json"))]


def test_type_status_and_since_filter_and_combine(listed: Triad) -> None:
    assert ids(listed, "--type", "monitoring") == ["watch-2", "watch-1"]
    assert ids(listed, "--type", "monitoring", "--type", "maintenance") == [
        "watch-2",
        "fix-2",
        "watch-1",
        "fix-1",
    ]
    assert ids(listed, "--type", "monitoring", "--status", "completed") == []
    since = data(listed("ops", "show", "fix-2", "--json"))["created_at"]
    assert ids(listed, "--since", since) == ["watch-2", "fix-2"]
    assert ids(listed, "--since", since, "--type", "maintenance") == ["fix-2"]
    naive = since.replace("Z", "").replace("+00:00", "")  # naive is UTC
    assert ids(listed, "--since", naive) == ["watch-2", "fix-2"]


def test_json_pages_follow_the_last_items_cursor(listed: Triad) -> None:
    seen: list[str] = []
    args = ["--type", "maintenance", "--type", "monitoring", "--limit", "3"]
    page = data(listed("ops", "list", *args, "--json"))
    seen += [item["operation_id"] for item in page]
    assert len(page) == 3
    rest = data(listed("ops", "list", *args, "--cursor", page[-1]["cursor"], "--json"))
    seen += [item["operation_id"] for item in rest]
    assert seen == ["watch-2", "fix-2", "watch-1", "fix-1"]


def test_the_table_ends_with_the_command_for_the_next_page(listed: Triad) -> None:
    seen: list[str] = []
    args = ["ops", "list", "--status", "scheduled", "--limit", "2"]
    while True:
        result = listed(*args)
        assert result.exit_code == 0, result.output
        shown = [name for name in ("fix-1", "watch-1", "fix-2", "watch-2") if name in result.stdout]
        seen += sorted(shown, key=result.stdout.index)
        hint = [line for line in result.stdout.splitlines() if line.startswith("more: ")]
        if not hint:
            break
        assert len(hint) == 1
        args = shlex.split(hint[0].removeprefix("more: triad "))
        assert args[:6] == ["ops", "list", "--status", "scheduled", "--limit", "2"]
    assert seen == ["watch-2", "fix-2", "watch-1", "fix-1"]
    # A last page that happens to be full still offers more; that page is empty.
    assert "no operations" in result.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--type", "sleeping"], "--type: 'sleeping' is not one of maintenance"),
        (["--status", "napping"], "--status: 'napping' is not one of"),
        (["--since", "yesterday"], "--since: 'yesterday' is not an ISO 8601 time"),
        (["--since", "0001-01-01T00:00:00+01:00"], "--since: '0001-01-01T00:00:00+01:00' is out"),
        (["--cursor", "not-a-cursor"], "--cursor: not a cursor a listing gave out"),
    ],
)
def test_bad_values_are_one_line(triad: Triad, args: list[str], says: str) -> None:
    result = triad("ops", "list", *args)
    assert result.exit_code == 2
    assert one_error_line(result).startswith(f"error: {says}")


def test_a_cursor_from_other_filters_is_refused(listed: Triad) -> None:
    page = data(listed("ops", "list", "--type", "monitoring", "--limit", "1", "--json"))
    result = listed("ops", "list", "--type", "maintenance", "--cursor", page[0]["cursor"])
    assert result.exit_code == 2
    assert "--cursor: made for other filters" in one_error_line(result)
