"""The README's approval tour runs as written and prints what the README shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.cli.conftest import Triad

README = Path(__file__).parents[2] / "README.md"


def tour() -> list[tuple[list[str], list[str]]]:
    """Return (argv, expected lines) for each `$ triad …` command of the approval tour."""
    text = README.read_text()
    start = text.index("Risky work waits for people.")
    block = text[
        text.index("```console", start) + len("```console") : text.index("```\n", start + 100)
    ]
    block = block.replace("\\\n", " ")
    steps: list[tuple[list[str], list[str]]] = []
    for line in block.strip().splitlines():
        if line.startswith("$ triad "):
            steps.append((shlex.split(line[len("$ triad ") :]), []))
        elif steps and "│" not in line and "…" not in line:
            steps[-1][1].append(re.sub(r"\s+\(exit \d+\)$", "", line).strip())
    return steps


def test_readme_tour_runs_as_written(triad: Triad) -> None:
    steps = tour()
    assert len(steps) >= 6
    for argv, expected in steps:
        result = triad(*argv)
        printed = {line.strip() for line in result.output.splitlines()}
        for line in expected:
            assert line in printed, (
                f"`triad {' '.join(argv)}` did not print {line!r}:\n{result.output}"
            )
