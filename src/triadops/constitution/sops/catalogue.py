"""The SOP catalogue: the shipped templates, plus the user's own, validated at load.

The shipped templates (``templates/*.toml``, the seed's SOP-001 to SOP-004) load first;
then every ``*.toml`` in ``$TRIAD_HOME/sops/``, where a file with a shipped SOP's ``id``
replaces it and a new ``id`` adds one. A file that does not fit is refused with its path,
the key and what is wrong; nothing loads half. Each template's sha256 is governance: every
process writing to one database must hold the same catalogue (`SopCatalogue.governance`).
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from pydantic import JsonValue, ValidationError

from triadops.domain.enums import OperationType
from triadops.domain.errors import InvalidRequest, NotFound
from triadops.domain.sops import Sop, SopEntry

BUILTIN = "builtin"
MAX_TEMPLATE_BYTES = 64 * 1024
"""A template is a page of TOML; a larger file is refused before it is parsed."""
USER_FOLDER = "sops"
"""The folder in ``$TRIAD_HOME`` where users add or replace SOPs."""


class SopCatalogue:
    """The SOPs in force, by id, and which one governs each operation type."""

    def __init__(self, entries: Iterable[SopEntry]) -> None:
        self.entries = tuple(sorted(entries, key=lambda e: e.id))
        self._by_type = {kind: entry for entry in self.entries for kind in entry.governs}

    def governing(self, kind: OperationType) -> SopEntry | None:
        """Return the SOP that governs operations of type `kind`, or None."""
        return self._by_type.get(kind)

    def get(self, name: str) -> SopEntry:
        """Return the SOP with this id (``SOP-001``, any case) or name (``deployment``)."""
        wanted = name.strip()
        for entry in self.entries:
            if entry.id == wanted.upper() or entry.name == wanted.lower():
                return entry
        known = ", ".join(f"{e.id} ({e.name})" for e in self.entries)
        raise NotFound(f"no SOP {name!r} (known: {known})", field="name")

    def reviewed_types(self) -> list[OperationType]:
        """The operation types whose SOP asks the crown for a post-change review."""
        return sorted(kind for kind, entry in self._by_type.items() if entry.review)

    def governance(self) -> dict[str, JsonValue]:
        """Each SOP's digest under ``sops.<id>``: what every writer must share."""
        return {f"sops.{entry.id}": entry.digest for entry in self.entries}


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _suggestion(error: dict[str, object]) -> str:
    loc = error.get("loc")
    if error.get("type") != "extra_forbidden" or not isinstance(loc, tuple) or len(loc) != 1:
        return ""
    close = difflib.get_close_matches(str(loc[0]), list(Sop.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parse_template(text: bytes, *, source: str) -> SopEntry:
    """Validate one template's bytes; InvalidRequest names `source`, the key and the fault."""
    if len(text) > MAX_TEMPLATE_BYTES:
        raise InvalidRequest(f"{source}: larger than {MAX_TEMPLATE_BYTES} bytes", field=source)
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidRequest(f"{source}: not UTF-8 text", field=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidRequest(f"{source}: not TOML: {exc}", field=source) from None
    try:
        sop = Sop.model_validate(data)
    except ValidationError as exc:
        faults = [f"{_where(e['loc'])}: {e['msg']}{_suggestion(dict(e))}" for e in exc.errors()[:5]]
        more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
        raise InvalidRequest(f"{source}: {'; '.join(faults)}{more}", field=source) from None
    digest = hashlib.sha256(text).hexdigest()
    return SopEntry(**sop.model_dump(), source=source, digest=digest)


def builtin_templates() -> list[SopEntry]:
    """The shipped SOPs, SOP-001 to SOP-004."""
    folder = resources.files(__package__).joinpath("templates")
    found = sorted(
        (item for item in folder.iterdir() if item.name.endswith(".toml")), key=lambda i: i.name
    )
    return [parse_template(item.read_bytes(), source=BUILTIN) for item in found]


def _user_templates(folder: Path) -> list[SopEntry]:
    if not folder.is_dir():
        return []
    entries = []
    for path in sorted(folder.glob("*.toml")):
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise InvalidRequest(f"{path}: cannot read: {exc.strerror}", field=str(path)) from None
        entries.append(parse_template(text, source=str(path)))
    return entries


def load_catalogue(folder: Path | None) -> SopCatalogue:
    """Load the shipped SOPs, then the user's from `folder` (replacing by id); refuse misfits."""
    by_id = {entry.id: entry for entry in builtin_templates()}
    users: dict[str, SopEntry] = {}
    for entry in _user_templates(folder) if folder is not None else []:
        if entry.id in users:
            raise InvalidRequest(
                f"{entry.source}: id: {entry.id} is defined in {users[entry.id].source} too",
                field=entry.source,
            )
        users[entry.id] = entry
    by_id.update(users)
    governed: dict[OperationType, SopEntry] = {}
    names: dict[str, SopEntry] = {}
    for entry in sorted(by_id.values(), key=lambda e: e.id):
        other = names.setdefault(entry.name, entry)
        if other is not entry:
            raise InvalidRequest(
                f"{_blame(entry, other)}: name: {entry.name!r} is {other.id}'s name too",
                field=entry.source,
            )
        for kind in entry.governs:
            other = governed.setdefault(kind, entry)
            if other is not entry:
                raise InvalidRequest(
                    f"{_blame(entry, other)}: governs: {kind.value} is governed by "
                    f"{other.id} and {entry.id}; one SOP a type (give a file the id of the "
                    "SOP it replaces)",
                    field=entry.source,
                )
    return SopCatalogue(by_id.values())


def _blame(entry: SopEntry, other: SopEntry) -> str:
    """The user's file of two that clash (a shipped template never clashes with another)."""
    return entry.source if entry.source != BUILTIN else other.source
