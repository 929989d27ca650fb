"""Rolling a command over hosts: batches, a failure threshold, a budget, and the undo.

As Ansible's ``serial`` and ``max_fail_percentage``: the hosts run in batches, concurrently
within a batch; once a batch's failed share exceeds the threshold, later batches never start.
Besides it, an operation-wide failure budget: an absolute count of failed hosts, shared by
every step of the operation (the caller passes what is left of it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.fields import FieldInfo

from triadops.actions.commands.invocation import Completed, Invocation, Runner
from triadops.domain.errors import InvalidRequest, TriadError
from triadops.settings.systems import HostSpec, SystemName

__all__ = [
    "HostOutcome",
    "HostSelection",
    "Rollout",
    "roll_back",
    "rollout",
    "select_hosts",
    "selection_fields",
]

_MAX_HOSTS = 1000


class HostSelection(BaseModel):
    """Which declared hosts a step runs on, and how it rolls over them."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    hosts: list[SystemName] = Field(default_factory=list, max_length=_MAX_HOSTS, strict=True)
    """Hosts by name; with ``tags`` empty too, every host the command may run on."""
    tags: list[SystemName] = Field(default_factory=list, max_length=100, strict=True)
    """Every inventory host with one of these tags (each tag one the command allows)."""
    batch_size: int = Field(default=1, ge=1, le=_MAX_HOSTS, strict=True)
    """Hosts run at once; the next batch starts when this one has finished."""
    max_fail_percent: float = Field(default=0.0, ge=0, le=100, strict=True)
    """A batch whose failed share exceeds this stops the rollout (0: any failure stops it)."""
    failure_budget: int | None = Field(default=None, ge=0, le=_MAX_HOSTS, strict=True)
    """Failed hosts the whole operation tolerates; reaching it stops the rollout."""


def selection_fields() -> dict[str, tuple[object, FieldInfo]]:
    """Return HostSelection's fields as `params_model`'s ``extra`` (strict, documented)."""
    return {name: (info.annotation, info) for name, info in HostSelection.model_fields.items()}


@dataclass(frozen=True, slots=True)
class HostOutcome:
    """What one host's run left: whether it succeeded, whether it changed the host."""

    host: str
    ok: bool
    changed: bool
    completed: Completed | None
    """None when nothing ran (refused host key, unreachable host)."""
    error: str | None

    def as_output(self) -> dict[str, JsonValue]:
        """Return the record kept in the step's output."""
        return {
            "host": self.host,
            "ok": self.ok,
            "changed": self.changed,
            "error": self.error,
            "result": self.completed.as_output() if self.completed else None,
        }


@dataclass(frozen=True, slots=True)
class Rollout:
    """Every host's outcome in host order, the hosts never started, and why it stopped early."""

    outcomes: tuple[HostOutcome, ...]
    stopped: str | None
    """Why the rollout stopped: the threshold or the budget tripped (on the last batch too,
    with nothing left to skip); None when every host ran within both."""
    skipped: tuple[str, ...] = ()
    """Hosts never started because the rollout stopped first."""

    def failed(self) -> list[str]:
        """Return the hosts whose run failed."""
        return [o.host for o in self.outcomes if not o.ok]

    def changed(self) -> list[str]:
        """Return the hosts the run changed, failed or not: what a rollback must undo."""
        return [o.host for o in self.outcomes if o.changed]

    def as_output(self) -> dict[str, JsonValue]:
        """Return the record kept in the step's output."""
        return {
            "hosts": [o.as_output() for o in self.outcomes],
            "failed": list(self.failed()),
            "changed": list(self.changed()),
            "skipped": list(self.skipped),
            "stopped": self.stopped,
        }


def select_hosts(
    hosts: Mapping[str, HostSpec],
    *,
    allowed_names: Sequence[str],
    allowed_tags: Sequence[str],
    names: Sequence[str],
    tags: Sequence[str],
) -> list[str]:
    """Return the hosts a step names, ordered and deduplicated, or refuse naming the field.

    Names come first in the order given, then each tag's hosts in inventory order. Naming
    nothing selects every host the command may run on.
    """
    allowed_tag_set = set(allowed_tags)

    def allowed(name: str) -> bool:
        return name in allowed_names or bool(allowed_tag_set & set(hosts[name].tags))

    selected: dict[str, None] = {}
    for name in names:
        if name not in hosts:
            raise InvalidRequest(f"hosts: no host {name!r} in the inventory", field="hosts")
        if not allowed(name):
            raise InvalidRequest(
                f"hosts: this command may not run on {name!r} "
                f"(it may on {_listing(hosts, allowed)})",
                field="hosts",
            )
        selected[name] = None
    for tag in tags:
        if tag not in allowed_tag_set:
            raise InvalidRequest(
                f"tags: this command may not target tag {tag!r} "
                f"(it allows {sorted(allowed_tag_set) or 'no tags'})",
                field="tags",
            )
        tagged = [name for name, spec in hosts.items() if tag in spec.tags]
        if not tagged:
            raise InvalidRequest(f"tags: no host in the inventory has tag {tag!r}", field="tags")
        selected.update(dict.fromkeys(tagged))
    if not names and not tags:
        selected.update(dict.fromkeys(name for name in hosts if allowed(name)))
    return list(selected)


