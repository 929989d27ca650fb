"""Who may pause, resume and hold a routine task: rule classes on its state's edges.

A task is active (the scheduler submits its runs), paused (a person stopped it), or held
(it failed ``max_failures`` times in a row and waits for a person). `TASKS` enforces these
rules on each edge in `service.transition`, so no caller changes a task's state past them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from triadops.domain.enums import Role
from triadops.domain.errors import Conflict, Forbidden, InvalidRequest, TriadError
from triadops.domain.identity import Identity
from triadops.domain.maintenance_tasks import TaskState
from triadops.domain.rules import Rule, RuleBook

S = TaskState
TASK_KEEPERS = frozenset({Role.EXECUTIVE, Role.LEGISLATIVE})
"""The roles that may pause and resume routine tasks: those the seed's procedures allow."""
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class TaskChange:
    """An attempt to move a task: which, who (None: the scheduler itself) and why."""

    task: str
    by: Identity | None
    reason: str


class ByAPerson(Rule[TaskState, TaskChange]):
    to_states = frozenset({S.PAUSED, S.ACTIVE})
    reason = "Pausing or resuming routine work is a person's decision, made with a role for it."

    def check(self, attempt: TaskChange) -> TriadError | None:
        by = attempt.by
        if by is not None and by.roles & TASK_KEEPERS:
            return None
        who = by.name if by is not None else "the scheduler"
        return Forbidden(
            f"{who} may not pause or resume maintenance tasks: it needs executive or legislative"
        )


class SaysWhy(Rule[TaskState, TaskChange]):
    to_states = frozenset({S.PAUSED, S.ACTIVE})
    reason = "The ledger keeps why routine work stopped or started again."

    def check(self, attempt: TaskChange) -> TriadError | None:
        text = attempt.reason.strip()
        if not text:
            return InvalidRequest("reason: say why (it goes in the ledger)", field="reason")
        if len(text) > MAX_REASON:
            return InvalidRequest(f"reason: at most {MAX_REASON} characters", field="reason")
        return None


class OnlyTheSchedulerHolds(Rule[TaskState, TaskChange]):
    to_states = frozenset({S.HELD})
    reason = "A task is held by its failures, counted from its runs, never by hand."

    def check(self, attempt: TaskChange) -> TriadError | None:
        if attempt.by is None:
            return None
        return Forbidden("a task is held by its failed runs alone; pause it instead")


def _forbidden(source: TaskState, target: TaskState) -> TriadError:
    if source is target:
        return Conflict(f"the task is already {source.value}", field="task")
    if source is S.DISABLED:
        return Conflict("the task is disabled in the task table (enabled = false)", field="task")
    return Conflict(f"a {source.value} task cannot become {target.value}", field="task")


TASK_EDGES: dict[TaskState, frozenset[TaskState]] = {
    S.ACTIVE: frozenset({S.PAUSED, S.HELD}),
    S.PAUSED: frozenset({S.ACTIVE}),
    S.HELD: frozenset({S.ACTIVE, S.PAUSED}),
    S.DISABLED: frozenset(),
}
TASK_RULES: Sequence[type[Rule[TaskState, TaskChange]]] = (
    ByAPerson,
    SaysWhy,
    OnlyTheSchedulerHolds,
)
TASKS: RuleBook[TaskState, TaskChange] = RuleBook(
    "maintenance task", TASK_EDGES, TASK_RULES, forbidden=_forbidden
)
"""A routine task's lifecycle: its edges and the rules that guard them."""
