"""The catalogue of checks: built-ins plus the ``triadops.checks`` entry point."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points

from triadops.checks.base import Check
from triadops.domain.errors import NotFound


class CheckRegistry:
    """Checks by name; a criterion nobody can measure is refused at review."""

    def __init__(self, checks: Iterable[Check] = ()) -> None:
        self._checks: dict[str, Check] = {}
        for check in checks:
            self.register(check)

    def register(self, check: Check) -> None:
        """Add a check; a second check with the same name is a programming error."""
        if check.name in self._checks:
            raise ValueError(f"check {check.name!r} is registered twice")
        self._checks[check.name] = check

    def get(self, name: str) -> Check:
        """Return the check called `name`, or raise NotFound listing what exists."""
        try:
            return self._checks[name]
        except KeyError:
            known = ", ".join(sorted(self._checks))
            raise NotFound(
                f"unknown validation criterion {name!r} (known: {known})",
                field="validation_criteria",
            ) from None

    def names(self) -> list[str]:
        """Registered check names, sorted."""
        return sorted(self._checks)

    def __iter__(self) -> Iterator[Check]:
        return iter(self._checks.values())


def load_entry_point_checks() -> list[Check]:
    """Instantiate third-party checks published under ``triadops.checks``."""
    return [ep.load()() for ep in entry_points(group="triadops.checks")]
