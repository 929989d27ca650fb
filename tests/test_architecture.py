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


STATE_WRITERS = {
    "constitution/lifecycle.py": "operations and steps change state here only",
    "ops/alerts/lifecycle.py": "alerts and silences change state here only",
    # The ledger's folds write what the ledger says into their own records, never into rows.
    "constitution/ledger/folds.py": "the folds' state, not a row",
    "constitution/ledger/audit.py": "the replay's fold state, not a row",
    "constitution/ledger/alert_audit.py": "the alert folds' state, not a row",
    "constitution/ledger/notification_audit.py": "the delivery folds' state, not a row",
    "cli/progress.py": "a Rich status line named status, not a state",
    "ops/runbooks/service.py": "an incident report's outcome while its run builds it, a model",
    "storage/incidents.py": "an incident report replaced whole with its outcome: a record",
}
"""Modules that may assign `.status` or `.state`, each with why."""


def state_assignments(path: Path) -> list[int]:
    """Return the lines that assign an attribute named status or state, in any form."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        while targets:
            target = targets.pop()
            if isinstance(target, ast.Tuple | ast.List):
                targets.extend(target.elts)
            elif isinstance(target, ast.Starred):
                targets.append(target.value)
            elif isinstance(target, ast.Attribute) and target.attr in ("status", "state"):
                lines.append(target.lineno)
    return sorted(lines)


def test_states_change_only_in_the_lifecycle_modules() -> None:
    offenders = {
        where: found
        for path in SRC.rglob("*.py")
        if (where := path.relative_to(SRC).as_posix()) not in STATE_WRITERS
        and (found := state_assignments(path))
    }
    assert offenders == {}


def test_the_state_check_sees_every_form_of_assignment(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "row.status = 'x'\n"
        "a, (b.state, c) = 1, (2, 3)\n"
        "row.status += 'y'\n"
        "self.state: str = 'z'\n"
        "row.status == 'w'\n"
        "status = 'v'\n"
        "row.state_reason = 'u'\n"
    )
    assert state_assignments(module) == [1, 2, 3, 4]
