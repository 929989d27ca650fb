"""The runbook catalogue: the shipped runbooks, then the user's, validated at load.

The shipped runbooks (``builtin/*.yaml``, the seed's three scenarios) load first, then every
``*.yaml``, ``*.yml`` or ``*.toml`` in ``$TRIAD_HOME/runbooks/``: a file whose ``name`` is a
shipped runbook's replaces it, a new name adds one. A problem names its file, the key path
(``diagnostics[2].check``) or the line of a syntax error, and what is wrong, with a
suggestion for a misspelt key or an unknown check, procedure or action; nothing loads half.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from triadops.actions.procedures.files import SUFFIXES, Problem, key_path, read, suggestion
from triadops.domain.errors import NotFound, RunbooksInvalid
from triadops.domain.runbooks import Diagnostic, LogQuery, Resolution, Runbook, RunbookEntry

BUILTIN = Path(str(resources.files("triadops.ops.runbooks") / "builtin"))
USER_FOLDER = "runbooks"
"""The folder in ``$TRIAD_HOME`` where users add or replace runbooks."""


class RunbookCatalogue:
    """The runbooks in force, by name, and which answer each alert."""

    def __init__(self, entries: Iterable[RunbookEntry]) -> None:
        self.entries = tuple(sorted(entries, key=lambda e: e.runbook.name))
        self._by_name = {e.runbook.name: e for e in self.entries}

    def get(self, name: str) -> RunbookEntry:
        """The runbook `name`, or NotFound naming the known ones."""
        found = self._by_name.get(name.strip().lower())
        if found is None:
            known = list(self._by_name)
            raise NotFound(
                f"no runbook {name!r}{suggestion(name, known)} (known: {', '.join(known)})",
                field="name",
            )
        return found

    def answering(self, alertname: str) -> list[RunbookEntry]:
        """The runbooks that name `alertname` among their alerts."""
        return [e for e in self.entries if alertname in e.runbook.alerts]

    def names(self) -> list[str]:
        """Every runbook's name, sorted."""
        return list(self._by_name)


def check_paths(
    paths: Sequence[Path],
    *,
    checks: Collection[str],
    procedures: Collection[str],
    actions: Collection[str],
) -> tuple[RunbookCatalogue, list[Problem]]:
    """Load runbook files and folders in order; return what loaded and every problem."""
    problems: list[Problem] = []
    entries: dict[str, RunbookEntry] = {}
    for path in paths:
        files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES) if path.is_dir() else []
        if path.is_file():
            files = [path]
        elif not path.exists() and path != BUILTIN:
            continue
        for file in files:
            label = "builtin/" + file.name if path == BUILTIN else str(file)
            found = _load(file, label, checks=checks, procedures=procedures, actions=actions)
            if isinstance(found, list):
                problems += found
            else:
                entries[found.name] = RunbookEntry(
                    runbook=found, source="builtin" if path == BUILTIN else str(file)
                )
    return RunbookCatalogue(entries.values()), problems


def load_runbooks(
    home: Path,
    *,
    checks: Collection[str],
    procedures: Collection[str],
    actions: Collection[str],
) -> RunbookCatalogue:
    """Load the shipped and the user's runbooks; raise RunbooksInvalid on any problem."""
    catalogue, problems = check_paths(
        [BUILTIN, home / USER_FOLDER], checks=checks, procedures=procedures, actions=actions
    )
    if problems:
        raise RunbooksInvalid([str(p) for p in problems])
    return catalogue


def _load(
    file: Path,
    label: str,
    *,
    checks: Collection[str],
    procedures: Collection[str],
    actions: Collection[str],
) -> Runbook | list[Problem]:
    data = read(file, label)
    if isinstance(data, Problem):
        return [data]
    try:
        runbook = Runbook.model_validate(data)
    except ValidationError as exc:
        return [_problem(label, error) for error in exc.errors()]
    problems = []
    for i, diagnostic in enumerate(runbook.diagnostics):
        if diagnostic.check is not None and diagnostic.check not in checks:
            hint = suggestion(diagnostic.check, list(checks))
            problems.append(
                Problem(label, f"diagnostics[{i}].check", f"no check {diagnostic.check!r}{hint}")
            )
    for i, fix in enumerate(runbook.resolutions):
        if fix.procedure is not None and fix.procedure not in procedures:
            hint = suggestion(fix.procedure, list(procedures))
            problems.append(
                Problem(
                    label, f"resolutions[{i}].procedure", f"no procedure {fix.procedure!r}{hint}"
                )
            )
        if fix.action is not None and fix.action not in actions:
            hint = suggestion(fix.action, list(actions))
            problems.append(
                Problem(label, f"resolutions[{i}].action", f"no action {fix.action!r}{hint}")
            )
    return problems or runbook


def _problem(label: str, error: Any) -> Problem:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        hint = suggestion(str(loc[-1]), list(_model_at(loc[:-1]).model_fields))
        return Problem(label, key_path(loc), f"unknown key {str(loc[-1])!r}{hint}")
    if error["type"] == "missing":
        return Problem(label, key_path(loc), "missing required key")
    message = str(error["msg"]).removeprefix("Value error, ")
    return Problem(label, key_path(loc), message)


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model whose keys live at `loc`: the runbook, a diagnostic, its log query, a fix."""
    if loc[:1] == ("diagnostics",) and len(loc) == 3 and loc[2] == "logs":
        return LogQuery
    if loc[:1] == ("diagnostics",) and len(loc) == 2:
        return Diagnostic
    if loc[:1] == ("resolutions",) and len(loc) == 2:
        return Resolution
    return Runbook
