"""List modules over 400 lines and functions over 60, and fail for any without a written reason.

The reasons live in ``tools/sizes.toml``, one entry per exception. An exception with no reason,
or an entry that no longer names an offender (the module was split, the function shortened),
fails too, so the list stays the truth. Run by ``make lint``; ``--root`` and ``--reasons`` let a
test point it at a temporary tree.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

MODULE_LINES = 400
FUNCTION_LINES = 60
SCANNED = ("src",)


def _functions(tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Yield each function's dotted name (``Class.method``, ``outer.inner``) and its length."""

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                    yield name, (child.end_lineno or child.lineno) - start + 1
                yield from walk(child, f"{name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def offenders(root: Path, paths: tuple[str, ...] = SCANNED) -> dict[str, int]:
    """Map each over-long module (``path``) and function (``path:name``) to its line count."""
    found: dict[str, int] = {}
    for top in paths:
        for file in sorted((root / top).rglob("*.py")):
            text = file.read_text(encoding="utf-8")
            rel = file.relative_to(root).as_posix()
            lines = len(text.splitlines())
            if lines > MODULE_LINES:
                found[rel] = lines
            for name, length in _functions(ast.parse(text, filename=rel)):
                if length > FUNCTION_LINES:
                    found[f"{rel}:{name}"] = length
    return found


def problems(found: dict[str, int], reasons: dict[str, str]) -> list[str]:
    """Say what is wrong: an offender with no written reason, or a reason with no offender."""
    out = []
    for key, lines in sorted(found.items()):
        limit = FUNCTION_LINES if ":" in key else MODULE_LINES
        reason = reasons.get(key, "")
        if not isinstance(reason, str) or not reason.strip():
            out.append(f"{key}: {lines} lines (over {limit}) and no reason in the reasons file")
    out.extend(
        f"{key}: listed with a reason but no longer over its limit: remove the entry"
        for key in sorted(set(reasons) - set(found))
    )
    return out


def load_reasons(path: Path) -> dict[str, str]:
    """Read the reasons file: ``[modules]`` and ``[functions]`` tables of ``name = reason``."""
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    reasons: dict[str, str] = {}
    for table in ("modules", "functions"):
        reasons.update(data.get(table, {}))
    return reasons


def main(argv: list[str] | None = None) -> int:
    """List the exceptions with their reasons; return 1 when one lacks a reason or is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--reasons", type=Path, default=None)
    parser.add_argument("paths", nargs="*", default=list(SCANNED))
    args = parser.parse_args(argv)
    reasons_file = args.reasons or args.root / "tools" / "sizes.toml"
    found = offenders(args.root, tuple(args.paths))
    reasons = load_reasons(reasons_file)
    for key, lines in sorted(found.items()):
        print(f"{lines:5d}  {key}  ({reasons.get(key) or 'NO REASON'})")
    wrong = problems(found, reasons)
    for line in wrong:
        print(f"sizes: {line}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
