"""The rule book: an edge outside the lifecycle is refused, and each rule guards only its edges."""

from __future__ import annotations

from enum import StrEnum

import pytest

from triadops.domain.errors import Conflict, Forbidden, TriadError
from triadops.domain.rules import Rule, RuleBook


class Light(StrEnum):
    RED = "red"
    GREEN = "green"
    AMBER = "amber"


EDGES = {
    Light.RED: frozenset({Light.GREEN}),
    Light.GREEN: frozenset({Light.AMBER}),
    Light.AMBER: frozenset({Light.RED}),
}


class OnlyTheWarden(Rule[Light, str]):
    to_states = frozenset({Light.GREEN})
    reason = "only the warden may let traffic through"

    def check(self, attempt: str) -> TriadError | None:
        return None if attempt == "warden" else Forbidden(f"{attempt} is not the warden")


class NeverFromAmber(Rule[Light, str]):
    from_states = frozenset({Light.AMBER})
    reason = "amber always ends in red"

    def check(self, attempt: str) -> TriadError | None:
        return Conflict("amber cannot be left by hand") if attempt == "hand" else None


BOOK = RuleBook("light", EDGES, [OnlyTheWarden, NeverFromAmber])


def test_an_edge_outside_the_lifecycle_is_refused_before_any_rule() -> None:
    with pytest.raises(Conflict, match="from red to amber"):
        BOOK.enforce(Light.RED, Light.AMBER, "warden")


def test_a_rule_guards_only_its_edges() -> None:
    with pytest.raises(Forbidden, match="mallory is not the warden"):
        BOOK.enforce(Light.RED, Light.GREEN, "mallory")
    BOOK.enforce(Light.RED, Light.GREEN, "warden")
    BOOK.enforce(Light.GREEN, Light.AMBER, "mallory")  # no rule guards green → amber
    with pytest.raises(Conflict, match="by hand"):
        BOOK.enforce(Light.AMBER, Light.RED, "hand")
    assert [type(r) for r in BOOK.rules_for(Light.AMBER, Light.RED)] == [NeverFromAmber]
    assert BOOK.rules_for(Light.GREEN, Light.AMBER) == ()


def test_a_book_may_word_its_own_refusal_of_a_missing_edge() -> None:
    book = RuleBook(
        "light", EDGES, [], forbidden=lambda s, t: Conflict(f"the light is {s}, not {t}")
    )
    with pytest.raises(Conflict, match="the light is red, not amber"):
        book.enforce(Light.RED, Light.AMBER, "x")
    assert not book.allows(Light.RED, Light.AMBER)


def test_screen_runs_the_rules_of_an_edge_the_lifecycle_lacks() -> None:
    book = RuleBook("light", EDGES, [OnlyTheWarden])
    with pytest.raises(Forbidden, match="mallory is not the warden"):
        book.screen(Light.AMBER, Light.GREEN, "mallory")  # amber → green is no edge
    book.screen(Light.AMBER, Light.GREEN, "warden")


def test_extend_adds_rules_after_the_books_own() -> None:
    book = RuleBook("light", EDGES, [NeverFromAmber])
    assert book.rules_for(Light.RED, Light.GREEN) == ()
    book.extend([OnlyTheWarden])
    assert [type(r) for r in book.rules_for(Light.RED, Light.GREEN)] == [OnlyTheWarden]
    with pytest.raises(Forbidden):
        book.enforce(Light.RED, Light.GREEN, "mallory")


def test_an_edge_enforced_before_an_extend_meets_the_rules_added_after() -> None:
    book = RuleBook("light", EDGES, [])
    book.enforce(Light.RED, Light.GREEN, "mallory")  # no rule yet: passes, and is remembered
    book.extend([OnlyTheWarden])
    with pytest.raises(Forbidden, match="mallory is not the warden"):
        book.enforce(Light.RED, Light.GREEN, "mallory")


def test_a_screened_edge_the_lifecycle_lacks_stays_refused_by_enforce() -> None:
    book = RuleBook("light", EDGES, [OnlyTheWarden])
    book.screen(Light.AMBER, Light.GREEN, "warden")  # compiles the rules of a non-edge
    for _ in range(2):
        with pytest.raises(Conflict, match="from amber to green"):
            book.enforce(Light.AMBER, Light.GREEN, "warden")
