"""The examples of ``docs/procedures.md`` load as written, and say the same in both forms."""

from __future__ import annotations

import re
from pathlib import Path

from tests.actions.procedures.test_files import load

DOC = Path(__file__).parents[3] / "docs" / "procedures.md"


def _block(language: str) -> str:
    found = re.search(rf"^```{language}\n(.*?)^```$", DOC.read_text(), re.M | re.S)
    assert found, language
    return found.group(1)


def test_the_documented_example_loads_the_same_from_toml_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "toml").mkdir()
    (tmp_path / "yaml").mkdir()
    (tmp_path / "toml" / "drill.toml").write_text(_block("toml"))
    (tmp_path / "yaml" / "drill.yaml").write_text(_block("yaml"))
    from_toml, problems = load(tmp_path / "toml")
    assert problems == []
    from_yaml, problems = load(tmp_path / "yaml")
    assert problems == []
    drill = from_toml.get("drill")
    assert drill == from_yaml.get("drill")
    assert drill.expected_duration_s == 5
    rendered = drill.rendered(drill.arguments({"label": "first-drill"}))
    assert rendered[0].params == {"sleep_s": 0.0, "marker": "first-drill"}
