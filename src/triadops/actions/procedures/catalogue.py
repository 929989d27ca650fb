"""The procedure catalogue: files checked against the registered actions and checks.

Loaded in order: the built-in files, ``$TRIAD_HOME/procedures``, the configured folders.
A catalogue loads whole or not at all: procedures are governance, so a file with a mistake
stops the process that loads it, naming the file and key (`ProceduresInvalid`), rather
than vanishing from the catalogue without a word.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import JsonValue, ValidationError

from triadops.actions.procedures.files import (
    SUFFIXES,
    Problem,
    declaration,
    key_path,
    read,
    suggestion,
)
from triadops.actions.procedures.model import Procedure, references, render_value
from triadops.actions.registry import ActionRegistry, AnyAction
from triadops.domain.errors import NotFound, ProceduresInvalid
from triadops.domain.parameters import ParamValue
from triadops.settings import Settings

BUILTIN = Path(__file__).parent / "builtin"
"""The procedures shipped with triadops, as files of the same form."""


@dataclass(frozen=True, slots=True)
class Entry:
    """A loaded procedure and the file it came from."""

    procedure: Procedure
    source: str


class ProcedureCatalogue:
    """Procedures by name; a request can ask for no other."""

    def __init__(self, entries: Sequence[Entry] = ()) -> None:
        self._entries = {entry.procedure.name: entry for entry in entries}

    def get(self, name: str) -> Procedure:
        """Return the procedure called `name`, or raise NotFound listing the catalogue."""
        try:
            return self._entries[name].procedure
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise NotFound(
                f"unknown procedure {name!r}{suggestion(name, list(self._entries))} "
                f"(known: {known})",
                field="procedure",
            ) from None

    def source(self, name: str) -> str:
        """Return the file a procedure was loaded from."""
        return self._entries[name].source

    def names(self) -> list[str]:
        """Procedure names, sorted."""
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Procedure]:
        return iter(entry.procedure for _, entry in sorted(self._entries.items()))

    def digests(self) -> dict[str, str]:
        """Each procedure's digest, under ``procedures.<name>`` (for the governance check)."""
        return {f"procedures.{name}": e.procedure.digest() for name, e in self._entries.items()}


def folders(settings: Settings) -> list[Path]:
    """The folders of user procedures, in load order: ``$TRIAD_HOME/procedures``, configured."""
    return [settings.home / "procedures", *settings.procedure_folders]


def load_catalogue(
    settings: Settings, *, actions: ActionRegistry, checks: Collection[str]
) -> ProcedureCatalogue:
    """Load the built-in and the user's procedures; raise ProceduresInvalid on any problem."""
    catalogue, problems = check_paths(
        [BUILTIN, *folders(settings)],
        actions=actions,
        checks=checks,
        required={str(f) for f in settings.procedure_folders},
    )
    if problems:
        raise ProceduresInvalid([str(p) for p in problems])
    return catalogue


def check_paths(
    paths: Sequence[Path],
    *,
    actions: ActionRegistry,
    checks: Collection[str],
    required: Collection[str] = (),
) -> tuple[ProcedureCatalogue, list[Problem]]:
    """Load files and folders of procedures, in order; return what loaded and every problem.

    A folder in `required` (a configured one) or a path given by hand must exist; the
    default ``$TRIAD_HOME/procedures`` may be absent.
    """
    problems: list[Problem] = []
    entries: dict[str, Entry] = {}
    seen: set[Path] = set()
    for path in paths:
        for file in _files(path, problems, must_exist=str(path) in required):
            if file.resolve() in seen:
                continue
            seen.add(file.resolve())
            label = _label(file)
            found = _load(file, label, actions=actions, checks=checks)
            if isinstance(found, list):
                problems.extend(found)
                continue
            if found.name in entries:
                problems.append(
                    Problem(
                        label,
                        "name",
                        f"{found.name!r} is also declared by {entries[found.name].source}",
                    )
                )
                continue
            entries[found.name] = Entry(found, label)
    return ProcedureCatalogue(list(entries.values())), problems