def _listing(hosts: Mapping[str, HostSpec], allowed: Callable[[str], bool]) -> str:
    names = sorted(name for name in hosts if allowed(name))
    return ", ".join(names[:20]) + (", ..." if len(names) > 20 else "") if names else "no host"


async def run_on_host(
    host: str, runner: Runner, invocation: Invocation, *, success_codes: Sequence[int]
) -> HostOutcome:
    """Run `invocation` with `runner` and judge it: a `run_one` for `rollout` and `roll_back`.

    A host where the process started counts as changed, whatever its exit: a failed deploy
    may have done half its work, and the undo is what brings it back. A host where nothing
    started (refused key, unreachable) did not change.
    """
    try:
        done = await runner.run(invocation)
    except TriadError as exc:
        return HostOutcome(host=host, ok=False, changed=False, completed=None, error=exc.message)
    if done.timed_out:
        error: str | None = f"timed out after {invocation.timeout_s:g}s"
    elif done.exit_code not in success_codes:
        error = f"exit code {done.exit_code} (success is {sorted(success_codes)})"
    else:
        error = None
    return HostOutcome(host=host, ok=error is None, changed=True, completed=done, error=error)


OnOutcome = Callable[[HostOutcome], Awaitable[None]]
"""Called with each host's outcome as soon as that host finishes (to record it)."""


async def _outcome(
    host: str, run_one: Callable[[str], Awaitable[HostOutcome]], on_outcome: OnOutcome | None
) -> HostOutcome:
    """Run one host; an error of ours becomes its failed outcome, a bug propagates."""
    try:
        outcome = await run_one(host)
    except TriadError as exc:
        outcome = HostOutcome(host=host, ok=False, changed=False, completed=None, error=exc.message)
    if on_outcome is not None:
        await on_outcome(outcome)
    return outcome


def _budget_spent(failed: int, budget: int) -> str:
    return f"failure budget reached: {failed} more failed host(s), {budget} were allowed"


async def rollout(
    hosts: Sequence[str],
    *,
    batch_size: int,
    max_fail_percent: float,
    failure_budget: int | None,
    run_one: Callable[[str], Awaitable[HostOutcome]],
    on_outcome: OnOutcome | None = None,
) -> Rollout:
    """Run `run_one` over `hosts` in batches; stop past the threshold or at the budget.

    Each host's `run_one` bounds its own time, and `on_outcome` hears of each host as it
    finishes, so a slow host delays only its batch's end, never its mates' records.
    """
    if batch_size < 1:
        raise InvalidRequest("batch_size must be at least 1", field="batch_size")
    if failure_budget is not None and failure_budget <= 0:
        return Rollout((), _budget_spent(0, failure_budget), tuple(hosts))
    outcomes: list[HostOutcome] = []
    failed_total = 0
    for start in range(0, len(hosts), batch_size):
        batch = hosts[start : start + batch_size]
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_outcome(h, run_one, on_outcome)) for h in batch]
        outcomes.extend(task.result() for task in tasks)
        failed = sum(not task.result().ok for task in tasks)
        failed_total += failed
        rest = tuple(hosts[start + batch_size :])
        if failed * 100 > max_fail_percent * len(batch):
            share = round(failed * 100 / len(batch), 1)
            why = (
                f"batch {start // batch_size + 1} failed on {failed} of {len(batch)} host(s) "
                f"({share}%, more than the {max_fail_percent}% allowed)"
            )
            return Rollout(tuple(outcomes), why, rest)
        if failure_budget is not None and failed and failed_total >= failure_budget:
            return Rollout(tuple(outcomes), _budget_spent(failed_total, failure_budget), rest)
    return Rollout(tuple(outcomes), None)


async def roll_back(
    changed: Sequence[str],
    run_one: Callable[[str], Awaitable[HostOutcome]],
    *,
    batch_size: int | None = None,
    on_outcome: OnOutcome | None = None,
) -> Rollout:
    """Undo on every host that changed, whatever fails (no threshold, no budget)."""
    return await rollout(
        changed,
        batch_size=batch_size or max(len(changed), 1),
        max_fail_percent=100.0,
        failure_budget=None,
        run_one=run_one,
        on_outcome=on_outcome,
    )
