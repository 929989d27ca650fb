"""The catalogue of actions: built-ins plus the ``triadops.actions`` entry point."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from pydantic import JsonValue, ValidationError

from triadops.actions.base import Action
from triadops.domain.errors import InvalidRequest, NotFound

AnyAction = Action[Any]


class ActionRegistry:
    """Actions by name; the executive can run nothing that is not in here."""

    def __init__(self, actions: Iterable[AnyAction] = ()) -> None:
        self._actions: dict[str, AnyAction] = {}
        for action in actions:
            self.register(action)

    def register(self, action: AnyAction) -> None:
        """Add an action; a second action with the same name is a programming error."""
        if action.name in self._actions:
            raise ValueError(f"action {action.name!r} is registered twice")
        self._actions[action.name] = action

    def get(self, name: str) -> AnyAction:
        """Return the action called `name`, or raise NotFound listing what exists."""
        try:
            return self._actions[name]
        except KeyError:
            known = ", ".join(sorted(self._actions))
            raise NotFound(f"unknown action {name!r} (known: {known})", field="action") from None

    def validate_params(self, name: str, params: dict[str, JsonValue], *, where: str) -> Any:
        """Parse params for action `name`; errors name the step (`where`) and the field."""
        action = self.get(name)
        try:
            return action.parse(params)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise InvalidRequest(
                f"{where}: params.{loc}: {first['msg']}", field=f"{where}.params.{loc}"
            ) from None

    def names(self) -> list[str]:
        """Registered action names, sorted."""
        return sorted(self._actions)

    def __iter__(self) -> Any:
        return iter(self._actions.values())


def load_entry_point_actions() -> list[AnyAction]:
    """Instantiate third-party actions published under ``triadops.actions``."""
    return [ep.load()() for ep in entry_points(group="triadops.actions")]
