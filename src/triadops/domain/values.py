"""Values every database can store faithfully: text without NUL, finite numbers, bounded nesting."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, GetJsonSchemaHandler, JsonValue, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

MAX_PARAM_DEPTH = 16

NO_NUL_PATTERN = r"^[^\x00]*$"
"""The JSON schema pattern of a string without NUL characters (ECMA-262 and Python alike)."""


def _no_nul(value: str) -> str:
    # PostgreSQL cannot store NUL in text or JSON; refuse it where it enters, by field.
    if "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    return value


class _NoNulInSchema:
    """State in the JSON schema what `_no_nul` enforces; validation is left to `_no_nul`."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.setdefault("pattern", NO_NUL_PATTERN)
        return schema


Text = Annotated[str, AfterValidator(_no_nul), _NoNulInSchema()]
"""A string that every database can store: no NUL characters."""
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
    AfterValidator(_no_nul),
    _NoNulInSchema(),
]
"""Why someone acted, kept on the record: 1 to 2000 characters once trimmed; blank is refused.
The API's bodies and the CLI's flags validate with this one type, so both refuse alike."""
VIA_PATTERN = r"^[\x21-\x7e][\x20-\x7e]{0,99}$"
"""Printable ASCII, 1 to 100 characters, not starting with a space: no control character,
no line break, nothing a terminal or a log would read as anything but text."""
Via = Annotated[str, StringConstraints(pattern=VIA_PATTERN)]
"""The client a request came through (``mcp:<assistant>``), as that client says: it
describes, never decides, so it is only kept short and printable."""
Lessons = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000),
    AfterValidator(_no_nul),
    _NoNulInSchema(),
]
"""What a change taught, kept on the record: 1 to 10,000 characters once trimmed."""


def _storable(value: JsonValue, depth: int = 0) -> JsonValue:
    """Refuse what a database cannot store faithfully: NUL, NaN and infinities, deep nesting."""
    if depth > MAX_PARAM_DEPTH:
        raise ValueError(f"nested deeper than {MAX_PARAM_DEPTH} levels")
    if isinstance(value, str):
        return _no_nul(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable(item, depth + 1)
    return value


def _storable_params(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    _storable(value)
    return value


Params = Annotated[dict[str, JsonValue], AfterValidator(_storable_params)]
