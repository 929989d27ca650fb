"""The rules of ARCHITECTURE.md that import-linter cannot express, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "triadops"
STATEMENT_BUILDERS = {
    "select",
    "insert",
    "update",
    "delete",
    "text",
    "func",
    "and_",
    "or_",
    "not_",
    "literal",
    "bindparam",
    "table",
    "column",
    "exists",
    "union",
}


def sql_builders_imported(path: Path) -> list[str]:
    """Return the SQL-building names a module imports from SQLAlchemy."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            found += [a.name for a in node.names if a.name in STATEMENT_BUILDERS]
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name in ("sqlalchemy", "sqlalchemy.sql")]
    return found


def test_sql_lives_only_in_storage() -> None:
    offenders = {
        str(path.relative_to(SRC)): names
        for path in SRC.rglob("*.py")
        if "storage" not in path.relative_to(SRC).parts and (names := sql_builders_imported(path))
    }
    assert offenders == {}


def test_the_check_sees_an_offender(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from sqlalchemy import select, update\nfrom sqlalchemy.exc import DBAPIError\n"
    )
    assert sql_builders_imported(module) == ["select", "update"]
