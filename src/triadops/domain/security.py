"""A security audit's report: known vulnerabilities in Python packages, pending OS updates.

``security_updates`` only looks: nothing is upgraded without an approved operation. A report
whose vulnerability service answered for no package at all is *skipped*, never clean: an
offline machine has not been shown to be safe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

AuditStatus = Literal["audited", "skipped"]
ReportStatus = Literal["findings", "clean", "skipped"]


class Vulnerability(BaseModel):
    """One installed package with the known vulnerabilities of its installed version."""

    package: str
    version: str
    ids: list[str]
    """The advisories' ids (PYSEC-…, GHSA-…, CVE-…), first of each its own."""
    fix_versions: list[str]
    description: str = Field(max_length=500)


class PythonAudit(BaseModel):
    """What pip-audit found in the audited environments."""

    status: AuditStatus
    reason: str | None = None
    """Why it was skipped, or what was left out."""
    packages: int = 0
    """Packages listed in the environments."""
    audited: int = 0
    """Packages the vulnerability service answered for."""
    not_audited: list[str] = Field(default_factory=list)
    """Packages it could not audit (not on the index, local builds), the first ones."""
    vulnerable: list[Vulnerability] = Field(default_factory=list)
    vulnerabilities: int = 0
    """Known vulnerabilities in all (the list above may be cut)."""


class PendingUpdate(BaseModel):
    """One OS package with a newer version waiting."""

    package: str
    installed: str | None
    candidate: str
    origin: str
    security: bool
    """From a security archive."""


class OsAudit(BaseModel):
    """What the OS's package manager says is pending (simulated, never installed)."""

    status: Literal["checked", "unknown", "off"]
    reason: str | None = None
    manager: str | None = None
    pending: int = 0
    security: int = 0
    updates: list[PendingUpdate] = Field(default_factory=list)
    """The pending updates, security first, the first ones."""


class SecurityReport(BaseModel):
    """One audit, as stored and shown."""

    id: int | None = None
    operation_id: str | None = None
    created_at: datetime
    status: ReportStatus
    python: PythonAudit
    os: OsAudit

    @property
    def summary(self) -> str:
        """One line that says what the audit found."""
        if self.python.status == "skipped":
            parts = [f"Python packages skipped: {self.python.reason}"]
        else:
            parts = [
                f"{len(self.python.vulnerable)} vulnerable Python packages "
                f"({self.python.vulnerabilities} advisories, {self.python.audited} of "
                f"{self.python.packages} audited)"
            ]
        if self.os.status == "checked":
            parts.append(f"{self.os.pending} OS updates pending, {self.os.security} security")
        else:
            parts.append(f"OS updates {self.os.status}: {self.os.reason}")
        return "; ".join(parts)


def report_status(python: PythonAudit, os: OsAudit) -> ReportStatus:
    """Findings when anything needs an upgrade; else skipped when no package was audited."""
    if python.vulnerable or os.security:
        return "findings"
    if python.status == "skipped":
        return "skipped"
    return "clean"
