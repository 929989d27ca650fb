"""deploy/compose.yaml: valid Compose, commands triad has, monitoring wired to real routes.

Where a Docker daemon answers, the image is built and the stack brought up until /health
answers; elsewhere that one test is skipped and the rest check the files against the
Compose Specification's schema and against triad's own CLI and API.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.routing import APIRoute

from tests.deploy.recipes import (
    COMPOSE,
    DEPLOY,
    DOCKERFILE,
    ROOT,
    cli_problem,
    compose,
    route_problems,
    schema_problems,
    triad_argv,
    triad_services,
)
from tests.fixtures.servers import free_port
from triadops.api.app import create_app
from triadops.settings import Settings

README_SECTION = "## Deploying with Docker Compose"


def test_the_compose_file_follows_the_compose_specification() -> None:
    assert schema_problems(compose()) == []


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("services", "serve", "depends_on", "db", "condition"), "service_happy"),
        (("services", "worker-1", "restart"), 3),
        (("services", "serve", "healthcheck"), {"test": "x", "intervall": "5s"}),
    ],
)
def test_a_file_breaking_the_specification_is_caught(where: tuple[str, ...], value: Any) -> None:
    broken = copy.deepcopy(compose())
    node = broken
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value

    assert schema_problems(broken) != []


def test_the_stack_is_one_server_two_workers_on_postgres_and_monitoring_on_demand() -> None:
    document = compose()
    services = document["services"]
    runs = {
        name: triad_argv(s, DOCKERFILE.read_text())[1:]
        for name, s in triad_services(document).items()
    }

    assert services["db"]["image"] == "postgres:15"
    assert services["db"]["healthcheck"]["test"][1] == "pg_isready"
    assert sorted(n for n, argv in runs.items() if argv[:1] == ["serve"]) == ["serve"]
    assert sorted(n for n, argv in runs.items() if argv[:1] == ["worker"]) == [
        "worker-1",
        "worker-2",
    ]
    assert services["serve"]["depends_on"]["db"]["condition"] == "service_healthy"
    for worker in ("worker-1", "worker-2"):
        assert services[worker]["depends_on"]["serve"]["condition"] == "service_healthy"
        assert services[worker]["healthcheck"] == {"disable": True}
    for name in ("prometheus", "alertmanager"):
        assert services[name]["profiles"] == ["monitoring"]
    # The three triad processes govern one database: one environment, one set of secrets.
    triads = list(triad_services(document).values())
    assert len(triads) == 3
    assert all(t["environment"] == triads[0]["environment"] for t in triads)
    assert triads[0]["environment"]["TRIAD_SECRETS_DIR"] == "/run/secrets"
    # One service builds the image the others run: parallel builds of one tag collide.
    builds = [n for n, s in services.items() if "build" in s]
    assert builds == ["serve"]
    assert services["serve"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (COMPOSE.parent / ".." / "deploy" / "Dockerfile").resolve() == DOCKERFILE


def test_no_secret_value_is_in_the_compose_files() -> None:
    document = compose()
    for secret in document["secrets"].values():
        assert set(secret) == {"file"}, secret  # never `environment:` or an inline value
    for service in document["services"].values():
        for key, value in service.get("environment", {}).items():
            if re.search(r"(PASSWORD|KEY|TOKEN|SECRET|DATABASE_URL)$", key):
                assert re.fullmatch(r"\$\{\w+:-\}", str(value)), f"{key}={value}"
    env = (DEPLOY / ".env.example").read_text()
    for line in env.splitlines():
        if re.match(r"\w*(KEY|TOKEN|PASSWORD|SECRET)\w*=", line):
            assert line.endswith("="), line
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert {"deploy/.env", "deploy/secrets/"} <= set(ignored)


def test_every_file_the_stack_mounts_is_in_the_repository() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).is_file(), f"{name} mounts {source}"


def test_every_triad_command_in_the_stack_is_one_triad_has() -> None:
    for name, service in triad_services(compose()).items():
        argv = triad_argv(service, DOCKERFILE.read_text())
        assert argv[0] == "triad", name
        assert cli_problem(argv[1:]) is None, name


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["serve", "--host", "0.0.0.0", "--listen", "8000"], "No such option: --listen"),
        (["serve", "--port", "eighty"], "Input should be a valid integer"),
        (["serve", "--port", "70000"], "less than or equal to 65535"),
        (["workers"], "No such command 'workers'"),
        (["worker", "--concurrency", "4"], "No such option: --concurrency"),
        (["token", "create", "--name", "a", "--roles", "crown"], "No such option: --roles"),
    ],
)
def test_a_made_up_command_or_option_is_caught(args: list[str], said: str) -> None:
    mutated = copy.deepcopy(compose())
    mutated["services"]["worker-2"]["command"] = args
    problems = [
        cli_problem(triad_argv(s, DOCKERFILE.read_text())[1:])
        for s in triad_services(mutated).values()
    ]

    assert [p for p in problems if p is not None and said in p], problems


def readme_triad_commands() -> list[list[str]]:
    """The triad command lines the README's deployment section runs in a container."""
    text = (ROOT / "README.md").read_text()
    section = text.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    found = []
    for line in section.splitlines():
        if not line.startswith("$ docker compose"):
            continue
        argv = shlex.split(line[2:].split("|", 1)[0])
        assert argv[3] == "deploy/compose.yaml", line
        if argv[4] == "exec":
            rest = [a for a in argv[5:] if a != "-T"]
            assert rest[0] in compose()["services"], line
            assert rest[1] == "triad", line
            found.append(rest[2:])
    return found


