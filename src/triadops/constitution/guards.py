"""Guards as tuples of functions: the alerts' shape until they move to rule books.

The constitution's gates are rule classes in the lifecycle's books (``domain/rules.py``,
``lifecycle.OPERATIONS``); ``ops/alerts`` still checks its tuples here. Remove this module
once nothing imports it.
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
