"""Read procedure files (TOML or YAML, one schema) into declarations, naming each mistake.

A problem names its file, the key path (``steps[1].action``) or the line of a syntax error,
and what is wrong, with a suggestion for a misspelt key. Files are size-capped, and YAML
aliases are refused: a file expands to what it says, never to a billion laughs.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from triadops.actions.procedures.model import Procedure, ProcedureStep
from triadops.domain.parameters import ParamSpec

MAX_FILE_BYTES = 256 * 1024
"""The largest procedure file read; a bigger one is a problem, not a slow start."""
SUFFIXES = {".toml": "TOML", ".yaml": "YAML", ".yml": "YAML"}


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in one procedure file."""

    file: str
    where: str
    """The key path (``steps[1].action``), ``line N``, or empty for the whole file."""
    what: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.where}: {self.what}" if self.where else f"{self.file}: {self.what}"
        )


def suggestion(word: str, known: list[str]) -> str:
    """Return `` (did you mean 'x'?)`` for a close match among `known`, else nothing."""
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def key_path(loc: tuple[int | str, ...]) -> str:
    """Write a pydantic location as a key path: ``steps[1].params.tag``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def read(path: Path, label: str) -> dict[str, Any] | Problem:
    """Parse one file into a mapping, or return the problem (syntax errors with their line)."""
    kind = SUFFIXES.get(path.suffix)
    if kind is None:
        return Problem(label, "", f"not a procedure file (use {', '.join(SUFFIXES)})")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return Problem(label, "", f"larger than {MAX_FILE_BYTES} bytes ({size})")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Problem(label, "", "no such file")
    except (OSError, UnicodeDecodeError) as exc:
        return Problem(label, "", f"cannot read it: {exc}")
    data = _toml(text, label) if kind == "TOML" else _yaml(text, label)
    if isinstance(data, Problem):
        return data
    if not isinstance(data, dict):
        return Problem(
            label, "", f"a procedure is a {kind} mapping of keys, not {type(data).__name__}"
        )
    return data


def _toml(text: str, label: str) -> object:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends "(at line L, column C)"
        return Problem(label, "", f"TOML syntax error: {exc}")


def _yaml(text: str, label: str) -> object:
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else "?"
                return Problem(label, f"line {line}", "YAML aliases (*name) are not allowed")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return Problem(label, where, f"YAML syntax error: {problem}")


def declaration(data: dict[str, Any], label: str) -> Procedure | list[Problem]:
    """Validate a file's mapping as a procedure; every schema mistake is a problem."""
    try:
        return Procedure.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
    # A misspelt key is one mistake, not two: its suggestion stands for the missing key.
    meant = {
        (*error["loc"][:-1], close)
        for error in errors
        if error["type"] == "extra_forbidden"
        for close in _close(error["loc"])
    }
    return [
        _problem(label, error)
        for error in errors
        if not (error["type"] == "missing" and tuple(error["loc"]) in meant)
    ]


def _close(loc: tuple[int | str, ...]) -> list[str]:
    known = list(_model_at(loc[:-1]).model_fields)
    return difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)


def _problem(label: str, error: Any) -> Problem:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        close = _close(loc)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return Problem(label, key_path(loc), f"unknown key {str(loc[-1])!r}{hint}")
    if kind == "missing":
        return Problem(label, key_path(loc), "missing required key")
    return Problem(label, key_path(loc), str(error["msg"]))


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The model whose keys live at `loc` (the file's top, a step, a parameter)."""
    if len(loc) == 2 and loc[0] == "steps":
        return ProcedureStep
    if len(loc) == 2 and loc[0] == "params":
        return ParamSpec
    return Procedure
