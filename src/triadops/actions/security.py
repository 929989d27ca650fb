"""``security.audit``: known vulnerabilities in Python packages and pending OS updates.

Python: pip-audit, in its own process (a timeout kills it), over triad's own environment
and any configured site-packages folders, against PyPI's JSON API or an OSV-compatible
service (``[security]``). A package the service does not answer for is *not audited*, never
clean: when it answered for none (offline, or an index that holds none of them) the audit is
skipped and says so. OS: ``apt-get -s upgrade`` (a simulation, no lock, nothing installed)
where apt exists; elsewhere the platform cannot tell, and the report says that.

Nothing is upgraded here: an upgrade is an operation of its own, approved like any other.
The report is stored (``storage.security``) and read back by the alerts that follow it.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import ClassVar

import orjson
import re2
from pydantic import BaseModel, ConfigDict, JsonValue

from triadops.actions.base import Action, ActionContext, Output
from triadops.actions.commands.invocation import Completed, Invocation
from triadops.actions.commands.local import LocalRunner
from triadops.domain.enums import Risk
from triadops.domain.operations import StepPreview, utcnow
from triadops.domain.security import (
    OsAudit,
    PendingUpdate,
    PythonAudit,
    SecurityReport,
    Vulnerability,
    report_status,
)
from triadops.settings.security import SecuritySettings
from triadops.storage.security import save_report
from triadops.storage.targets import OWN_DATABASE

OUTPUT_LIMIT = 8 * 1024 * 1024
"""Bytes of pip-audit's JSON kept (a few hundred packages take tens of kilobytes)."""
LISTED = 20
"""Names listed of what could not be audited."""
REASON_LENGTH = 300
NETWORK_ENV = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)
"""Passed on to pip-audit (beyond the minimal environment) so a proxied network, or one
behind an inspecting proxy with its own CA, still reaches the service."""
_USERINFO = re2.compile(r"://[^/@\s]+@")
_INST = re2.compile(r"^Inst (\S+) (?:\[([^\]]+)\] )?\((\S+) (.+?)(?: \[[^\]]*\])?\)")


def _plain(text: str) -> str:
    """The last non-empty line of `text`, credentials in URLs masked, bounded."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else "no message"
    masked: str = _USERINFO.sub("://***@", last)
    return masked[:REASON_LENGTH]


def pip_audit_argv(settings: SecuritySettings, cache_dir: str) -> tuple[str, ...]:
    """The pip-audit command for `settings`: JSON out, no spinner, bounded waits."""
    argv = [
        sys.executable,
        "-m",
        "pip_audit",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--skip-editable",
        "--timeout",
        str(max(1, int(settings.timeout_s / 4))),
        "--cache-dir",
        cache_dir,
    ]
    if settings.osv_url is not None or settings.vulnerability_service == "osv":
        argv += ["--vulnerability-service", "osv"]
        if settings.osv_url is not None:
            argv += ["--osv-url", str(settings.osv_url)]
    for path in settings.python_paths:
        argv += ["--path", str(path)]
    return tuple(argv)


def parse_pip_audit(done: Completed, *, service: str, keep: int) -> PythonAudit:
    """Read pip-audit's JSON; anything else is a skipped audit with pip-audit's last words."""
    try:
        data = orjson.loads(done.stdout) if not done.truncated else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        why = "timed out" if done.timed_out else _plain(done.stderr or done.stdout)
        return PythonAudit(status="skipped", reason=f"pip-audit could not finish: {why}")
    dependencies = [d for d in data["dependencies"] if isinstance(d, dict)]
    not_audited = [str(d.get("name")) for d in dependencies if d.get("skip_reason")]
    vulnerable: list[Vulnerability] = []
    advisories = 0
    for dep in dependencies:
        vulns = [v for v in dep.get("vulns") or [] if isinstance(v, dict)]
        if not vulns:
            continue
        advisories += len(vulns)
        ids = [str(i) for v in vulns for i in [v.get("id"), *(v.get("aliases") or [])] if i]
        fixes = sorted({str(f) for v in vulns for f in v.get("fix_versions") or []})
        first = str(vulns[0].get("description") or "")
        vulnerable.append(
            Vulnerability(
                package=str(dep.get("name")),
                version=str(dep.get("version")),
                ids=list(dict.fromkeys(ids)),
                fix_versions=fixes,
                description=first[:500],
            )
        )
    audited = len(dependencies) - len(not_audited)
    if audited == 0:
        return PythonAudit(
            status="skipped",
            reason=(
                f"the vulnerability service ({service}) answered for none of the "
                f"{len(dependencies)} packages: no network, or it knows none of them; "
                "nothing was shown to be safe"
            ),
            packages=len(dependencies),
            not_audited=not_audited[:LISTED],
        )
    left_out = f"{len(not_audited)} packages not audited" if not_audited else None
    return PythonAudit(
        status="audited",
        reason=left_out,
        packages=len(dependencies),
        audited=audited,
        not_audited=not_audited[:LISTED],
        vulnerable=vulnerable[:keep],
        vulnerabilities=advisories,
    )


def parse_apt(done: Completed, *, keep: int) -> OsAudit:
    """Read ``apt-get -s upgrade``: one ``Inst`` line per package it would upgrade."""
    if done.exit_code != 0:
        why = "timed out" if done.timed_out else _plain(done.stderr or done.stdout)
        return OsAudit(status="unknown", manager="apt", reason=f"apt-get failed: {why}")
    updates: list[PendingUpdate] = []
    for line in done.stdout.splitlines():
        found = _INST.match(line)
        if found is None:
            continue
        package, installed, candidate, origin = found.groups()
        updates.append(
            PendingUpdate(
                package=package,
                installed=installed,
                candidate=candidate,
                origin=origin[:200],
                security="security" in origin.lower(),
            )
        )
    updates.sort(key=lambda u: (not u.security, u.package))
    return OsAudit(
        status="checked",
        manager="apt",
        pending=len(updates),
        security=sum(u.security for u in updates),
        updates=updates[:keep],
    )


class AuditParams(BaseModel):
    """What to audit."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    python: bool = True
    """Audit Python packages with pip-audit."""
    os: bool = True
    """Ask the OS's package manager what is pending (when ``security.os_updates``)."""


