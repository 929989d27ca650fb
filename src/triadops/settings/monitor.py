"""The monitor section: the monitoring loop every worker runs, and its cadences."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MonitorSettings(BaseModel):
    """Whether this process's worker runs the monitoring loop, and how often it wakes."""

    monitor: bool = True
    """Run the monitoring loop (heartbeats; health, alerts and notifications when leading)
    in this process's worker; off for a worker that should only drive operations."""
    monitor_tick_s: float = Field(default=2.0, gt=0)
    """How often the loop wakes: beats, lease renewal, due notification groups, deliveries."""
    monitor_heartbeat_s: float = Field(default=10.0, gt=0)
    """How often a worker beats; branch availability reads a worker as up while it does."""
