"""Principals: the people, services and agents that act, each under one normalised name.

A token belongs to a principal; separation of duties counts principals, never tokens, so
``Alice``, ``alice `` and ``alice`` are one person and two tokens of one person are still one.

A name that is read (a token's principal, ``--as``) only has to be well formed
(:func:`normalise_principal`), so rows from older releases keep working. A name that is
created (a new principal) must also be unmistakable (:func:`new_principal_problem`): letters
and digits joined by single separators, not one of triadops' own names, and not confusable
with an existing principal. Names are ASCII after NFKC, so Unicode homoglyphs (a Cyrillic
``a``, U+0430) are refused by the pattern; what is left to confuse is ASCII alone (``1``/``l``,
``0``/``o``, ``rn``/``m``) and separators, which :func:`skeleton` folds away, in the spirit
of Unicode TR39's skeleton.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

from pydantic import BeforeValidator

PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
MAX_LENGTH = 64
RESERVED = frozenset(
    {"legislative", "executive", "judicial", "crown", "rules", "system", "triad", "triadops"}
)
"""Names of the branches and of triadops itself. System actors are written ``branch:name``
(``legislative:rules``); the colon is outside the pattern, so no principal can take one."""
SCHEDULER = "triad:scheduler"
"""The system actor that requests routine maintenance runs (``ops/maintenance/scheduled.py``)."""
RUNBOOKS = "triad:runbooks"
"""The system actor that troubleshoots a firing alert by itself (``ops/runbooks/scheduled.py``)."""
REQUESTING_ACTORS = frozenset({SCHEDULER, RUNBOOKS})
"""System actors that request operations in their own name, so a request may name them;
no token, ``--as`` or new principal can take one (`new_principal_problem` refuses the colon)."""


class PrincipalKind(StrEnum):
    """What stands behind a principal."""

    PERSON = "person"
    SERVICE = "service"
    AGENT = "agent"


def normalise_principal(raw: str) -> str:
    """Return the canonical form of a principal's name, or raise ValueError saying why.

    NFKC-folded, trimmed and lower-cased; 1 to 64 of ``a-z 0-9 . _ @ -``, starting with a
    letter or digit; never a reserved name.
    """
    name = unicodedata.normalize("NFKC", raw).strip().casefold()
    if name in REQUESTING_ACTORS:
        return name
    if not name:
        raise ValueError("a principal's name cannot be empty")
    if len(name) > MAX_LENGTH:
        raise ValueError(f"a principal's name has at most {MAX_LENGTH} characters")
    if not PATTERN.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a principal's name: use a-z, 0-9, '.', '_', '@' and '-', "
            "starting with a letter or digit"
        )
    if name in RESERVED:
        raise ValueError(f"{name!r} is reserved for triadops itself")
    return name


NEW_PATTERN = re.compile(r"^[a-z0-9]+(?:[._@-][a-z0-9]+)*$")
"""A new principal: letters and digits, single separators between them, none at either end."""
RESERVED_PREFIXES = ("legislative", "executive", "judicial", "crown", "triad", "system")
"""The branches and triadops itself: ``legislative-rules`` or ``triad-monitor`` would read as
one of its own actors."""
RESERVED_NAMES = frozenset(
    {
        "the-crown",
        "rules",
        "monitor",
        "worker",
        "scheduler",
        "root",
        "admin",
        "administrator",
        "superuser",
        "local",
        "localhost",
        "cli",
        "api",
        "anonymous",
        "nobody",
    }
)
"""System actors and the names a machine's own operator goes by."""
LOCAL_SUFFIX = "@local"
"""The local CLI operator's names (``<os-user>@local``): never a token's principal."""
_CONFUSABLE = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("0", "o"), ("1", "l"), ("|", "l"))
_SEPARATORS = str.maketrans("", "", "._@-")


def skeleton(name: str) -> str:
    """Return what `name` looks like: confusable letters and digits folded, separators gone."""
    folded = unicodedata.normalize("NFKC", name).casefold().translate(_SEPARATORS)
    for lookalike, letter in _CONFUSABLE:
        folded = folded.replace(lookalike, letter)
    return folded


def new_principal_problem(name: str, existing: Iterable[str] = ()) -> str | None:
    """Return why normalised `name` cannot be a new principal, or None when it can.

    `existing` are the principals there are: a new name must not look like one of them.
    """
    if not NEW_PATTERN.fullmatch(name):
        return (
            f"{name!r} cannot be a new principal: use letters and digits joined by single "
            "'.', '_', '@' or '-', with none at the start or end"
        )
    if name.endswith(LOCAL_SUFFIX):
        return f"{name!r} is reserved: names ending in {LOCAL_SUFFIX} are local CLI operators"
    shape = skeleton(name)
    if shape in _RESERVED_SKELETONS or shape.startswith(_RESERVED_PREFIX_SKELETONS):
        return (
            f"{name!r} is reserved: it reads as one of triadops' own actors (a branch, "
            "triad or system, a worker, monitor or root)"
        )
    for other in existing:
        if other != name and skeleton(other) == shape:
            return f"{name!r} looks like the existing principal {other!r} (confusable)"
    return None


_RESERVED_SKELETONS = frozenset(skeleton(n) for n in RESERVED_NAMES | RESERVED)
_RESERVED_PREFIX_SKELETONS = tuple(skeleton(p) for p in RESERVED_PREFIXES)


def local_operator(os_user: str) -> str:
    """Return the local CLI operator's principal for an OS user: ``<user>@local``."""
    return f"{normalise_principal(os_user)}{LOCAL_SUFFIX}"


def _text(value: object) -> object:
    return normalise_principal(value) if isinstance(value, str) else value


PrincipalName = Annotated[str, BeforeValidator(_text)]
"""A principal's name, normalised on the way in."""