class SecurityAuditAction(Action[AuditParams]):
    """Look for known vulnerabilities and pending OS updates; store the report; change nothing."""

    name: ClassVar[str] = "security.audit"
    description: ClassVar[str] = (
        "Audit Python packages for known vulnerabilities (pip-audit) and list pending OS "
        "updates; store the report; upgrades nothing"
    )
    params_model: ClassVar[type[BaseModel]] = AuditParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    """It changes nothing on the system; the report it stores is evidence, kept."""
    idempotent: ClassVar[bool] = True
    interruptible: ClassVar[bool] = True
    timeout_s: ClassVar[float] = 3600.0
    """Above the two audits' own timeouts (``security.timeout_s`` each)."""

    def __init__(self, runner: LocalRunner | None = None) -> None:
        self.runner = runner or LocalRunner()

    async def preview(self, ctx: ActionContext, params: AuditParams) -> StepPreview:
        """Say what would be asked, changing nothing."""
        s = ctx.settings.security
        service = str(s.osv_url) if s.osv_url else s.vulnerability_service
        parts = []
        if params.python:
            parts.append(
                f"audit triad's Python environment and {len(s.python_paths)} more with "
                f"pip-audit against {_USERINFO.sub('://***@', service)}"
            )
        if params.os and s.os_updates:
            parts.append("ask apt-get (simulated) for pending updates")
        parts.append("store the report; upgrade nothing")
        return StepPreview(
            summary="; ".join(parts),
            touches=["triad.security_reports"],
            amounts={"environments": 1 + len(s.python_paths)},
        )

    async def run(self, ctx: ActionContext, params: AuditParams) -> Output:
        """Run the audits, store the report, and answer its status (``skipped`` says why)."""
        s = ctx.settings.security
        python = (
            await self._python(ctx, s)
            if params.python
            else PythonAudit(status="skipped", reason="not asked for (python = false)")
        )
        os_audit = (
            await self._os(s)
            if params.os and s.os_updates
            else OsAudit(status="off", reason="not asked for")
        )
        report = SecurityReport(
            created_at=utcnow(),
            status=report_status(python, os_audit),
            python=python,
            os=os_audit,
        )
        report_id = await save_report(
            ctx.databases.get(OWN_DATABASE),
            report,
            operation_id=ctx.operation_id,
            step_key=ctx.idempotency_key,
        )
        ctx.log.info("security audit stored", report_id=report_id, status=report.status)
        output: dict[str, JsonValue] = {
            "report_id": report_id,
            "status": report.status,
            "summary": report.summary,
            "vulnerable_packages": len(python.vulnerable),
            "os_security_updates": os_audit.security,
        }
        if python.status == "skipped":  # never a pass: nothing was shown to be safe
            output["skipped"] = python.reason
        return output

    async def _python(self, ctx: ActionContext, s: SecuritySettings) -> PythonAudit:
        cache = ctx.settings.home / "cache" / "pip-audit"
        cache.mkdir(parents=True, exist_ok=True)
        env = {k: os.environ[k] for k in NETWORK_ENV if k in os.environ}
        done = await self.runner.run(
            Invocation(
                argv=pip_audit_argv(s, str(cache)),
                env=env,
                cwd=None,
                timeout_s=s.timeout_s,
                output_limit=OUTPUT_LIMIT,
            )
        )
        service = "OSV" if s.osv_url or s.vulnerability_service == "osv" else "PyPI"
        return parse_pip_audit(done, service=service, keep=s.max_findings)

    async def _os(self, s: SecuritySettings) -> OsAudit:
        apt = shutil.which("apt-get")
        if apt is None:
            return OsAudit(
                status="unknown", reason="no apt-get here: this platform cannot tell what is due"
            )
        done = await self.runner.run(
            Invocation(
                argv=(apt, "-s", "-o", "Debug::NoLocking=1", "upgrade"),
                env={"LANG": "C", "LC_ALL": "C"},
                cwd=None,
                timeout_s=s.timeout_s,
                output_limit=OUTPUT_LIMIT,
            )
        )
        return parse_apt(done, keep=s.max_findings)
