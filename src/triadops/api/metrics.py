"""Prometheus gauges of the pipeline, filled from the database at scrape time.

Each app has its own registry, so several apps in one process (tests) never collide.
Labels stay low-cardinality: a status, never an operation id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy.ext.asyncio import AsyncSession

from triadops.constitution.crown.service import is_frozen
from triadops.domain.enums import OperationStatus
from triadops.storage.ledger import head
from triadops.storage.operations import count_by_status


class PipelineMetrics:
    """The gauges one app exposes at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.operations = Gauge(
            "triad_operations",
            "Operations currently in each lifecycle state.",
            ["status"],
            registry=self.registry,
        )
        self.ledger_entries = Gauge(
            "triad_ledger_entries", "Entries in the crown's ledger.", registry=self.registry
        )
        self.frozen = Gauge(
            "triad_frozen", "1 while the crown holds all forward work.", registry=self.registry
        )

    async def scrape(self, session: AsyncSession) -> bytes:
        """Refresh every gauge from the database and render the text exposition."""
        counts = await count_by_status(session)
        # Every state gets a sample, so a state that empties reads 0 rather than vanishing.
        for status in OperationStatus:
            self.operations.labels(status=status.value).set(counts.get(status.value, 0))
        # The head's seq is the number of links: they are numbered from 1 without gaps (the
        # audit walk checks it), and reading it costs one row however long the chain grows.
        seq, _ = await head(session)
        self.ledger_entries.set(seq)
        self.frozen.set(1 if await is_frozen(session) else 0)
        return generate_latest(self.registry)
