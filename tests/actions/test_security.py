"""``security.audit``: pip-audit for real against a local OSV service, apt simulated."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import HttpUrl

from tests.actions.conftest import action_context
from tests.fixtures.osv import advisory, osv_service
from tests.fixtures.servers import free_port
from triadops.actions.base import ActionContext
from triadops.actions.commands.invocation import Completed
from triadops.actions.security import AuditParams, SecurityAuditAction, parse_apt
from triadops.runtime import Runtime
from triadops.settings.security import SecuritySettings
from triadops.storage.security import latest_report

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
INSTALLED = "cachetools"
"""A package triad depends on, so it is installed wherever the tests run."""


def context(runtime: Runtime, **security: Any) -> ActionContext:
    settings = runtime.settings.model_copy(
        update={"security": SecuritySettings(os_updates=False, **security)}
    )
    return action_context(settings, runtime.databases)


async def test_a_vulnerable_package_is_found_and_the_report_stored(runtime: Runtime) -> None:
    held = {INSTALLED: [advisory("GHSA-test-0001", INSTALLED, fixed="999.0", aliases=["CVE-1"])]}
    async with osv_service(held) as osv:
        ctx = context(runtime, osv_url=HttpUrl(osv.url("/v1/query")))
        output = await SecurityAuditAction().run(ctx, AuditParams())
    asked = {seen.json()["package"]["name"] for seen in osv.seen}
    assert INSTALLED in asked and len(asked) > 10  # every installed package was asked for
    assert output["status"] == "findings"
    assert output["vulnerable_packages"] == 1
    assert "skipped" not in output
    async with runtime.session(read_only=True) as session:
        report = await latest_report(session)
    assert report is not None and report.id == output["report_id"]
    assert report.operation_id == "op-test"
    (found,) = report.python.vulnerable
    assert (found.package, set(found.ids), found.fix_versions) == (
        INSTALLED,
        {"GHSA-test-0001", "CVE-1"},
        ["999.0"],
    )
    assert "\n" not in found.description
    assert report.python.audited == report.python.packages - len(report.python.not_audited)


@SQLITE
async def test_no_advisory_is_clean_and_a_resumed_step_keeps_one_report(runtime: Runtime) -> None:
    async with osv_service({}) as osv:
        ctx = context(runtime, osv_url=HttpUrl(osv.url("/v1/query")))
        first = await SecurityAuditAction().run(ctx, AuditParams())
        again = await SecurityAuditAction().run(ctx, AuditParams())  # same idempotency key
    assert first["status"] == again["status"] == "clean"
    async with runtime.session(read_only=True) as session:
        report = await latest_report(session)
    assert report is not None and report.id == again["report_id"] == first["report_id"]
    assert report.python.vulnerable == [] and report.python.audited > 10


@SQLITE
async def test_an_unreachable_service_is_skipped_never_clean(runtime: Runtime) -> None:
    closed = f"http://triad:s3cret-pass@127.0.0.1:{free_port()}/v1/query"
    ctx = context(runtime, osv_url=HttpUrl(closed), timeout_s=60)
    action = SecurityAuditAction()
    preview = await action.preview(ctx, AuditParams())
    output = await action.run(ctx, AuditParams())
    assert output["status"] == "skipped"
    assert str(output["skipped"]).startswith("pip-audit could not finish: ")
    async with runtime.session(read_only=True) as session:
        report = await latest_report(session)
    assert report is not None and report.status == "skipped"
    assert report.summary.startswith("Python packages skipped: pip-audit could not finish")
    for text in (preview.summary, str(output), report.model_dump_json()):
        assert "s3cret-pass" not in text


@SQLITE
async def test_a_service_that_knows_no_package_is_skipped_not_clean(runtime: Runtime) -> None:
    async with osv_service({}) as osv:
        osv.failures = 10_000  # every query answered 500: pip-audit gives up
        ctx = context(runtime, osv_url=HttpUrl(osv.url("/v1/query")))
        output = await SecurityAuditAction().run(ctx, AuditParams())
    assert output["status"] == "skipped"
    assert str(output["skipped"]).startswith("pip-audit could not finish: ")
    assert osv.seen  # it was asked, and its errors were not taken for "no advisory"


APT_OUTPUT = """\
NOTE: This is only a simulation!
Reading package lists...
Inst bash [5.2.15-2+b8] (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
Inst libgcrypt20-dev [1.10.1-3] (1.10.1-3+deb12u1 Debian:12.15/oldstable, \
Debian-Security:12/oldstable-security [amd64]) []
Inst newpkg (1.0-1 Debian:12.15/oldstable [all])
Conf bash (5.2.15-2+b13 Debian:12.15/oldstable [amd64])
"""


def test_apt_lines_become_pending_updates_security_first() -> None:
    done = Completed(0, APT_OUTPUT, "", truncated=False, timed_out=False, duration_s=0.1)
    found = parse_apt(done, keep=10)
    assert (found.status, found.pending, found.security) == ("checked", 3, 1)
    assert [(u.package, u.installed, u.candidate, u.security) for u in found.updates] == [
        ("libgcrypt20-dev", "1.10.1-3", "1.10.1-3+deb12u1", True),
        ("bash", "5.2.15-2+b8", "5.2.15-2+b13", False),
        ("newpkg", None, "1.0-1", False),
    ]
    failed = Completed(100, "", "E: Could not open lock file", False, False, 0.1)
    assert parse_apt(failed, keep=10).status == "unknown"


@SQLITE
async def test_the_os_is_asked_by_simulation_where_apt_exists(runtime: Runtime) -> None:
    import shutil

    action = SecurityAuditAction()
    found = await action._os(SecuritySettings())
    if shutil.which("apt-get") is None:
        assert found.status == "unknown" and "cannot tell" in str(found.reason)
    else:
        assert found.status == "checked" and found.manager == "apt"
        assert found.pending >= found.security >= 0
