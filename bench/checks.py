"""A noop with the four built-in checks, at 50,000 stored operations beside 1,000.

Two SQLite homes are filled with history through the real pipeline (noops submitted in
groups and driven to ``completed``, every transition with its ledger entry), 1,000 and
50,000 operations. Then single noops that ask for the built-in validation checks are run
one at a time, as ``triad ops submit --wait`` runs them, alternating between the two homes
so the machine's load falls on both alike; the ratio of the p50s is the figure. A plain noop
(no checks) on each home is timed in the same rounds, as context.

Then 1,000 healthy noops with the checks run on the large home the way a worker runs them,
a batch at a time: any that is rolled back or not completed is a false rollback.

    python bench/checks.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from pipeline import BENCHER, noop_request, submit_grouped
from table import Row, cli, percentile
from triadops.actions.procedures import DEFAULT_CRITERIA
from triadops.checks.measurements import number, section
from triadops.constitution.commits import Submissions
from triadops.constitution.legislative.service import (
    commit_new_operation,
    review_request,
    store_reviewed,
)
from triadops.domain.enums import OperationStatus
from triadops.domain.operations import CheckResult, OperationRequest
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.operations import count_by_status
from triadops.storage.records import load_operation
from triadops.worker.claims import drive_once, wait_for_operation

GROUP = 500
"""Operations of history submitted and driven together."""


def checked_request() -> OperationRequest:
    """A maintenance noop that asks for the four built-in checks."""
    return noop_request().model_copy(update={"validation_criteria": list(DEFAULT_CRITERIA)})


async def fill(rt: Runtime, n: int) -> float:
    """Store `n` completed noops through the pipeline, in groups; return the seconds taken."""
    powers = rt.powers
    started = time.perf_counter()
    for first in range(0, n, GROUP):
        submissions = Submissions(rt.sessions)

        async def submit(req: OperationRequest, submissions: Submissions = submissions) -> None:
            async with rt.session(read_only=True) as reading:
                reviewed = await review_request(reading, powers, request=req, requester=BENCHER)

            async def apply(session: AsyncSession, _tick: object) -> None:
                store_reviewed(session, powers, reviewed)

            await submissions.submit(apply)

        await asyncio.gather(*(submit(noop_request()) for _ in range(min(GROUP, n - first))))
        await submissions.stop()
        while await drive_once(powers, owner="history", limit=GROUP):
            pass
    async with rt.session(read_only=True) as session:
        counts = await count_by_status(session)
    assert counts == {"completed": n}, f"history did not complete: {counts}"
    return time.perf_counter() - started


async def one(rt: Runtime, request: OperationRequest) -> tuple[float, OperationStatus]:
    """Submit one request and drive it to its end; return (seconds, final status)."""
    started = time.perf_counter()
    async with rt.session(read_only=True) as reading:
        reviewed = await review_request(reading, rt.powers, request=request, requester=BENCHER)
    async with rt.session() as session:
        store_reviewed(session, rt.powers, reviewed)
        await commit_new_operation(session, request.operation_id)
    op = await wait_for_operation(rt.powers, request.operation_id, drive=True, owner="bench")
    return time.perf_counter() - started, op.status


@dataclass
class Outcomes:
    """What became of healthy operations run in batches."""

    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    """One line per operation rolled back or not completed, with its failed findings."""
    retried: int = 0
    """Round-trip measurements that took more than one burst (a busy moment waited out)."""
    seconds: float = 0.0


def bursts(finding: CheckResult) -> list[int]:
    """Return the bursts each measurement of a performance finding took, per target."""
    return [
        int(number(taken))
        for measured in (finding.before or {}, finding.after or {})
        for taken in section(measured.get("bursts")).values()
    ]


async def healthy_batches(rt: Runtime, n: int) -> Outcomes:
    """Run `n` checked noops as a worker would, a batch at a time; say what became of them."""
    powers = rt.powers
    started = time.perf_counter()
    requests = [checked_request() for _ in range(n)]
    await submit_grouped(rt, requests)
    while await drive_once(powers, owner="worker"):
        pass
    out = Outcomes(seconds=time.perf_counter() - started)
    async with rt.session(read_only=True) as session:
        for req in requests:
            op = await load_operation(session, req.operation_id)
            out.statuses[op.status.value] += 1
            verdict = op.validation_result
            findings = [] if verdict is None else verdict.findings
            out.retried += sum(
                taken > 1
                for f in findings
                if f.name == "performance_within_baseline"
                for taken in bursts(f)
            )
            if op.status is not OperationStatus.COMPLETED or verdict is None or not verdict.passed:
                failed = "; ".join(f"{f.name}: {f.detail}" for f in findings if not f.passed)
                out.failures.append(
                    f"{op.operation_id} {op.status.value}: {failed or op.status_reason}"
                )
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def rows(quick: bool) -> list[Row]:
    small_n, large_n = 1_000, 50_000
    n = 50 if quick else 200
    healthy_n = 200 if quick else 1_000
    with tempfile.TemporaryDirectory() as small_home, tempfile.TemporaryDirectory() as large_home:
        small = await Runtime.open(Settings(home=Path(small_home)))
        large = await Runtime.open(Settings(home=Path(large_home)))
        try:
            small_s = await fill(small, small_n)
            large_s = await fill(large, large_n)
            print(
                f"  history: {small_n} in {small_s:.0f}s, {large_n} in {large_s:.0f}s",
                file=sys.stderr,
                flush=True,
            )
            # One untimed round each, so both homes have stored a baseline and warm pools.
            for rt in (small, large):
                await one(rt, checked_request())
            at_small: list[float] = []
            at_large: list[float] = []
            bare_small: list[float] = []
            bare_large: list[float] = []
            statuses: Counter[str] = Counter()
            for i in range(n):
                order = [
                    (small, checked_request, at_small),
                    (large, checked_request, at_large),
                    (small, noop_request, bare_small),
                    (large, noop_request, bare_large),
                ]
                for rt, make, into in order if i % 2 else reversed(order):
                    seconds, status = await one(rt, make())
                    into.append(seconds)
                    statuses[status.value] += 1
            assert statuses == {"completed": 4 * n}, f"not every noop completed: {statuses}"
            healthy = await healthy_batches(large, healthy_n)
        finally:
            await small.close()
            await large.close()
    for failure in healthy.failures[:5]:
        print(f"  false rollback: {failure}", file=sys.stderr, flush=True)
    p50_small, p50_large = percentile(at_small, 50), percentile(at_large, 50)
    bare = f"{ms(percentile(bare_small, 50))} and {ms(percentile(bare_large, 50))}"
    ratio = p50_large / p50_small
    false = len(healthy.failures)
    seen = ", ".join(f"{count} {status}" for status, count in sorted(healthy.statuses.items()))
    return [
        Row(
            path=f"one noop with the 4 built-in checks, SQLite, {large_n:,} stored operations",
            measured=f"p50 {ms(p50_large)}, p99 {ms(percentile(at_large, 99))} ({n} ops)",
            baseline=(
                f"the same at {small_n:,} stored: p50 {ms(p50_small)}; "
                f"a noop without checks, p50 at each: {bare}"
            ),
            ratio=ratio,
            aim="≤2x",
            met=ratio <= 2.0,
        ),
        Row(
            path=f"{healthy_n:,} healthy noops with the checks, batches of 64, {large_n:,} stored",
            measured=f"{false} rolled back or not completed",
            baseline=(
                f"{seen} in {healthy.seconds:.0f}s; {healthy.retried} of {2 * healthy_n} "
                "round-trip measurements waited out a busy moment"
            ),
            ratio=None,
            aim="0 false rollbacks",
            met=false == 0,
        ),
    ]


if __name__ == "__main__":
    cli(rows, __doc__)
