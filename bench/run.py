"""The benchmark table: every path users take, each beside a baseline measured in the same run.

    python bench/run.py [--quick] [--only NAME ...]

Each shape lives in its own module and returns rows (``table.Row``); the ratio is the figure,
since these machines are noisy. ``make bench`` runs this; the README carries its output.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time

from table import Row, markdown

SHAPES = [
    "pipeline",
    "lone",
    "api",
    "health",
    "checks",
    "verify",
    "workers",
    "alerts",
    "flood",
    "agents",
    "maintenance",
    "windows",
    "backup",
    "logs",
]
"""Module names under bench/, in the table's order."""


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smaller runs, for a smoke test.")
    parser.add_argument("--only", nargs="*", choices=SHAPES, help="Run only these shapes.")
    args = parser.parse_args()
    table: list[Row] = []
    for name in args.only or SHAPES:
        started = time.perf_counter()
        module = importlib.import_module(name)
        got: list[Row] = await module.rows(args.quick)
        print(f"{name}: {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)
        for row in got:
            print("  " + " | ".join(row.cells()), file=sys.stderr, flush=True)
        table += got
    print(markdown(table))


if __name__ == "__main__":
    asyncio.run(main())
