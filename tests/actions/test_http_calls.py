"""``http.<name>`` actions against a real local HTTP service (uvicorn on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import re
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from tests.actions.conftest import action_context
from tests.fixtures.http_service import HttpService, http_service
from triadops.actions.base import ActionContext
from triadops.actions.http import BODY_LIMIT, HttpAction, http_actions
from triadops.actions.http.sending import prepare
from triadops.actions.registry import ActionRegistry
from triadops.api.openapi import Catalogue, complete
from triadops.checks.http_probe import http_probe_checks
from triadops.domain.errors import ActionFailed, InvalidRequest
from triadops.domain.http_templates import Origin
from triadops.settings import Settings
from triadops.settings.systems import HttpCallSpec
from triadops.storage.engine import create_engine
from triadops.storage.targets import DatabaseTargets

SECRET = "s3cr3t-token-4711"


@pytest.fixture
async def service() -> AsyncIterator[HttpService]:
    async with http_service() as running:
        yield running


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def configured(home: Path, allowed: list[str] | None = None, **endpoints: Any) -> Settings:
    """Settings declaring `endpoints` (each given a description)."""
    declared = {name: {"description": f"call {name}", **spec} for name, spec in endpoints.items()}
    return Settings(
        home=home,
        database_url=f"sqlite+aiosqlite:///{home / 'triad.db'}",
        http_endpoints=declared,
        http_allowed_hosts=allowed or [],
    )


@pytest.fixture
async def call(home: Path) -> AsyncIterator[Any]:
    """Build the action for one endpoint spec, with the context the executive would give."""
    engine = create_engine(f"sqlite+aiosqlite:///{home / 'triad.db'}")

    def build(**spec: Any) -> tuple[HttpAction, ActionContext]:
        settings = configured(home, ep=spec)
        [action] = http_actions(settings)
        assert isinstance(action, HttpAction)
        return action, action_context(settings, DatabaseTargets(engine, {}))

    try:
        yield build
    finally:
        await engine.dispose()


async def test_typed_params_fill_the_path_query_and_body(service: HttpService, call: Any) -> None:
    action, ctx = call(
        method="PUT",
        url=service.url("/flags/{flag}?env={env}"),
        params={
            "flag": {"pattern": "[a-z-]+"},
            "env": {"choices": ["staging", "prod"]},
            "on": {"type": "bool"},
            "percent": {"type": "int", "min": 0, "max": 100},
        },
        body={"enabled": "{on}", "percent": "{percent}", "note": "{flag} at {percent}%"},
    )
    params = action.parse({"flag": "dark-mode", "env": "prod", "on": True, "percent": 20})

    output = await action.run(ctx, params)

    [seen] = service.seen
    assert (seen.method, seen.raw_path, seen.query) == ("PUT", "/flags/dark-mode", "env=prod")
    assert seen.json() == {"enabled": True, "percent": 20, "note": "dark-mode at 20%"}
    assert output["status"] == 200 and output["attempts"] == 1
    assert output["url"] == service.url("/flags/dark-mode?env=prod")
    assert action.name == "http.ep" and action.interruptible
    for bad in (
        {"flag": "Dark", "env": "prod", "on": True, "percent": 20},
        {"flag": "x", "env": "prod", "on": "true", "percent": 20},
        {"flag": "x", "env": "prod", "on": True, "percent": 20, "host": "evil.com"},
    ):
        with pytest.raises(ValidationError):
            action.parse(bad)


@pytest.mark.parametrize(
    "value", ["evil.com/x", "@evil.com", "../..", "..", "http://evil.com:80/", "a?b=c&d=e#f"]
)
async def test_a_parameter_stays_encoded_in_the_path_on_the_configured_host(
    service: HttpService, call: Any, value: str
) -> None:
    action, ctx = call(method="GET", url=service.url("/items/{item}?q={item}"), params={"item": {}})
    params = action.parse({"item": value})

    preview = await action.preview(ctx, params)
    output = await action.run(ctx, params)

    encoded = quote(value, safe="")
    if set(value) == {"."}:
        encoded = encoded.replace(".", "%2E")
    [seen] = service.seen  # it reached this service on 127.0.0.1, and nothing else
    assert seen.raw_path == f"/items/{encoded}"
    assert seen.query == f"q={encoded}"
    assert output["url"] == service.url(f"/items/{encoded}?q={encoded}")
    assert preview.touches == [output["url"]]


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"url": "http://{host}/x", "params": {"host": {}}}, "http_endpoints.ep.url"),
        ({"url": "http://127.0.0.1:{port}/x", "params": {"port": {}}}, "http_endpoints.ep.url"),
        ({"url": "http://{h}.example.org/x", "params": {"h": {}}}, "scheme, host or port"),
        ({"url": "http://example.org/x"}, "http_endpoints.ep.url: host 'example.org'"),
        ({"url": "http://10.0.0.1/x"}, "neither loopback"),
        ({"url": "http://user@127.0.0.1/x"}, "no user name"),
        ({"url": "file:///etc/passwd"}, "http or https"),
        ({"url": "http://127.0.0.1/x/{y}"}, "undeclared parameters: ['y']"),
        (
            {"url": "http://127.0.0.1/x", "rollback": {"url": "http://example.org/undo"}},
            "http_endpoints.ep.rollback.url: host 'example.org'",
        ),
        ({"url": "http://127.0.0.1/x", "headers": {"X-Who": "{who}"}}, "may not go in headers"),
        ({"url": "http://127.0.0.1/x", "reversible": True}, "needs a rollback call"),
    ],
)
def test_a_configuration_that_could_reach_another_host_is_refused_at_load(
    home: Path, spec: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        configured(home, ep=spec)


def test_a_listed_host_is_accepted(home: Path) -> None:
    settings = configured(home, ["example.org"], ep={"url": "https://EXAMPLE.org:8443/x"})
    assert [a.name for a in http_actions(settings)] == ["http.ep"]


async def test_an_unexpected_status_fails_the_step_with_a_bounded_masked_body(
    service: HttpService, call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_TEST_TOKEN", SECRET)
    service.status, service.echo_headers, service.padding = 409, True, 200_000
    action, ctx = call(url=service.url("/deploy"), headers={"X-Token": "${TRIAD_TEST_TOKEN}"})

    with pytest.raises(ActionFailed) as failed:
        await action.run(ctx, action.parse({}))

    message = failed.value.message
    assert message.startswith(f"http.ep: POST {service.url('/deploy')} answered 409, expected")
    assert message.endswith("[truncated]") and len(message) < 1300
    assert SECRET not in message and '"x-token":"***"' in message
    assert service.seen[0].headers["x-token"] == SECRET  # the real value was sent


async def test_a_large_answer_is_kept_bounded_and_marked(service: HttpService, call: Any) -> None:
    service.padding = 3 * BODY_LIMIT
    action, ctx = call(method="GET", url=service.url("/big"))

    output = await action.run(ctx, action.parse({}))

    assert output["truncated"] is True and len(str(output["body"])) == BODY_LIMIT


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_a_non_idempotent_call_is_never_retried(
    service: HttpService, call: Any, method: str
) -> None:
    service.fail_next(5, 503)
    action, ctx = call(method=method, url=service.url("/deploy"), retries=3)

    with pytest.raises(ActionFailed, match="answered 503"):
        await action.run(ctx, action.parse({}))

    assert len(service.seen) == 1
    preview = await action.preview(ctx, action.parse({}))
    assert f"sent once ({method} is never retried)" in preview.summary


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_an_idempotent_call_is_retried_on_a_5xx(
    service: HttpService, call: Any, method: str
) -> None:
    service.fail_next(2, 503)
    action, ctx = call(method=method, url=service.url("/flag"), retries=2)

    output = await action.run(ctx, action.parse({}))

    assert len(service.seen) == 3 and output["attempts"] == 3 and output["status"] == 200


async def test_retries_stop_at_their_count_and_never_follow_a_4xx(
    service: HttpService, call: Any
) -> None:
    service.fail_next(10, 502)
    action, ctx = call(method="GET", url=service.url("/flag"), retries=2)
    with pytest.raises(ActionFailed, match="answered 502"):
        await action.run(ctx, action.parse({}))
    assert len(service.seen) == 3

    service.fail_next(10, 404)
    with pytest.raises(ActionFailed, match="answered 404"):
        await action.run(ctx, action.parse({}))
    assert len(service.seen) == 4  # a 4xx is an answer, not a fault: sent once


async def test_a_refused_connection_is_retried_for_get_and_named(
    service: HttpService, call: Any
) -> None:
    await service.stop()
    action, ctx = call(method="GET", url=service.url("/flag"), retries=2)

    with pytest.raises(ActionFailed, match=r"failed after 3 attempt\(s\): ConnectError"):
        await action.run(ctx, action.parse({}))


async def test_a_slow_answer_times_out(service: HttpService, call: Any) -> None:
    service.delay_s = 5.0
    action, ctx = call(url=service.url("/slow"), timeout_s=0.3)
    started = time.perf_counter()

    with pytest.raises(ActionFailed, match=r"failed after 1 attempt\(s\): no answer within 0.3 s"):
        await action.run(ctx, action.parse({}))

    assert time.perf_counter() - started < 3
    assert action.timeout_s >= 0.3  # the executive's bound covers every attempt


async def test_a_cancel_drops_the_request(service: HttpService, call: Any) -> None:
    service.delay_s = 30.0
    action, ctx = call(url=service.url("/slow"), timeout_s=60)
    task = asyncio.create_task(action.run(ctx, action.parse({})))
    while not service.seen:
        await asyncio.sleep(0.01)

    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)

    assert done and task.cancelled()
    deadline = time.perf_counter() + 5
    while not service.dropped:  # the service sees the connection go, long before its answer
        assert time.perf_counter() < deadline, "the request was not dropped"
        await asyncio.sleep(0.01)


async def test_a_secret_header_is_masked_in_preview_output_and_logs(
    service: HttpService, call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAD_TEST_TOKEN", SECRET)
    service.echo_headers = True
    action, ctx = call(
        url=service.url("/flags/{flag}"),
        params={"flag": {}},
        headers={"Authorization": "Bearer ${TRIAD_TEST_TOKEN}", "X-Team": "ops"},
        body={"on": True},
        rollback={"method": "DELETE", "url": service.url("/flags/{flag}")},
        reversible=True,
    )
    params = action.parse({"flag": "beta"})

    with capture_logs() as logs:
        preview = await action.preview(ctx, params)
        output = await action.run(ctx, params)
        undone = await action.rollback(ctx, params, output)

    assert preview.summary == (
        f"POST {service.url('/flags/beta')}; headers Authorization: Bearer ***, X-Team: ops; "
        'body {"on":true}; expects 200, 201, 202, 204; sent once (POST is never retried); '
        f"rollback: DELETE {service.url('/flags/beta')}; headers Authorization: Bearer ***, "
        "X-Team: ops"
    )
    assert service.seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert '"authorization":"***"' in str(output["body"])
    for shown in (preview.summary, str(output), str(undone), str(logs)):
        assert SECRET not in shown
    assert any(entry["event"] == "http call answered" for entry in logs)


async def test_a_missing_environment_variable_fails_naming_it(
    service: HttpService, call: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIAD_TEST_ABSENT", raising=False)
    action, ctx = call(url=service.url("/x"), headers={"X-Key": "${TRIAD_TEST_ABSENT}"})

    with pytest.raises(ActionFailed, match="header X-Key: environment variable TRIAD_TEST_ABSENT"):
        await action.run(ctx, action.parse({}))

    assert service.seen == []


async def test_the_rollback_call_runs_with_the_same_params(service: HttpService, call: Any) -> None:
    action, ctx = call(
        url=service.url("/flags/{flag}"),
        params={"flag": {}},
        rollback={"method": "DELETE", "url": service.url("/flags/{flag}?undo=1")},
        reversible=True,
    )
    params = action.parse({"flag": "beta"})
    output = await action.run(ctx, params)

    undone = await action.rollback(ctx, params, output)

    assert [(s.method, s.raw_path, s.query) for s in service.seen] == [
        ("POST", "/flags/beta", ""),
        ("DELETE", "/flags/beta", "undo=1"),
    ]
    assert undone["undone"] is True and undone["status"] == 200

    service.status = 500
    with pytest.raises(
        ActionFailed, match=r"http\.ep rollback: DELETE .* answered 500, expected 2xx"
    ):
        await action.rollback(ctx, params, output)


async def test_without_a_rollback_call_there_is_nothing_to_undo(
    service: HttpService, call: Any
) -> None:
    action, ctx = call(url=service.url("/x"))
    undone = await action.rollback(ctx, action.parse({}), {})
    assert undone["undone"] is False and service.seen == []
    assert "no rollback call" in (await action.preview(ctx, action.parse({}))).summary


def test_endpoints_register_as_actions_with_their_declared_params(home: Path) -> None:
    settings = configured(
        home,
        flag={"url": "http://127.0.0.1:9/f/{name}", "params": {"name": {}}, "risk": "low"},
        deploy={"url": "http://localhost:9/d", "method": "PUT", "idempotent": True},
    )
    registry = ActionRegistry(http_actions(settings))

    assert registry.names() == ["http.deploy", "http.flag"]
    assert registry.get("http.flag").risk.value == "low"
    assert registry.get("http.deploy").idempotent
    with pytest.raises(InvalidRequest) as refused:
        registry.validate_params("http.flag", {"name": "x", "url": "http://evil"}, where="steps[0]")
    assert refused.value.field == "steps[0].params.url"


def test_an_endpoint_documents_its_declared_params_in_the_api_spec(home: Path) -> None:
    settings = configured(
        home, flag={"url": "http://127.0.0.1:9/f/{name}", "params": {"name": {"pattern": "[a-z]+"}}}
    )
    catalogue = Catalogue(
        actions=tuple(http_actions(settings)), procedures=(), checks=(), targets=("triad",)
    )

    step = complete({"paths": {}}, catalogue)["components"]["schemas"]["Step.http.flag"]

    params = step["properties"]["params"]
    assert params["required"] == ["name"] and params["additionalProperties"] is False
    assert step["properties"]["action"] == {"const": "http.flag"}


async def test_the_readme_example_loads_and_previews_as_it_says(home: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    part = readme.split("## HTTP actions and probes", 1)[1]
    example = tomllib.loads(part.split("```toml\n", 1)[1].split("```", 1)[0])
    settings = Settings(home=home, **example)
    [action] = http_actions(settings)
    assert [check.name for check in http_probe_checks(settings)] == ["http_probe.app"]
    engine = create_engine(settings.resolved_database_url)  # never connected
    ctx = action_context(settings, DatabaseTargets(engine, {}))

    params = action.parse({"flag": "new-checkout", "env": "staging", "enabled": True})
    preview = await action.preview(ctx, params)
    await engine.dispose()

    url = "https://flags.internal.example/api/flags/new-checkout/overrides/staging"
    assert preview.summary == (
        f"PUT {url}; headers Authorization: Bearer ***; "
        'body {"enabled":true,"note":"set by triadops in staging"}; expects 200, 204; '
        f"up to 2 retries on a connection error or 5xx; rollback: DELETE {url}; "
        "headers Authorization: Bearer ***"
    )


def test_a_rendered_url_that_would_leave_its_host_is_refused_at_run_time() -> None:
    """Belt and braces: a template that escaped the load check still cannot move the host."""
    home = Origin("http", "127.0.0.1", 80)
    for url, goes in [("http://{host}/x", "'{host}'"), ("http://evil.com/{host}", "'evil.com'")]:
        unchecked = HttpCallSpec.model_construct(method="GET", url=url, headers={}, body=None)
        with pytest.raises(InvalidRequest, match=re.escape(f"would go to {goes}, not the conf")):
            prepare(unchecked, {"host": "evil.com"}, origin=home, environ={}, where="http.ep")
