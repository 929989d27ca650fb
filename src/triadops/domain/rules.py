"""Gates on changes of state, as rule classes keyed by the edges they guard.

After Prefect's orchestration rules (``core_policy.py``): a rule names the states it guards
from and to and says in one line why it exists; a :class:`RuleBook` holds a subject's edges
and its rules, compiles the rules that apply to each edge once, and enforces them where the
state changes. A service never checks a gate beside the book, so a new caller of a subject's
``transition()`` cannot skip one.

A rule looks at an attempt (the subject's own type: the row, who asks, what they name) and
returns the refusal, or None to let it pass. Refusals are the domain's errors, so the API and
the CLI tell them as they always did.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import ClassVar, Generic, TypeVar

from triadops.domain.errors import Conflict, TriadError

S = TypeVar("S", bound=Hashable)
"""A subject's state (an enum)."""
A = TypeVar("A")
"""What a rule looks at: the attempted change, in the subject's own type."""


class Rule(Generic[S, A]):
    """One gate: the edges it guards (None: every source, or every target) and why."""

    from_states: ClassVar[frozenset[object] | None] = None
    to_states: ClassVar[frozenset[object] | None] = None
    reason: ClassVar[str] = ""
    """One line: why the gate exists (shown by ``triad`` nowhere; read by people)."""

    def applies(self, source: S, target: S) -> bool:
        """True when this rule guards the edge `source` → `target`."""
        return (self.from_states is None or source in self.from_states) and (
            self.to_states is None or target in self.to_states
        )

    def check(self, attempt: A) -> TriadError | None:
        """Return the refusal of `attempt`, or None to let it pass."""
        raise NotImplementedError


class RuleBook(Generic[S, A]):
    """A subject's lifecycle: the edges it allows and the rules that guard them."""

    def __init__(
        self,
        subject: str,
        edges: Mapping[S, frozenset[S]],
        rules: Sequence[type[Rule[S, A]]],
        *,
        forbidden: Callable[[S, S], TriadError] | None = None,
    ) -> None:
        self.subject = subject
        self.edges = edges
        self.rules = tuple(rule() for rule in rules)
        self._forbidden = forbidden
        self._compiled: dict[tuple[S, S], tuple[Rule[S, A], ...]] = {}
        self._edges: dict[tuple[S, S], tuple[Rule[S, A], ...]] = {}
        """The rules of each edge :meth:`enforce` found in the lifecycle (one lookup after)."""

    def allows(self, source: S, target: S) -> bool:
        """True when the lifecycle has the edge `source` → `target`."""
        return target in self.edges.get(source, frozenset())

    def rules_for(self, source: S, target: S) -> tuple[Rule[S, A], ...]:
        """The rules guarding one edge, in the book's order (compiled once per edge)."""
        key = (source, target)
        found = self._compiled.get(key)
        if found is None:
            found = tuple(rule for rule in self.rules if rule.applies(source, target))
            self._compiled[key] = found
        return found

    def extend(self, rules: Sequence[type[Rule[S, A]]]) -> None:
        """Add rules after the book's own (a branch registers the gates it owns)."""
        self.rules = (*self.rules, *(rule() for rule in rules))
        self._compiled.clear()
        self._edges.clear()

    def screen(self, source: S, target: S, attempt: A) -> None:
        """Raise the first refusal of the rules guarding `source` → `target`, edge or not.

        For a service that must refuse before it does the work a change needs (a dry run,
        a read outside the lock), in the words of its rules; :meth:`enforce` checks the
        edge and the same rules again where the state changes.
        """
        for rule in self.rules_for(source, target):
            refusal = rule.check(attempt)
            if refusal is not None:
                raise refusal

    def enforce(self, source: S, target: S, attempt: A) -> None:
        """Raise when the edge is not in the lifecycle or a rule refuses; else do nothing."""
        rules = self._edges.get((source, target))
        if rules is None:
            if not self.allows(source, target):
                if self._forbidden is not None:
                    raise self._forbidden(source, target)
                raise Conflict(f"a {self.subject} cannot move from {source} to {target}")
            rules = self._edges[(source, target)] = self.rules_for(source, target)
        for rule in rules:
            refusal = rule.check(attempt)
            if refusal is not None:
                raise refusal
