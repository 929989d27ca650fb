"""Procedure files: each kind of mistake is refused at load, naming the file, key and fix.

The registries are the real built-in ones; the files are real files in a folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from triadops.actions.procedures import BUILTIN, ProcedureCatalogue, check_paths
from triadops.actions.procedures.files import MAX_FILE_BYTES
from triadops.runtime import registries
from triadops.settings import Settings

GOOD_TOML = """\
name = "deploy"
description = "Deploy a tagged build"
operation_type = "deployment"
constitutional_authority = ["executive", "legislative"]
risk = "medium"
rollback_plan = "Run again with the previous tag."
validation_criteria = ["system_functionality_maintained"]

[params.pause]
type = "float"
min = 0
max = 5
default = 0.0

[params.tag]
type = "str"
pattern = "v[0-9]+"

[[steps]]
action = "noop"
params = { sleep_s = "{pause}", marker = "{tag}" }

[[steps]]
action = "database.purge_audit_logs"
params = { older_than_days = 30 }
"""

GOOD_YAML = """\
name: deploy
description: Deploy a tagged build
operation_type: deployment
constitutional_authority: executive
risk: medium
rollback_plan: Run again with the previous tag.
validation_criteria: [system_functionality_maintained]
params:
  pause: {type: float, min: 0, max: 5, default: 0.0}
  tag: {type: str, pattern: "v[0-9]+"}
steps:
  - action: noop
    params: {sleep_s: "{pause}", marker: "{tag}"}
  - action: database.purge_audit_logs
    params: {older_than_days: 30}
