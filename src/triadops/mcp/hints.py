"""Tool annotations derived from the action registry, never written by hand.

An MCP client reads ``readOnlyHint`` and ``destructiveHint`` to decide how carefully to ask
its user. They are hints only: nothing here is a boundary, every call still goes through
the token's roles and the constitution's gates. What a submission may do is what its
actions declare: a step whose action cannot be rolled back, or one at high or critical
risk, makes the tool destructive. An action the registry does not know counts as the
worst case.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcp.types import ToolAnnotations

from triadops.actions.procedures.model import Procedure
from triadops.actions.registry import ActionRegistry
from triadops.domain.enums import Risk
from triadops.domain.errors import NotFound

SEVERE = frozenset({Risk.HIGH, Risk.CRITICAL})
"""Risks at which an action counts as destructive even when it can be rolled back."""

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)
"""A tool that only reads."""


def destructive_actions(registry: ActionRegistry, names: Iterable[str]) -> list[str]:
    """Return the named actions that cannot be undone or are severe, unknown ones included."""
    found: list[str] = []
    for name in names:
        try:
            action = registry.get(name)
        except NotFound:
            found.append(name)
            continue
        if not action.reversible or action.risk in SEVERE:
            found.append(name)
    return sorted(set(found))


def change_hints(destructive: bool) -> ToolAnnotations:
    """Return the hints of a tool that asks for a change: never read-only, never idempotent.

    Each call makes a new operation (or a new plan), so none is idempotent; an operation's
    steps reach outside triad (databases, files, hosts): open world.
    """
    return ToolAnnotations(
        read_only_hint=False,
        destructive_hint=destructive,
        idempotent_hint=False,
        open_world_hint=True,
    )


def procedure_hints(registry: ActionRegistry, procedure: Procedure) -> ToolAnnotations:
    """Return the hints of the tool that submits `procedure`, from its steps' actions."""
    steps = [step.action for step in procedure.steps]
    return change_hints(bool(destructive_actions(registry, steps)) or procedure.risk in SEVERE)


def any_steps_hints(registry: ActionRegistry) -> ToolAnnotations:
    """Return the hints of a tool that may name any registered action as a step."""
    return change_hints(bool(destructive_actions(registry, registry.names())))


CANCEL = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
"""Cancelling stops work and rolls back what ran; asking twice changes nothing more."""
