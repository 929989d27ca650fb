"""``http_probe.<name>`` checks against a real local HTTP service, alone and in the pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from tests.fixtures.http_service import HttpService, Seen, http_service
from tests.fixtures.pipeline import approve, load, request, submit
from triadops.checks.base import CheckContext
from triadops.checks.http_probe import HttpProbeCheck, http_probe_checks, percentile
from triadops.domain.clock import utcnow
from triadops.domain.enums import OperationStatus, StepStatus
from triadops.domain.errors import InvalidRequest, NotFound
from triadops.domain.operations import Operation
from triadops.runtime import Runtime
from triadops.settings import Settings
from triadops.storage.engine import create_engine
from triadops.storage.targets import DatabaseTargets
from triadops.worker.claims import drive_once

SECRET = "pr0be-secret-value"


@pytest.fixture
async def service() -> AsyncIterator[HttpService]:
    async with http_service() as running:
        yield running


@pytest.fixture
async def probe(tmp_path: Path) -> AsyncIterator[Any]:
    """Build the check for one probe spec, with a check context around it."""
    home = tmp_path / "home"
    home.mkdir()
    engine = create_engine(f"sqlite+aiosqlite:///{home / 'triad.db'}")

    def build(check_timeout_s: float = 30.0, **spec: Any) -> tuple[HttpProbeCheck, CheckContext]:
        settings = Settings(
            home=home,
            database_url=f"sqlite+aiosqlite:///{home / 'triad.db'}",
            http_probes={"app": {"requests": 5, **spec}},
            check_timeout_s=check_timeout_s,
        )
        [check] = http_probe_checks(settings)
        assert isinstance(check, HttpProbeCheck)
        now = utcnow()
        operation = Operation(
            operation_id="op-probe",
            status=OperationStatus.VALIDATING,
            request=request(),
            created_at=now,
            updated_at=now,
        )
        ctx = CheckContext(
            settings=settings,
            databases=DatabaseTargets(engine, {}),
            own=engine,
            operation=operation,
        )
        return check, ctx

    try:
        yield build
    finally:
        await engine.dispose()


async def test_a_steady_service_passes(service: HttpService, probe: Any) -> None:
    check, ctx = probe(url=service.url("/health"), json_field="status", expected="ok")

    before = await check.measure(ctx)
    after = await check.measure(ctx)
    result = check.judge(ctx, before, after)

    assert result.passed, result.detail
    assert check.name == "http_probe.app"
    assert len(service.seen) == 10 and {s.raw_path for s in service.seen} == {"/health"}
    assert after["statuses"] == {"200": 5} and after["errors"] == 0
    assert after["json_matches"] is True and after["json_value"] == "ok"
    assert result.detail.startswith(f"{service.url('/health')}: 5 of 5 answered as expected")
    assert "p95" in result.detail and "tolerance 3x" in result.detail


async def test_a_service_slower_after_fails_naming_p95(service: HttpService, probe: Any) -> None:
    check, ctx = probe(url=service.url("/health"), latency_floor_ms=50)
    before = await check.measure(ctx)
    service.delay_s = 0.25

    after = await check.measure(ctx)
    result = check.judge(ctx, before, after)

    assert not result.passed
    assert float(str(after["p95_ms"])) >= 250
    assert f"ms after vs {float(str(before['p95_ms'])):.0f} ms before" in result.detail
    assert "tolerance 3x (limit 50 ms)" in result.detail and "p95 " in result.detail


async def test_a_wrong_json_field_after_fails(service: HttpService, probe: Any) -> None:
    check, ctx = probe(url=service.url("/health"), json_field="status", expected="ok")
    before = await check.measure(ctx)
    service.payload = {"status": "degraded"}

    result = check.judge(ctx, before, await check.measure(ctx))

    assert not result.passed
    assert "json field status was 'degraded' after, expected 'ok'" in result.detail


async def test_a_field_of_another_type_is_not_equal(service: HttpService, probe: Any) -> None:
    service.payload = {"checks": [{"ready": 1}]}
    check, ctx = probe(url=service.url("/health"), json_field="checks.0.ready", expected=True)

    measured = await check.measure(ctx)

    assert measured["json_value"] == 1 and measured["json_matches"] is False


async def test_a_500_after_fails(service: HttpService, probe: Any) -> None:
    check, ctx = probe(url=service.url("/health"))
    before = await check.measure(ctx)
    service.status = 500

    result = check.judge(ctx, before, await check.measure(ctx))

    assert not result.passed
    assert "5 of 5 answered an unexpected status after (500 x5; expected 200)" in result.detail


async def test_a_service_down_after_fails_with_the_reason(service: HttpService, probe: Any) -> None:
    check, ctx = probe(url=service.url("/health"))
    before = await check.measure(ctx)
    await service.stop()

    result = check.judge(ctx, before, await check.measure(ctx))

    assert not result.passed and "5 of 5 requests failed after (ConnectError" in result.detail


async def test_a_service_failing_before_is_judged_on_its_after_state_alone(
    service: HttpService, probe: Any
) -> None:
    check, ctx = probe(url=service.url("/health"), json_field="status", expected="ok")
    service.status = 503
    broken_before = await check.measure(ctx)

    still_broken = check.judge(ctx, broken_before, await check.measure(ctx))
    service.status = 200
    mended = check.judge(ctx, broken_before, await check.measure(ctx))
    service.payload = {"status": "starting"}
    wrong = check.judge(ctx, broken_before, await check.measure(ctx))

    assert not still_broken.passed  # "as bad as before" is not a pass
    assert "answered an unexpected status after" in still_broken.detail
    assert mended.passed, mended.detail
    assert "already failing" in mended.detail and "latency not compared" in mended.detail
    assert not wrong.passed


async def test_requests_past_the_check_budget_count_as_failed(
    service: HttpService, probe: Any
) -> None:
    service.delay_s = 0.3
    check, ctx = probe(url=service.url("/health"), requests=10, check_timeout_s=1.0)

    measured = await check.measure(ctx)

    assert 0 < int(str(measured["errors"])) < 10
    assert "budget was spent" in str(measured["failure"]) or "no answer within" in str(
        measured["failure"]
    )
    assert len(service.seen) < 10


async def test_a_secret_header_is_sent_and_masked(
    service: HttpService, probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_PROBE_TOKEN", SECRET)
    service.echo_headers = True
    check, ctx = probe(
        url=service.url("/health"),
        headers={"Authorization": "Bearer ${TRIAD_PROBE_TOKEN}"},
        json_field="headers.authorization",
        expected="nope",
    )

    with capture_logs() as logs:
        measured = await check.measure(ctx)
        result = check.judge(ctx, measured, measured)

    assert service.seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert measured["json_value"] == "***"  # the whole header value is a secret
    assert SECRET not in str(measured) + result.detail + str(logs)


async def test_a_missing_environment_variable_fails_the_measurement_naming_it(
    service: HttpService, probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIAD_PROBE_ABSENT", raising=False)
    check, ctx = probe(url=service.url("/health"), headers={"X-Key": "${TRIAD_PROBE_ABSENT}"})

    with pytest.raises(NotFound, match="environment variable TRIAD_PROBE_ABSENT is not set"):
        await check.measure(ctx)

    assert service.seen == []


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (10.0, 19.0)
    assert percentile([7.0], 0.95) == 7.0 and percentile([], 0.5) is None


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"url": "http://127.0.0.1/health/{x}"}, "takes no parameters"),
        ({"url": "http://example.org/health"}, "http_probes.app.url: host 'example.org'"),
        ({"url": "http://127.0.0.1/h", "json_field": "a..b", "expected": 1}, "json_field"),
        ({"url": "http://127.0.0.1/h", "json_field": "status"}, "needs the expected value"),
        ({"url": "http://127.0.0.1/h", "expected": "ok"}, "needs a json_field"),
    ],
)
def test_a_bad_probe_is_refused_at_load(spec: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says.replace(".", r"\.")):
        Settings(http_probes={"app": spec})


# The pipeline: an operation validated by the probe, through the real runtime.


def deploying(settings: Settings, service: HttpService) -> Settings:
    """`settings` plus a reversible deploy endpoint and the probe ``app`` on `service`."""
    return Settings(
        home=settings.home,
        database_url=settings.database_url,
        monitor=False,
        http_endpoints={
            "deploy": {
                "description": "deploy a version",
                "url": service.url("/deploy/{version}"),
                "params": {"version": {"pattern": "[0-9.]+"}},
                "headers": {"Authorization": "Bearer ${TRIAD_DEPLOY_TOKEN}"},
                "rollback": {"method": "DELETE", "url": service.url("/deploy/{version}")},
                "reversible": True,
                "risk": "low",
            }
        },
        http_probes={
            "app": {"url": service.url("/health"), "requests": 5, "json_field": "status"}
            | {"expected": "ok"}
        },
    )


def breaks_health(service: HttpService, seen: Seen) -> None:
    """A deployment that breaks the service's health, and a rollback that mends it."""
    if seen.raw_path.startswith("/deploy/"):
        if seen.method == "POST":
            service.statuses["/health"] = 500
        elif seen.method == "DELETE":
            service.statuses.pop("/health", None)


