"""The runbooks section: whether a firing alert starts its runbook by itself, and how far."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class RunbookSettings(BaseModel):
    """What the monitor's leader does when an alert a runbook answers fires."""

    on_alert: Literal["off", "diagnose", "resolve"] = "diagnose"
    """``diagnose`` (read-only: an incident report per firing alert), ``resolve`` (also submit
    the resolution as ``triad:runbooks``, an executive that approves nothing: what needs an
    approval waits for a person), or ``off``."""
    max_running: int = Field(default=2, ge=1, le=20)
    """Runs at once; more firing alerts wait for the next pass."""
    resolve_wait_s: float = Field(default=600.0, gt=0, le=86_400)
    """How long an automatic run waits for its resolution before documenting what it saw."""