"""


def load(*paths: Path) -> tuple[ProcedureCatalogue, list[str]]:
    actions, checks = registries(Settings())
    catalogue, problems = check_paths(
        [BUILTIN, *paths], actions=actions, checks=checks.names(), required={str(p) for p in paths}
    )
    return catalogue, [str(p) for p in problems]


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("file", "text"), [("deploy.toml", GOOD_TOML), ("deploy.yaml", GOOD_YAML)])
def test_toml_and_yaml_declare_the_same_procedure(tmp_path: Path, file: str, text: str) -> None:
    catalogue, problems = load(write(tmp_path, file, text))
    assert problems == []
    deploy = catalogue.get("deploy")
    assert catalogue.source("deploy") == str(tmp_path / file)
    assert [a.value for a in deploy.constitutional_authority] in (
        ["executive", "legislative"],
        ["executive"],
    )
    steps = deploy.rendered(deploy.arguments({"pause": 2, "tag": "v7"}))
    assert steps[0].params == {"sleep_s": 2, "marker": "v7"}  # the type kept: 2, not "2"
    assert steps[1].params == {"older_than_days": 30}


def test_both_forms_hash_alike(tmp_path: Path) -> None:
    toml, _ = load(write(tmp_path / "a", "deploy.toml", GOOD_TOML))
    yaml, _ = load(
        write(
            tmp_path / "b",
            "deploy.yaml",
            GOOD_YAML.replace(
                "constitutional_authority: executive",
                "constitutional_authority: [executive, legislative]",
            ),
        )
    )
    assert toml.get("deploy").digest() == yaml.get("deploy").digest()


MISTAKES: dict[str, tuple[str, str, str]] = {
    "TOML syntax error": (
        "deploy.toml",
        GOOD_TOML.replace('risk = "medium"', "risk = medium"),
        "deploy.toml: TOML syntax error: Invalid value (at line 5, column 8)",
    ),
    "YAML syntax error": (
        "deploy.yaml",
        GOOD_YAML.replace("risk: medium", "risk: [medium"),
        "deploy.yaml: line 6: YAML syntax error:",
    ),
    "YAML alias": (
        "deploy.yaml",
        GOOD_YAML.replace("risk: medium", "risk: &r medium\nextra: *r"),
        "deploy.yaml: line 6: YAML aliases (*name) are not allowed",
    ),
    "unknown key": (
        "deploy.toml",
        GOOD_TOML.replace("rollback_plan =", "rollback_plna ="),
        "deploy.toml: rollback_plna: unknown key 'rollback_plna' (did you mean 'rollback_plan'?)",
    ),
    "unknown key in a step": (
        "deploy.toml",
        GOOD_TOML.replace('action = "noop"', 'acton = "noop"'),
        "deploy.toml: steps[0].acton: unknown key 'acton' (did you mean 'action'?)",
    ),
    "unknown key in a parameter": (
        "deploy.yaml",
        GOOD_YAML.replace("pattern:", "patern:"),
        "deploy.yaml: params.tag.patern: unknown key 'patern' (did you mean 'pattern'?)",
    ),
    "unknown action": (
        "deploy.toml",
        GOOD_TOML.replace('"database.purge_audit_logs"', '"database.purge_audit_log"'),
        "deploy.toml: steps[1].action: unknown action 'database.purge_audit_log' "
        "(did you mean 'database.purge_audit_logs'?)",
    ),
    "unknown check": (
        "deploy.yaml",
        GOOD_YAML.replace("[system_functionality_maintained]", "[no_data_los]"),
        "deploy.yaml: validation_criteria[0]: unknown check 'no_data_los' "
        "(did you mean 'no_data_loss'?)",
    ),
    "reference to an undeclared param": (
        "deploy.toml",
        GOOD_TOML.replace('marker = "{tag}"', 'marker = "{tga}"'),
        "deploy.toml: steps[0].params.marker: refers to {tga}, which params does not declare "
        "(did you mean 'tag'?)",
    ),
    "a reference inside text": (
        "deploy.toml",
        GOOD_TOML.replace('marker = "{tag}"', 'marker = "build-{tag}"'),
        "deploy.toml: steps[0].params.marker: {tag} inside text is not a reference",
    ),
    "a value that breaks the action's params": (
        "deploy.toml",
        GOOD_TOML.replace("older_than_days = 30", 'older_than_days = "thirty"'),
        "deploy.toml: steps[1].params.older_than_days: Input should be a valid integer",
    ),
    "a param default that breaks the action's params": (
        "deploy.yaml",
        GOOD_YAML.replace("max: 5, default: 0.0", "default: 9999.0"),
        "deploy.yaml: steps[0].params.sleep_s: Input should be less than or equal to 3600",
    ),
    "an unknown param of the action": (
        "deploy.yaml",
        GOOD_YAML.replace("{older_than_days: 30}", "{older_than_days: 30, vacuum: true}"),
        "deploy.yaml: steps[1].params.vacuum: Extra inputs are not permitted",
    ),
    "risk lower than a step's": (
        "deploy.toml",
        GOOD_TOML.replace('risk = "medium"', 'risk = "low"'),
        "deploy.toml: risk: declared 'low', lower than steps[1] (database.purge_audit_logs), "
        "whose risk is 'medium'",
    ),
    "name and stem differ": (
        "deploy.toml",
        GOOD_TOML.replace('name = "deploy"', 'name = "deploy_web"'),
        "deploy.toml: name: 'deploy_web' is not the file's name 'deploy'",
    ),
    "missing required key": (
        "deploy.yaml",
        GOOD_YAML.replace("rollback_plan: Run again with the previous tag.\n", ""),
        "deploy.yaml: rollback_plan: missing required key",
    ),
    "a bad param declaration": (
        "deploy.yaml",
        GOOD_YAML.replace('pattern: "v[0-9]+"', 'pattern: "v[0-9"'),
        "deploy.yaml: params.tag.pattern: Value error, pattern 'v[0-9' is not a valid RE2",
    ),
    "a bad enum value": (
        "deploy.toml",
        GOOD_TOML.replace('operation_type = "deployment"', 'operation_type = "deploy"'),
        "deploy.toml: operation_type: Input should be 'maintenance', 'deployment'",
    ),
    "not a mapping": ("deploy.yaml", "- just\n- a list\n", "deploy.yaml: a procedure is a YAML"),
}


@pytest.mark.parametrize("kind", list(MISTAKES))
def test_each_mistake_is_one_precise_problem_and_the_file_stays_out(
    tmp_path: Path, kind: str
) -> None:
    file, text, expected = MISTAKES[kind]
    folder = tmp_path / "procedures"
    write(folder, file, text)
    catalogue, problems = load(folder)
    assert len(problems) == 1, problems
    assert problems[0].startswith(str(folder / expected.split(": ", 1)[0]) + ": ")
    assert expected.split(": ", 1)[1] in problems[0], problems[0]
    assert "deploy" not in catalogue.names()
    assert "database_optimization" in catalogue.names()  # the rest still load


def test_a_duplicate_name_across_folders_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path / "one", "deploy.toml", GOOD_TOML)
    write(tmp_path / "two", "deploy.yaml", GOOD_YAML)
    write(tmp_path / "two", "cache_cleanup.toml", (BUILTIN / "cache_cleanup.toml").read_text())
    catalogue, problems = load(tmp_path / "one", tmp_path / "two")
    assert problems == [
        f"{tmp_path / 'two' / 'cache_cleanup.toml'}: name: 'cache_cleanup' is also declared by "
        "builtin:cache_cleanup.toml",
        f"{tmp_path / 'two' / 'deploy.yaml'}: name: 'deploy' is also declared by {first}",
    ]
    assert catalogue.source("deploy") == str(first)


def test_a_missing_configured_folder_and_an_oversized_file_are_problems(tmp_path: Path) -> None:
    big = write(tmp_path / "big", "deploy.toml", GOOD_TOML + "#" * MAX_FILE_BYTES)
    _, problems = load(tmp_path / "nowhere", big.parent)
    assert problems == [
        f"{tmp_path / 'nowhere'}: no such file or folder",
        f"{big}: larger than {MAX_FILE_BYTES} bytes ({big.stat().st_size})",
    ]


def test_other_files_in_a_folder_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "# notes")
    write(tmp_path, ".deploy.toml.swp", "garbage")
    write(tmp_path, "deploy.toml", GOOD_TOML)
    catalogue, problems = load(tmp_path)
    assert problems == []
    shipped = [file.stem for file in BUILTIN.glob("*.toml")]
    assert catalogue.names() == sorted([*shipped, "deploy"])
    assert "README" not in catalogue.names()