def test_the_readme_runs_only_commands_triad_has() -> None:
    commands = readme_triad_commands()

    assert [c[:2] for c in commands] == [["token", "create"], ["token", "create"]]
    assert [cli_problem(c) for c in commands] == [None, None]


@pytest.fixture
def routes(tmp_path: Path) -> set[tuple[str, str]]:
    """The API's (method, path) pairs, from the app as `triad serve` builds it."""
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'triad.db'}")
    found = {
        (method, route.path)
        for route in api_routes(create_app(settings).routes)
        for method in route.methods
    }
    assert len(found) > 20, "the walk found too few routes to mean anything"
    return found


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every API route, the included routers' too."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (included := getattr(route, "original_router", None)) is not None:
            found.extend(api_routes(included.routes))
    return found


def monitoring() -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        yaml.safe_load((DEPLOY / "prometheus.yml").read_text()),
        yaml.safe_load((DEPLOY / "alertmanager.yml").read_text()),
    )


def test_prometheus_and_alertmanager_point_at_routes_triad_has(
    routes: set[tuple[str, str]],
) -> None:
    prometheus, alertmanager = monitoring()

    assert route_problems(compose(), prometheus, alertmanager, routes) == []
    targets = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]
    assert "alertmanager" in compose()["services"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p, a: p["scrape_configs"][0].update(metrics_path="/metric"),
        lambda p, a: p["scrape_configs"][0]["static_configs"][0].update(targets=["db:8000"]),
        lambda p, a: p["scrape_configs"][0]["static_configs"][0].update(targets=["serve:9000"]),
        lambda p, a: a["receivers"][0]["webhook_configs"][0].update(
            url="http://serve:8000/alerts/alert-manager"
        ),
        lambda p, a: a["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"].update(
            credentials_file="/run/secrets/triad_token"
        ),
    ],
    ids=["path", "host", "port", "webhook", "token-file"],
)
def test_monitoring_pointing_elsewhere_is_caught(routes: set[tuple[str, str]], mutate: Any) -> None:
    prometheus, alertmanager = monitoring()
    mutate(prometheus, alertmanager)

    assert route_problems(compose(), prometheus, alertmanager, routes) != []


def docker_daemon() -> bool:
    """True when a Docker daemon answers and the compose plugin is installed."""
    if shutil.which("docker") is None:
        return False
    checks = (["docker", "info"], ["docker", "compose", "version"])
    return all(subprocess.run(c, capture_output=True, timeout=30).returncode == 0 for c in checks)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[str]:
    """The stack up (built, every healthcheck passing) on a free port; its API's URL."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    password = uuid.uuid4().hex
    (secrets / "postgres_password").write_text(password)
    (secrets / "triad_database_url").write_text(f"postgresql://triad:{password}@db:5432/triad")
    (secrets / "triad_alertmanager_token").write_text("")
    for path in secrets.iterdir():
        path.chmod(0o644)
    port = free_port()
    project = f"triadops-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TRIADOPS_SECRETS": str(secrets), "TRIADOPS_PORT": str(port)}
    base = ["docker", "compose", "-f", str(COMPOSE), "-p", project]
    try:
        subprocess.run(
            [*base, "up", "-d", "--build", "--wait", "--wait-timeout", "600"],
            env=env,
            check=True,
            timeout=1800,
        )
        running = subprocess.run(
            [*base, "ps", "--services", "--status", "running"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.split()
        assert {"db", "serve", "worker-1", "worker-2"} <= set(running), running
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([*base, "down", "-v"], env=env, timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(not docker_daemon(), reason="no Docker daemon")
def test_the_stack_comes_up_and_answers_health(stack: str) -> None:
    answer = httpx.get(f"{stack}/health", timeout=10)

    assert answer.status_code == 200, answer.text
    assert answer.json()["database"] == "ok"
