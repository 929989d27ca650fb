"""Guards on state changes as small named rules, each saying why it exists.

A rule looks at an attempt and returns the refusal, or None to let it pass; a tuple of
rules is checked in order where the state changes, in the same transaction (after
Prefect's orchestration rules). Each service keeps its rules beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from triadops.domain.errors import TriadError

A = TypeVar("A")
Rule = Callable[[A], TriadError | None]


def enforce(rules: Sequence[Rule[A]], attempt: A) -> None:
    """Raise the first refusal of `rules` for `attempt`; do nothing when all pass."""
    for rule in rules:
        refusal = rule(attempt)
        if refusal is not None:
            raise refusal