async def run_through(rt: Runtime, version: str) -> Operation:
    req = request(
        [("http.deploy", {"version": version})],
        operation_type="deployment",
        validation_criteria=["http_probe.app"],
        rollback_plan="DELETE the deployed version",
    )
    op = await submit(rt, req)
    # SOP-001: a deployment waits for the legislature, whatever its risk.
    assert op.status is OperationStatus.AWAITING_APPROVAL, op.status_reason
    op = await approve(rt, op.operation_id)
    assert op.status is OperationStatus.SCHEDULED, op.status_reason
    while await drive_once(rt.powers, owner="w"):
        pass
    return await load(rt, op.operation_id)


async def test_an_operation_validated_by_the_probe_completes(
    settings: Settings, service: HttpService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_DEPLOY_TOKEN", SECRET)
    rt = await Runtime.open(deploying(settings, service), migrate=False)
    try:
        # The endpoints and probes are governance: stored and hashed like any other.
        assert await rt.check_governance(writer="test") is not None
        with capture_logs() as logs:
            done = await run_through(rt, "1.2.3")
    finally:
        await rt.close()

    assert done.status is OperationStatus.COMPLETED, done.status_reason
    assert done.validation_result is not None
    [probe] = [f for f in done.validation_result.findings if f.name == "http_probe.app"]
    assert probe.passed and "5 of 5 answered as expected" in probe.detail
    posts = [s for s in service.seen if s.method == "POST"]
    assert [s.raw_path for s in posts] == ["/deploy/1.2.3"]
    assert done.plan is not None and "Bearer ***" in done.plan.steps[0].preview.summary
    assert SECRET not in str(logs) + done.model_dump_json()


async def test_an_operation_whose_service_turns_bad_is_rolled_back(
    settings: Settings, service: HttpService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_DEPLOY_TOKEN", SECRET)
    service.react = breaks_health
    rt = await Runtime.open(deploying(settings, service), migrate=False)
    try:
        done = await run_through(rt, "2.0")
    finally:
        await rt.close()

    assert done.status is OperationStatus.ROLLED_BACK, done.status_reason
    assert done.steps[0].status is StepStatus.ROLLED_BACK
    assert done.validation_result is not None and not done.validation_result.passed
    [probe] = [f for f in done.validation_result.findings if f.name == "http_probe.app"]
    assert not probe.passed and "answered an unexpected status after (500 x5" in probe.detail
    calls = [(s.method, s.raw_path) for s in service.seen if s.raw_path.startswith("/deploy")]
    assert calls == [("POST", "/deploy/2.0"), ("DELETE", "/deploy/2.0")]
    assert "/health" not in service.statuses  # the rollback mended it


async def test_a_parameter_aimed_at_another_host_is_refused_before_anything_is_stored(
    settings: Settings, service: HttpService
) -> None:
    rt = await Runtime.open(deploying(settings, service), migrate=False)
    attack = request([("http.deploy", {"version": "1@evil.com"})])
    try:
        with pytest.raises(InvalidRequest) as refused:
            await submit(rt, attack)
        with pytest.raises(NotFound):
            await load(rt, attack.operation_id)
    finally:
        await rt.close()

    assert refused.value.field == "steps[0].params.version"
    assert service.seen == []
