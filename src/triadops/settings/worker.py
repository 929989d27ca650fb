"""The worker section: claims, leases, slots and the worker's own cadences."""

from __future__ import annotations

from pydantic import BaseModel, Field


class WorkerSettings(BaseModel):
    """How a worker claims, holds and drives operations, and keeps house beside them."""

    lease_s: float = Field(default=30.0, gt=0)
    """How long a worker's claim on an operation lasts without renewal."""
    worker_poll_s: float = Field(default=0.5, gt=0)
    worker_batch: int = Field(default=64, ge=1, le=1000)
    """How many operations one pass of ``drive_once`` (the CLI's ``--wait``) claims at once."""
    worker_concurrency: int = Field(default=64, ge=2, le=1000)
    """How many operations one worker drives at a time; a free slot claims at once, and one
    slot is always kept for emergencies under the crown (so at least 2). A slot is a
    coroutine, not a thread: the operations in flight share each group commit, so fewer
    slots mean smaller commits (8 drove a quarter of 64's noops a second on 2 cores)."""
    worker_housekeeping_s: float = Field(default=5.0, gt=0)
    """How often a worker rejects approvals past their deadline and flags emergencies nobody
    acknowledged."""
    worker_stop_grace_s: float = Field(default=5.0, ge=0)
    """On stop, how long running journeys may take to finish before they are cancelled.

    A cancelled journey loses nothing: its last commit stands, its lease expires, and
    another worker resumes it (an interrupted idempotent step runs again, another goes in
    doubt)."""
    worker_cancel_check_s: float = Field(default=0.5, gt=0)
    """How often a running interruptible step's cancel request is read."""
    step_progress_s: float = Field(default=1.0, gt=0, le=3600)
    """How often a running step's long work (a backup's copy, a verify) stores its progress
    (bytes done of the total, the rate) on the step, each in a short transaction of its own."""
