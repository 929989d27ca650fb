"""``triad logs analyze``: here, through a server, and its refusals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from tests.cli.conftest import Server, Triad, data, one_error_line
from tests.ops.logs.corpus import line, write
from triadops.cli.main import app
from triadops.domain.clock import utcnow
from triadops.settings import Settings


def seed(home: Path) -> None:
    now = utcnow()
    write(
        home / "logs" / "executive.log",
        [line(now - timedelta(minutes=m), "stage ran") for m in range(1, 30)]
        + [line(now - timedelta(minutes=m), f"step {m} failed", "error") for m in range(1, 4)],
    )


def test_analyze_here_as_a_table_and_as_json(triad: Triad, cli_env: dict[str, str]) -> None:
    seed(Path(cli_env["TRIAD_HOME"]))
    found = data(triad("logs", "analyze", "--since", "1h", "--json"))
    assert found["lines"] == 32 and found["sources"] == ["triad"]
    (template,) = found["templates"]
    assert (template["template"], template["count"]) == ("step <NUM> failed", 3)
    shown = triad("logs", "analyze", "--since", "2h", "--source", "triad")
    assert shown.exit_code == 0, shown.output
    assert "warning and error templates" in shown.stdout and "step <NUM> failed" in shown.stdout
    assert "- 3 errors and 0 warnings in 32 lines." in shown.stdout


def test_bad_input_is_one_line(triad: Triad) -> None:
    line_ = one_error_line(triad("logs", "analyze", "--since", "yesterday"))
    assert line_.startswith("error: --since: 'yesterday' is neither a duration")
    assert one_error_line(triad("logs", "analyze", "--until", "soon")).startswith("error: --until:")
    assert "known: triad" in one_error_line(triad("logs", "analyze", "--source", "nope"))


def test_analyze_through_the_server(
    both: tuple[CliRunner, dict[str, str], dict[str, str]], server: Server, settings: Settings
) -> None:
    runner, _, remote = both
    seed(settings.home)
    there = runner.invoke(app, ["logs", "analyze", "--since", "1h", "--json"], env=remote)
    assert there.exit_code == 0, there.output
    found = data(there)
    counts = {t["template"]: t["count"] for t in found["templates"]}
    assert counts["step <NUM> failed"] == 3, "the server's own lines are read too"
    assert found["lines"] > 32
    refused = runner.invoke(app, ["logs", "analyze", "--since", "yesterday"], env=remote)
    assert "since: 'yesterday' is neither" in one_error_line(refused)