def _label(file: Path) -> str:
    return f"builtin:{file.name}" if file.parent == BUILTIN else str(file)


def _files(path: Path, problems: list[Problem], *, must_exist: bool) -> list[Path]:
    if path.is_dir():
        return sorted(
            p for p in path.iterdir() if p.suffix in SUFFIXES and not p.name.startswith(".")
        )
    if path.is_file():
        return [path]
    if must_exist or path.suffix in SUFFIXES:
        problems.append(Problem(str(path), "", "no such file or folder"))
    return []


def _load(
    file: Path, label: str, *, actions: ActionRegistry, checks: Collection[str]
) -> Procedure | list[Problem]:
    data = read(file, label)
    if isinstance(data, Problem):
        return [data]
    found = declaration(data, label)
    if isinstance(found, list):
        return found
    problems = [Problem(label, where, what) for where, what in _mistakes(found, actions, checks)]
    if found.name != file.stem:
        problems.insert(
            0, Problem(label, "name", f"{found.name!r} is not the file's name {file.stem!r}")
        )
    return problems or found


def _mistakes(
    procedure: Procedure, actions: ActionRegistry, checks: Collection[str]
) -> Iterator[tuple[str, str]]:
    """Yield (key path, what) for what the schema cannot see: names, references, risk."""
    riskiest: tuple[int, AnyAction] | None = None
    for index, step in enumerate(procedure.steps):
        where = f"steps[{index}]"
        try:
            action = actions.get(step.action)
        except NotFound:
            hint = suggestion(step.action, actions.names())
            yield f"{where}.action", f"unknown action {step.action!r}{hint}"
            continue
        yield from _references(procedure, step.params, where)
        yield from _params_fit(procedure, action, step.params, where)
        if riskiest is None or action.risk.rank > riskiest[1].risk.rank:
            riskiest = (index, action)
    if riskiest is not None and riskiest[1].risk.rank > procedure.risk.rank:
        index, action = riskiest
        yield (
            "risk",
            f"declared {procedure.risk.value!r}, lower than steps[{index}] ({action.name}), "
            f"whose risk is {action.risk.value!r}: a procedure is at least as risky as its "
            "riskiest step",
        )
    known = sorted(checks)
    for index, name in enumerate(procedure.validation_criteria):
        if name not in checks:
            yield (
                f"validation_criteria[{index}]",
                f"unknown check {name!r}{suggestion(name, known)}",
            )


def _references(
    procedure: Procedure, params: dict[str, JsonValue], where: str
) -> Iterator[tuple[str, str]]:
    declared = list(procedure.params)
    for path, name, whole in references(params, f"{where}.params"):
        if whole and name not in procedure.params:
            yield (
                path,
                f"refers to {{{name}}}, which params does not declare{suggestion(name, declared)}",
            )
        elif not whole and name in procedure.params:
            yield (
                path,
                f"{{{name}}} inside text is not a reference: a reference is the whole value "
                f'("{{{name}}}"), so no text is built from a parameter',
            )


def _params_fit(
    procedure: Procedure, action: AnyAction, params: dict[str, JsonValue], where: str
) -> Iterator[tuple[str, str]]:
    """Check a step's params against its action's model, references at their defaults.

    A reference without a default is checked at submission, once its value is known.
    """
    sample: dict[str, ParamValue] = {}
    for name, spec in procedure.params.items():
        if spec.default is not None:
            sample[name] = spec.default
        elif spec.choices:
            sample[name] = spec.choices[0]
    unknown: set[str] = set()
    filled: dict[str, JsonValue] = {}
    for key, value in params.items():
        names = [name for _, name, whole in references(value, key) if whole]
        if any(name not in sample for name in names):
            unknown.add(key)
            continue
        filled[key] = render_value(value, sample)
    try:
        action.parse(filled)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            if loc and str(loc[0]) in unknown and error["type"] == "missing":
                continue
            yield f"{where}.params.{key_path(loc)}", str(error["msg"])
