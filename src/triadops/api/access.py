"""The access record's writer: requests hand it a row and go on; a background task writes.

A request never waits for the record: `AccessLog.add` only appends to a bounded buffer (when
it is full the row is dropped and counted, so a stalled database cannot grow memory), and a
task started by the app's lifespan writes what is buffered in batches, each in a short
transaction of its own, every `FLUSH_EVERY_S` or as soon as `BATCH` rows wait. Stopping
writes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from triadops.storage.access import Access, record_accesses

log = structlog.stdlib.get_logger(__name__)

CAPACITY = 10_000
"""Rows the buffer holds at most; beyond it rows are dropped and counted in `dropped`."""
BATCH = 500
"""Rows written per transaction, and the count that wakes the writer early."""
FLUSH_EVERY_S = 1.0
"""How long a row waits at most before it is written, when fewer than `BATCH` wait."""


class AccessLog:
    """Buffers access rows and writes them from a background task, in batches."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        capacity: int = CAPACITY,
        batch: int = BATCH,
        every_s: float = FLUSH_EVERY_S,
    ) -> None:
        self.engine = engine
        self.capacity = capacity
        self.batch = batch
        self.every_s = every_s
        self.dropped = 0
        """Rows dropped because the buffer was full, since the start."""
        self.failed = 0
        """Rows lost because their batch could not be written, since the start."""
        self._buffer: list[Access] = []
        self._due = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._told_dropped = 0

    def add(self, access: Access) -> None:
        """Buffer one row without waiting; drop and count it when the buffer is full."""
        if len(self._buffer) >= self.capacity:
            self.dropped += 1
            return
        self._buffer.append(access)
        if len(self._buffer) >= self.batch:
            self._due.set()

    async def start(self) -> None:
        """Start the background writer."""
        self._task = asyncio.create_task(self._write_forever(), name="access record")

    async def stop(self) -> None:
        """Stop the writer once its batch in hand is written, then write what is still buffered.

        Not cancelled: a batch cut off mid-transaction would be lost.
        """
        self._stopping = True
        self._due.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        """Write every buffered row, `batch` rows per transaction."""
        if self.dropped > self._told_dropped:
            log.warning("access records dropped: the buffer was full", total=self.dropped)
            self._told_dropped = self.dropped
        while self._buffer:
            taken, self._buffer = self._buffer[: self.batch], self._buffer[self.batch :]
            try:
                await record_accesses(self.engine, taken)
            except Exception as exc:
                # The record is best effort: a failed batch is counted and logged, not retried,
                # so a broken database cannot pile rows up behind it.
                self.failed += len(taken)
                log.warning("access records not written", rows=len(taken), error=type(exc).__name__)

    async def _write_forever(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due.wait(), self.every_s)
            self._due.clear()
            await self.flush()
