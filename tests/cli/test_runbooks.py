"""``triad runbooks list|show|validate``: the catalogue without a database, mistakes named."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Triad, data, one_error_line


def test_the_seeds_runbooks_list_and_show_without_a_database(triad: Triad) -> None:
    listed = data(triad("runbooks", "list", "--json"))
    assert [e["runbook"]["name"] for e in listed] == [
        "constitutional_compliance_failure",
        "data_inconsistency",
        "high_response_time",
    ]
    shown = triad("runbooks", "show", "high_response_time")
    assert shown.exit_code == 0, shown.output
    assert "check_database_performance: health database.*.latency_s" in shown.stdout
    assert "procedure database_optimization when" in shown.stdout


def test_an_unknown_runbook_is_one_error_line(triad: Triad) -> None:
    line = one_error_line(triad("runbooks", "show", "high_response"))
    assert "no runbook 'high_response' (did you mean 'high_response_time'?)" in line


def test_validate_names_every_mistake_and_exits_1(triad: Triad, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.yaml").write_text(
        "name: a\ntitle: A\ndiagnostics:\n  - name: x\n    check: nope\n"
        "resolutions:\n  - name: y\n    procedure: cache_cleanup\n"
    )
    (folder / "b.yaml").write_text("name: b\n")
    result = triad("runbooks", "validate", str(folder))
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert f"error: {folder / 'a.yaml'}: diagnostics[0].check: no check 'nope'" in errors
    assert f"error: {folder / 'b.yaml'}: title: missing required key" in errors
    good = triad("runbooks", "validate")
    assert good.exit_code == 0 and "3 runbooks valid" in good.stdout
