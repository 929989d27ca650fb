"""Every command declared in the settings, as its action: here, or on declared hosts."""

from __future__ import annotations

from triadops.actions.commands.action import (
    TIMEOUT_MARGIN_S,
    CommandAction,
    command_action,
    command_class,
)
from triadops.actions.commands.invocation import Runner
from triadops.actions.commands.local import KILL_GRACE_S
from triadops.actions.commands.remote import RemoteCommandAction, RunnerFor
from triadops.actions.commands.rollout import selection_fields
from triadops.settings import Settings
from triadops.settings.systems import CommandSpec, HostSpec

__all__ = ["command_actions", "eligible_hosts"]


def eligible_hosts(spec: CommandSpec, hosts: dict[str, HostSpec]) -> dict[str, HostSpec]:
    """Return the inventory entries `spec` may run on: named, or carrying an allowed tag."""
    tags = set(spec.host_tags)
    return {
        name: host
        for name, host in sorted(hosts.items())
        if name in spec.hosts or tags & set(host.tags)
    }


def command_actions(
    settings: Settings, runner: Runner | None = None, *, runner_for: RunnerFor | None = None
) -> list[CommandAction]:
    """Return one action per command declared in `settings` (none by default).

    A command declaring ``hosts`` or ``host_tags`` runs there over SSH (`runner_for` builds
    each host's runner; SSH by default); any other runs on this machine (`runner`).
    """
    actions = []
    for name, spec in sorted(settings.commands.items()):
        if not (spec.hosts or spec.host_tags):
            actions.append(command_action(name, spec, runner))
            continue
        inventory = eligible_hosts(spec, settings.hosts)
        assert settings.known_hosts is not None  # the settings refuse hosts without it
        per_host = spec.timeout_s + max(h.connect_timeout_s for h in inventory.values())
        # Every host in its own batch, then an undo on each: the slowest honest rollout.
        bound = 2 * len(inventory) * (per_host + KILL_GRACE_S + TIMEOUT_MARGIN_S)
        remote = command_class(
            name,
            spec,
            base=RemoteCommandAction,
            traits={
                "inventory": inventory,
                "every_host": dict(settings.hosts),
                "known_hosts": settings.known_hosts,
                "timeout_s": bound,
                "__doc__": f"Run the declared command {name!r} on its hosts over SSH.",
            },
            selection=selection_fields(),
        )
        actions.append(remote(runner_for))
    return actions
