"""``triad procedures`` and ``triad ops submit --procedure NAME --param KEY=VALUE``.

Locally on both databases, remotely against a real ``triad serve``, and a server that
refuses to start on a bad procedure file, naming it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.actions.procedures.test_files import GOOD_TOML, GOOD_YAML
from tests.cli.conftest import Triad, data, one_error_line, operation
from tests.cli.test_remote import _run
from triadops.actions.procedures.catalogue import BUILTIN
from triadops.settings import Settings


def _home(cli_env: dict[str, str]) -> Path:
    folder = Path(cli_env["TRIAD_HOME"]) / "procedures"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def deploy(cli_env: dict[str, str]) -> Path:
    """A user procedure ``deploy`` in ``$TRIAD_HOME/procedures``."""
    path = _home(cli_env) / "deploy.toml"
    path.write_text(GOOD_TOML)
    return path


def test_list_and_show_the_catalogue(triad: Triad, deploy: Path) -> None:
    lines = data(triad("procedures", "list", "--json"))
    names = [line["name"] for line in lines]
    assert names == sorted([*(file.stem for file in BUILTIN.glob("*.toml")), "deploy"])
    by_name = {line["name"]: line for line in lines}
    assert by_name["deploy"]["source"] == str(deploy)
    assert by_name["database_optimization"]["source"] == "builtin:database_optimization.toml"
    table = triad("procedures", "list").stdout
    assert "deploy" in table and "deployment" in table and "executive, legislative" in table
    shown = triad("procedures", "show", "deploy")
    assert shown.exit_code == 0, shown.output
    assert "param tag: str, pattern 'v[0-9]+', required" in shown.stdout
    assert "param pause: float, min 0, max 5, default 0.0" in shown.stdout
    assert data(triad("procedures", "show", "deploy", "--json"))["risk"] == "medium"
    assert "did you mean 'deploy'" in one_error_line(triad("procedures", "show", "deplyo"))


def test_submit_with_params_renders_them_typed(triad: Triad, deploy: Path) -> None:
    done = triad(
        "ops", "submit", "--procedure", "deploy", "--param", "tag=v12", "--param", "pause=0.25",
        "--id", "op-d",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    shown = operation(triad, "op-d")
    assert shown["request"]["operation_type"] == "deployment"  # from the procedure
    assert shown["request"]["constitutional_authority"] == "executive"
    assert shown["request"]["procedure_params"] == {"tag": "v12", "pause": 0.25}
    assert shown["plan"]["steps"][0]["params"]["sleep_s"] == 0.25
    assert shown["plan"]["steps"][0]["params"]["marker"] == "v12"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--param", "tag=v1"], 2, "--param sets a parameter of --procedure NAME"),
        (["--procedure", "deploy", "--param", "tag"], 2, "--param #1: 'tag' is not KEY=VALUE"),
        (
            ["--procedure", "deploy", "--param", "tag=v1", "--param", "tag=v2"],
            2,
            "--param #2: tag is given twice",
        ),
        (
            ["--procedure", "deploy", "--param", "tag=v1", "--param", "pause=slow"],
            1,
            "procedure_params.pause: expected a number, got str",
        ),
        (  # a str parameter takes the text as is: 1.5 stays "1.5", and misses the pattern
            ["--procedure", "deploy", "--param", "tag=1.5"],
            1,
            "procedure_params.tag: does not match the pattern 'v[0-9]+'",
        ),
        (
            ["--procedure", "deploy", "--param", "tag=v1", "--authority", "crown"],
            1,
            "constitutional_authority: deploy needs executive or legislative authority",
        ),
    ],
)
def test_bad_params_fail_alone_in_one_line(
    triad: Triad, deploy: Path, args: list[str], code: int, message: str
) -> None:
    refused = triad("ops", "submit", *args)
    assert refused.exit_code == code, refused.output
    assert message in one_error_line(refused)
    assert data(triad("ops", "list", "--json")) == []


def test_validate_lists_every_problem_one_line_each(triad: Triad, cli_env: dict[str, str]) -> None:
    folder = _home(cli_env)
    shipped = len(list(BUILTIN.glob("*.toml")))
    assert triad("procedures", "validate").stdout.startswith(f"{shipped} procedures valid:")
    (folder / "deploy.yaml").write_text(GOOD_YAML.replace("risk: medium", "risk: low"))
    (folder / "typo.toml").write_text(GOOD_TOML.replace('name = "deploy"', 'name = "typo"')
                                      .replace('"noop"', '"noopp"'))  # fmt: skip
    found = triad("procedures", "validate")
    assert found.exit_code == 1
    assert found.stderr.splitlines() == [
        f"error: {folder / 'deploy.yaml'}: risk: declared 'low', lower than steps[1] "
        "(database.purge_audit_logs), whose risk is 'medium': a procedure is at least as risky "
        "as its riskiest step",
        f"error: {folder / 'typo.toml'}: steps[0].action: unknown action 'noopp' "
        "(did you mean 'noop'?)",
    ]
    report = data(triad("procedures", "validate", "--json"), exit_code=1)
    assert report["ok"] is False
    assert [p["where"] for p in report["problems"]] == ["risk", "steps[0].action"]
    # A file given by hand is checked alone (with the built-ins), without a database.
    elsewhere = folder.parent.parent / "draft"
    elsewhere.mkdir()
    (elsewhere / "deploy.toml").write_text(GOOD_TOML)
    assert triad("procedures", "validate", str(elsewhere / "deploy.toml")).exit_code == 0
    missing = triad("procedures", "validate", str(elsewhere / "nope.toml"))
    assert one_error_line(missing).endswith("nope.toml: no such file or folder")
    # And every command that would open the database refuses, naming the file.
    refused = one_error_line(triad("ops", "submit", "--step", "noop"))
    assert "typo.toml: steps[0].action: unknown action 'noopp'" in refused


def test_a_server_with_a_bad_procedure_file_refuses_to_start_naming_it(
    settings: Settings, tmp_path: Path
) -> None:
    folder = settings.home / "procedures"
    folder.mkdir()
    (folder / "deploy.toml").write_text(GOOD_TOML.replace("rollback_plan", "rollback"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")},
        "TRIAD_HOME": str(settings.home),
        "TRIAD_DATABASE_URL": settings.resolved_database_url,
        "TRIAD_CONFIG": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "triadops.cli.main", "serve", "--port", "1"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        f"error: {folder / 'deploy.toml'}: rollback: unknown key 'rollback' "
        "(did you mean 'rollback_plan'?)"
    ), done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture
def server_env(settings: Settings) -> dict[str, str]:
    """The server loads the user procedure ``deploy`` (written before it starts)."""
    folder = settings.home / "procedures"
    folder.mkdir(exist_ok=True)
    (folder / "deploy.yaml").write_text(GOOD_YAML)
    return {}


@pytest.mark.slow
def test_remotely_the_server_s_catalogue_is_listed_and_submitted_to(
    both: tuple[CliRunner, dict[str, str], dict[str, str]],
) -> None:
    runner, local, remote = both
    for args in (
        ["procedures", "list"],
        ["procedures", "list", "--json"],
        ["procedures", "show", "deploy"],
        ["procedures", "show", "deploy", "--json"],
    ):
        here, there = _run(runner, local, *args), _run(runner, remote, *args)
        assert here.exit_code == there.exit_code == 0, (args, here.output, there.output)
        assert here.stdout == there.stdout, args
    # The remote CLI has no such file: it learns the declaration from the server.
    submitted = _run(
        runner, remote | {"TRIAD_HOME": "/nonexistent"}, "ops", "submit", "--procedure", "deploy",
        "--param", "tag=v9", "--id", "op-remote",
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    shown = data(_run(runner, local, "ops", "show", "op-remote", "--json"))
    assert shown["plan"]["steps"][0]["params"]["marker"] == "v9"
    assert shown["request"]["requested_by"] == "ops"
    refused = _run(runner, remote, "ops", "submit", "--procedure", "deploy", "--param", "tag=x")
    assert refused.exit_code == 2  # the server's 422 is bad input, as for any remote request
    assert "procedure_params.tag: does not match the pattern" in one_error_line(refused)
