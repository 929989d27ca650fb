"""How far a running step's long work is: bytes done of a total, and the rate.

A step's action reports it as it works (a backup's copy, a verify's reads, a recovery
test's restore); it is stored on the step, at most about once a second, so a CLI watching
through the API shows it. It is telemetry, not a ledger fact: no audit compares it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class StepProgress(BaseModel):
    """A reading of a step's progress: what it does, bytes done of the total, the rate."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    what: str = Field(max_length=100)
    """The stage being measured (``copy``, ``hash``, ``restore``)."""
    done_bytes: int = Field(ge=0)
    total_bytes: int | None = Field(default=None, ge=0)
    """None when the total is not known; an estimate may be passed (a dump compresses)."""
    rate_bytes_per_s: float | None = Field(default=None, ge=0)
    """Bytes per second since the stage began; None before any time has passed."""
    elapsed_s: float = Field(default=0.0, ge=0)
    """Seconds since the stage began."""
    finished: bool = False
    """True once the stage is over: the figures are final."""
    at: datetime
    """When this reading was taken."""
