"""``triad maintain application``: the seed's application script as one governed operation.

The request is built here, from the settings of the process that holds them (the CLI's
locally, the server's for ``/maintenance/application``), so a remote CLI and the script run
what the server is configured to run. Its steps, in order:

1. ``command.<pull>`` and ``command.<restart>``, the declared commands that
   ``[maintenance.application]`` names, with its parameters (each only when named);
2. ``cache.cleanup``: expired entries leave triad's cache folders;
3. ``performance.analysis``: the performance measured and compared with the baseline before
   it is replaced (the report and any regression alert stay);
4. ``performance.baseline``: a new baseline (a rollback restores the old one).

The judiciary measures before and after: ``agents_healthy`` (the agents' health, as ``GET
/agents/health`` reads it, must be good after), ``performance_within_baseline`` and
``system_functionality_maintained``. A failing step rolls back the ones before it: the
restart's ``rollback_argv`` where declared, the baseline restored.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue

from triadops.settings import Settings

CRITERIA = ("agents_healthy", "performance_within_baseline", "system_functionality_maintained")
"""Measured before the steps and after them."""
ALWAYS = ("cache.cleanup", "performance.analysis", "performance.baseline")
"""The steps every application maintenance runs, after the declared commands."""
HOW_TO_DECLARE = (
    "declare them in triad.toml: a [commands.NAME] each, then [maintenance.application] "
    'pull = { command = "NAME", params = { ... } } and restart = { command = "NAME", '
    "params = { ... } } (README: Application maintenance)"
)


class ApplicationFields(BaseModel):
    """The request's fields but who asks and under which authority."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    operation_type: str = "maintenance"
    description: str
    affected_systems: list[str]
    rollback_plan: str
    validation_criteria: list[str]
    steps: list[dict[str, JsonValue]]
    """The declared commands' ``command.<name>`` steps with their params, then the rest."""


def undeclared(settings: Settings) -> str | None:
    """Say which of the pull and restart commands is not declared, and how; None: both are."""
    calls = settings.maintenance.application.calls()
    missing = [role for role in ("pull", "restart") if role not in calls]
    if not missing:
        return None
    which = "pull or restart command is" if len(missing) == 2 else f"{missing[0]} command is"
    return f"no {which} declared, so none runs; {HOW_TO_DECLARE}"


def application_fields(settings: Settings) -> ApplicationFields:
    """The request's fields (all but who asks): the declared commands, then the rest."""
    calls = settings.maintenance.application.calls()
    steps: list[dict[str, JsonValue]] = [
        {"action": f"command.{call.command}", "params": dict(call.params)}
        for call in calls.values()
    ]
    steps += [{"action": action} for action in ALWAYS]
    done = ", ".join(f"{role} ({call.command})" for role, call in calls.items())
    return ApplicationFields(
        description="application maintenance: "
        + (f"{done}, " if done else "")
        + "cache cleanup, performance analysis, a new baseline",
        affected_systems=(["application"] if calls else []) + ["cache", "performance_baseline"],
        rollback_plan=(
            "Each step's own undo, last first: the new baseline replaced by the old one; the "
            "restart and pull commands undone by their rollback_argv where declared; expired "
            "cache entries are rebuilt on demand; the analysis changed nothing."
        ),
        validation_criteria=list(CRITERIA),
        steps=steps,
    )
