"""One row per path of the benchmark table: a figure beside a baseline from the same run.

Every shape module (``bench/*.py``) exposes ``async def rows(quick: bool) -> list[Row]``;
``bench/run.py`` gathers them into the table the README shows.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    """A measured path, its same-run baseline, and the aim the ratio is held against."""

    path: str
    measured: str
    baseline: str
    ratio: float | None
    aim: str = ""
    met: bool | None = None

    def cells(self) -> list[str]:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}x"
        verdict = {None: "", True: "met", False: "NOT met"}[self.met]
        return [self.path, self.measured, self.baseline, ratio, f"{self.aim} {verdict}".strip()]


HEADERS = ["path", "measured", "baseline in the same run", "ratio", "aim"]


def markdown(rows: Sequence[Row]) -> str:
    """Render rows as the Markdown table the README carries."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + " --- |" * len(HEADERS)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def percentile(samples: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100) of samples, by the inclusive method."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]


def cli(rows: Callable[[bool], Awaitable[list[Row]]], doc: str | None) -> None:
    """Run one shape from the command line (``python bench/NAME.py [--quick]``)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smaller runs, for a smoke test.")
    args = parser.parse_args()
    print(markdown(asyncio.run(rows(args.quick))))
