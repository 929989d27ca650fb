"""Reading measurements back: they travel as JSON, so narrow them before judging."""

from __future__ import annotations

from pydantic import JsonValue


def section(value: JsonValue) -> dict[str, JsonValue]:
    """Return `value` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def number(value: JsonValue, default: float = 0.0) -> float:
    """Return `value` as a float when it is a JSON number, else `default`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def ms(seconds: float) -> str:
    """Format seconds as milliseconds for a verdict's sentence."""
    return f"{seconds * 1000:.2f} ms"
