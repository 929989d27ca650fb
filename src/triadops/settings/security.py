"""The security section: where ``security_updates`` looks for known vulnerabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, HttpUrl


class SecuritySettings(BaseModel):
    """The ``security_updates`` task: pip-audit over Python packages, the OS's pending updates."""

    vulnerability_service: Literal["pypi", "osv"] = "pypi"
    """The database pip-audit asks: PyPI's JSON API or OSV."""
    osv_url: HttpUrl | None = None
    """An OSV-compatible query endpoint (a mirror inside the network); implies ``osv``."""
    python_paths: list[Path] = Field(default_factory=list, max_length=20)
    """Other site-packages folders to audit (a service's virtualenv), beside triad's own."""
    os_updates: bool = True
    """Ask the OS's package manager (apt, simulated, never installing) what is pending."""
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    """The most one audit (pip-audit, or the package manager) may take."""
    max_findings: int = Field(default=200, ge=1, le=10_000)
    """Findings kept in a report; the counts stay whole."""
