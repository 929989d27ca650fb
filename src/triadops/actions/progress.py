"""A running step's progress meter: bytes done of a total, stored on the step about once a second.

An action measures a long stage with ``ctx.progress(what, total_bytes)``: work in a thread
calls ``meter.update`` or ``meter.add`` (plain attribute writes, no I/O), or the meter
watches a file that grows (a dump being written). A task on the event loop stores a
reading every ``step_progress_s`` when it changed, each in a short transaction
of its own, and a last one when the stage ends, so a CLI watching through the API shows
bytes done of the total and the rate. Storing is best effort: a failure is logged, never
the step's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.domain.clock import monotonic, utcnow
from triadops.domain.progress import StepProgress
from triadops.storage.operations import save_step_progress

STORE_TIMEOUT_S = 10.0
"""The most one progress write may wait (for SQLite's write lock, say) before it is dropped."""


class Meter:
    """Bytes done of a total for one stage; updated from any thread, read by the reporter."""

    def __init__(self, what: str, total_bytes: int | None, watch: Path | None = None) -> None:
        self.what = what
        self.total_bytes = total_bytes
        self.done_bytes = 0
        self.watch = watch
        """A file whose size is the bytes done (a dump being written), read at each report."""
        self.started = monotonic()
        self.finished = False

    def update(self, done_bytes: int, total_bytes: int | None = None) -> None:
        """Set the bytes done (and the total, when it became known)."""
        self.done_bytes = done_bytes
        if total_bytes is not None:
            self.total_bytes = total_bytes

    def add(self, n: int) -> None:
        """Count `n` more bytes done (from the one thread doing the work)."""
        self.done_bytes += n

    def complete(self) -> None:
        """Mark the stage done: what was done is the total (an estimate becomes exact)."""
        self._read_watched()
        self.total_bytes = self.done_bytes
        self.finished = True

    def _read_watched(self) -> None:
        if self.watch is not None:
            with suppress(OSError):
                self.done_bytes = self.watch.stat().st_size

    def reading(self) -> StepProgress:
        """The progress now."""
        self._read_watched()
        elapsed = max(monotonic() - self.started, 0.0)
        return StepProgress(
            what=self.what,
            done_bytes=self.done_bytes,
            total_bytes=self.total_bytes,
            rate_bytes_per_s=round(self.done_bytes / elapsed, 1) if elapsed > 0 else None,
            elapsed_s=round(elapsed, 3),
            finished=self.finished,
            at=utcnow(),
        )


class Reporter:
    """Stores a step's progress readings on its row."""

    def __init__(
        self,
        engine: AsyncEngine,
        operation_id: str,
        step_index: int,
        *,
        interval_s: float,
        log: structlog.stdlib.BoundLogger,
    ) -> None:
        self.engine = engine
        self.operation_id = operation_id
        self.step_index = step_index
        self.interval_s = interval_s
        self.log = log
        self.stored: StepProgress | None = None
        """The last reading stored (tests and the action's output read it)."""

    async def store(self, meter: Meter) -> None:
        """Store the meter's reading now, unless it is what was stored last."""
        reading = meter.reading()
        last = self.stored
        if last is not None and (last.done_bytes, last.total_bytes, last.finished) == (
            reading.done_bytes,
            reading.total_bytes,
            reading.finished,
        ):
            return
        try:
            await asyncio.wait_for(
                save_step_progress(
                    self.engine,
                    self.operation_id,
                    self.step_index,
                    reading.model_dump(mode="json"),
                ),
                STORE_TIMEOUT_S,
            )
        except Exception as exc:  # a timeout, a database error: telemetry never fails a step
            self.log.warning("step progress not stored", error=type(exc).__name__)
            return
        self.stored = reading

    async def every_interval(self, meter: Meter) -> None:
        """Store a reading each interval until cancelled."""
        while True:
            await asyncio.sleep(self.interval_s)
            await self.store(meter)

    @asynccontextmanager
    async def stage(
        self, what: str, total_bytes: int | None, watch: Path | None
    ) -> AsyncIterator[Meter]:
        """Measure one stage; store its first reading, then each interval, then the last."""
        meter = Meter(what, total_bytes, watch)
        await self.store(meter)
        ticking = asyncio.create_task(self.every_interval(meter))
        try:
            yield meter
        finally:
            ticking.cancel()
            with suppress(asyncio.CancelledError):
                await ticking
            await asyncio.shield(self.store(meter))
