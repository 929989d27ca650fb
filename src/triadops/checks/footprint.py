"""What an operation's plan touches, read from its steps: the scope a check measures.

Checks measure only this scope, so their cost follows what the operation works on and
never the history stored in triad's own database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import JsonValue

from triadops.domain.operations import Operation
from triadops.storage.targets import OWN_DATABASE

TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

STORAGE_ACTIONS = frozenset(
    {"database.vacuum_analyze", "database.reindex", "database.purge_audit_logs"}
)
"""Actions that rewrite a database's pages (VACUUM, REINDEX, batched deletes): only their
targets get a full integrity check; every other step gets a liveness probe of its targets."""


@dataclass(frozen=True, slots=True)
class AgePurge:
    """A step that deletes the rows of one table older than an age, and when it may start."""

    column: str
    older_than_days: int
    start_within_s: float
    """How long after the operation starts executing this step's first attempt may begin:
    the timeouts of the steps before it, which may all run first."""


@dataclass(slots=True)
class Footprint:
    """The tables and databases a plan's steps declare they change."""

    tables: dict[str, set[str]] = field(default_factory=dict)
    """Tables by database target, from previews (``target.table``) and ``target``/``table``."""
    storage: dict[str, set[str] | None] = field(default_factory=dict)
    """Targets whose storage a step rewrites: the tables, or None for the whole database."""
    named: set[tuple[str, str]] = field(default_factory=set)
    """(target, table) pairs a step names in its params: the tables it works on itself."""
    purges: dict[tuple[str, str], AgePurge] = field(default_factory=dict)
    """Deletions by age that steps declare in their params, by (target, table)."""

    def add_table(self, target: str, table: str) -> None:
        """Record that a step touches `target`.`table`."""
        self.tables.setdefault(target, set()).add(table)

    def add_storage(self, target: str, table: str | None) -> None:
        """Record that a step rewrites `table` of `target`, or all of it when `table` is None."""
        if target in self.storage and self.storage[target] is None:
            return
        if table is None:
            self.storage[target] = None
        else:
            tables = self.storage.setdefault(target, set())
            assert tables is not None
            tables.add(table)


def _text(params: dict[str, JsonValue], key: str) -> str | None:
    value = params.get(key)
    return value if isinstance(value, str) and value else None


def _step_scope(
    found: Footprint,
    known: set[str],
    *,
    action: str,
    params: dict[str, JsonValue],
    touches: list[str],
    start_within_s: float,
) -> None:
    target = _text(params, "target") or OWN_DATABASE
    table = _text(params, "table")
    if table is not None and not TABLE_NAME.fullmatch(table):
        table = None  # not a table any database could hold: nothing to measure by that name
    if table is not None:
        found.add_table(target, table)
        found.named.add((target, table))
    for name in touches:
        if name in known:
            continue  # a whole database: no table to count (its storage may still change)
        owner, dot, rest = name.partition(".")
        if dot and owner in known and TABLE_NAME.fullmatch(rest):
            found.add_table(owner, rest)
    if action in STORAGE_ACTIONS:
        found.add_storage(target, table)
    column, days = _text(params, "column"), params.get("older_than_days")
    if table is not None and column is not None and isinstance(days, int):
        found.purges[(target, table)] = AgePurge(column, days, start_within_s)


def footprint(operation: Operation, known_targets: list[str]) -> Footprint:
    """Return what the operation's steps touch, among the database targets in `known_targets`.

    The plan's previews say what each step touches; without a plan (an operation stored
    before planning), the step records' parameters are all there is.
    """
    found = Footprint()
    known = set(known_targets)
    if operation.plan is not None:
        elapsed = 0.0
        for planned in operation.plan.steps:
            _step_scope(
                found,
                known,
                action=planned.action,
                params=planned.params,
                touches=planned.preview.touches,
                start_within_s=elapsed,
            )
            elapsed += planned.timeout_s
        return found
    for step in operation.steps:
        _step_scope(
            found, known, action=step.action, params=step.params, touches=[], start_within_s=0
        )
    return found
