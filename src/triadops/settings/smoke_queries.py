"""Smoke queries: read-only SELECTs a recovery test runs on a restored copy of a target.

Declared per target (``[[backups.smoke_queries]]``) and refused at load unless each is one
read-only query: a single SELECT (set operations and CTEs included) holding no write, no
DDL, no ``SELECT … INTO``, no row lock and no command. The recovery test also runs each in
a read-only transaction with a statement timeout: the parse is the clear error, the
transaction the guarantee.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlglot import exp
from sqlglot.errors import ParseError

DIALECTS = ("postgres", "sqlite")
"""The dialects a query is parsed in; it must be a read-only query in every one it parses in."""
_WRITES = (exp.DML, exp.DDL, exp.Command, exp.Into, exp.Lock, exp.Pragma, exp.Set)
_QUERIES = (exp.Select, exp.SetOperation)


def read_only_problem(sql: str) -> str | None:
    """Why `sql` is not one read-only SELECT, or None when it is."""
    parsed_any = False
    for dialect in DIALECTS:
        try:
            statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
        except ParseError:
            continue
        parsed_any = True
        if len(statements) != 1:
            return f"{len(statements)} statements: give exactly one SELECT"
        (statement,) = statements
        if not isinstance(statement, _QUERIES):
            return f"a {statement.key.upper()} statement, not a SELECT"
        for node in statement.walk():
            if isinstance(node, _WRITES):
                return f"it holds a {node.key.upper()}: only reading is allowed"
    return None if parsed_any else "it does not parse as SQL"


class SmokeQuery(BaseModel):
    """One read-only query run on a restored copy, and what it must answer."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    target: str = Field(min_length=1, max_length=100)
    """The database target whose restored copies it runs on (``triad`` is triad's own)."""
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    """Named in the recovery test's checks, and in its failure."""
    sql: str = Field(min_length=1, max_length=10_000)
    """One SELECT; anything else is refused at load."""
    expect_min_rows: int | None = Field(default=None, ge=0)
    """At least this many rows answered."""
    expect_value: str | int | float | bool | None = None
    """The first column of the first row equals this."""
    expect_min_value: float | None = None
    """The first column of the first row is a number at least this (``count(*) >= 1``)."""
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    """The statement timeout it runs under."""

    @field_validator("sql")
    @classmethod
    def _read_only(cls, sql: str) -> str:
        problem = read_only_problem(sql)
        if problem:
            raise ValueError(f"not a read-only SELECT: {problem}")
        return sql


def unique_names(queries: Sequence[SmokeQuery]) -> list[str]:
    """Name each (target, name) declared twice."""
    seen: set[tuple[str, str]] = set()
    twice = []
    for q in queries:
        if (q.target, q.name) in seen:
            twice.append(f"smoke query {q.name!r} of {q.target} is declared twice")
        seen.add((q.target, q.name))
    return twice
