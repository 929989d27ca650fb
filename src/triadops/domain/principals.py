"""Principals: the people, services and agents that act, each under one normalised name.

A token belongs to a principal; separation of duties counts principals, never tokens, so
``Alice``, ``alice `` and ``alice`` are one person and two tokens of one person are still one.
"""

from __future__ import annotations

import re
import unicodedata
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


def _text(value: object) -> object:
    return normalise_principal(value) if isinstance(value, str) else value


PrincipalName = Annotated[str, BeforeValidator(_text)]
"""A principal's name, normalised on the way in."""
