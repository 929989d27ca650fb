"""The ``[maintenance.application]`` section: the pull and restart commands of the application.

``triad maintain application`` runs them first, as the actions ``command.<name>`` of the
declared commands they name, with the parameters given here. Both are optional: without
them the operation checks the agents' health, cleans the cache and measures a new baseline.
Checked at load against ``[commands.*]``: an undeclared command, an undeclared parameter,
a value its declaration refuses or a required parameter left out stops the process, naming
the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from triadops.domain.parameters import NAME, ParamName, ParamValue
from triadops.settings.systems import HOST_SELECTION, CommandSpec
from triadops.settings.tasks import TaskSettings


class CommandCall(BaseModel):
    """One declared command, and the parameters it is run with."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    command: Annotated[str, Field(pattern=NAME)]
    """The name of a ``[commands.<name>]`` declaration."""
    params: dict[ParamName, ParamValue] = Field(default_factory=dict)
    """Its parameters, as a step's ``params`` would give them."""


class ApplicationMaintenance(BaseModel):
    """What ``triad maintain application`` runs before the cache, analysis and baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    pull: CommandCall | None = None
    """Fetch the application's new version (``git pull``, ``docker compose pull``)."""
    restart: CommandCall | None = None
    """Restart it on that version; its ``rollback_argv``, if declared, undoes it."""

    def calls(self) -> dict[str, CommandCall]:
        """The declared calls by role, in the order they run."""
        found = {"pull": self.pull, "restart": self.restart}
        return {role: call for role, call in found.items() if call is not None}


class MaintenanceSettings(TaskSettings):
    """Routine maintenance's configuration: the routine tasks, and the application's."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    application: ApplicationMaintenance = Field(default_factory=ApplicationMaintenance)


class ApplicationSettings(BaseModel):
    """The section ``[maintenance]``."""

    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)


def check_calls(application: ApplicationMaintenance, commands: Mapping[str, CommandSpec]) -> None:
    """Raise ValueError, naming the key, when a call does not fit the declared commands."""
    for role, call in application.calls().items():
        key = f"maintenance.application.{role}"
        spec = commands.get(call.command)
        if spec is None:
            declared = ", ".join(sorted(commands)) or "none"
            raise ValueError(
                f"{key}.command: no command {call.command!r} is declared "
                f"(declare [commands.{call.command}]; declared: {declared})"
            )
        on_hosts = set(HOST_SELECTION) if spec.hosts or spec.host_tags else set()
        for name, value in call.params.items():
            if name in on_hosts:
                continue
            if name not in spec.params:
                raise ValueError(
                    f"{key}.params.{name}: commands.{call.command} declares no such parameter"
                )
            try:
                spec.params[name].check(value)
            except ValueError as exc:
                raise ValueError(f"{key}.params.{name}: {exc}") from None
        missing = sorted(
            n for n, p in spec.params.items() if p.default is None and n not in call.params
        )
        if missing:
            raise ValueError(f"{key}.params: commands.{call.command} needs {', '.join(missing)}")
