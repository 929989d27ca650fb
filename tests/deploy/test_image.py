"""deploy/Dockerfile: non-root, a /health check that works, nothing but the source copied in.

Without Docker the recipe is still run for real where it can be: `triad serve` and the two
workers start with the compose file's own commands and environment (secrets read from a
folder as from /run/secrets, on PostgreSQL), and the image's HEALTHCHECK command passes
against that server and fails once it stops.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.recipes import (
    DOCKERFILE,
    DOCKERIGNORE,
    compose,
    dockerfile_problems,
    dockerignore_problems,
    healthcheck_argv,
    instructions,
    interpolate,
    triad_argv,
    triad_services,
)
from tests.fixtures.servers import free_port

STARTUP_LIMIT_S = 60
"""Past this, a process that never came up fails the test (a guard, not a wait)."""


def test_the_image_runs_as_a_user_checks_health_and_copies_only_the_source() -> None:
    text = DOCKERFILE.read_text()
    steps = instructions(text)

    assert dockerfile_problems(text) == []
    assert [a.split()[0] for k, a in steps if k == "FROM"] == ["python:3.11-slim"] * 2
    assert ("USER", "triad:triad") in steps
    assert not any("curl" in arguments for _, arguments in steps)
    assert any(k == "RUN" and "pip install" in a and "triadops" in a for k, a in steps)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda t: t + "USER root\n", "runs as root"),
        (lambda t: t.replace("USER triad:triad\n", ""), "runs as root"),
        (lambda t: t.replace("USER triad:triad", "USER 0:0"), "runs as root"),
        (lambda t: t + "COPY . /app\n", "COPY ."),
        (lambda t: t + "COPY deploy/.env /var/lib/triad/.env\n", "COPY deploy/.env"),
        (lambda t: t + "ADD deploy/secrets /run/secrets\n", "ADD deploy/secrets"),
        (lambda t: t + "COPY --chown=triad checkpoint.key ./\n", "COPY checkpoint.key"),
        (lambda t: t + "HEALTHCHECK NONE\n", "no HEALTHCHECK"),
        (lambda t: t.replace("/health", "/ready"), "no HEALTHCHECK"),
        (lambda t: t.replace('ENTRYPOINT ["triad"]', 'ENTRYPOINT ["sh"]'), "ENTRYPOINT"),
    ],
)
def test_an_unsafe_or_broken_image_is_caught(change: Any, said: str) -> None:
    problems = dockerfile_problems(change(DOCKERFILE.read_text()))

    assert any(said in p for p in problems), problems


def test_the_build_context_holds_only_what_the_image_is_built_from() -> None:
    text = DOCKERIGNORE.read_text()

    assert dockerignore_problems(text) == []
    assert dockerignore_problems(text.replace("*\n", "", 1)) != []
    assert dockerignore_problems(text + "!deploy\n") != []


@dataclass
class Container:
    """A process started as a compose service would start, and where its output goes."""

    process: subprocess.Popen[bytes]
    output: Path


@pytest.fixture
def container_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The triad services' environment from the compose file, its paths made local.

    The secrets folder holds the database URL as Compose's /run/secrets would; the port and
    the data folder are this test's; everything else is as the compose file sets it.
    """
    services = triad_services(compose())
    declared = next(iter(services.values()))["environment"]
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "triad_database_url").write_text(database_url + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAD_")}
    env |= {key: interpolate(str(value)) for key, value in declared.items()}
    local = {
        "TRIAD_SECRETS_DIR": str(secrets),
        "TRIAD_API_PORT": str(free_port()),
        "TRIAD_HOME": str(tmp_path / "home"),
    }
    assert set(local) - {"TRIAD_HOME"} <= set(declared), "the compose file no longer sets them"
    return env | local | {"TRIAD_CONFIG": ""}


@pytest.fixture
def start(tmp_path: Path, container_env: dict[str, str]) -> Iterator[Any]:
    """Start a compose service's triad command; every one is stopped when the test ends."""
    started: list[Container] = []

    def run(name: str) -> Container:
        argv = triad_argv(compose()["services"][name], DOCKERFILE.read_text())
        output = tmp_path / f"{name}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "triadops.cli.main", *argv[1:]],
                env=container_env,
                cwd=tmp_path,
                stdout=sink,
                stderr=sink,
            )
        started.append(Container(process, output))
        return started[-1]

    yield run
    for container in started:
        if container.process.poll() is None:
            container.process.terminate()
            container.process.wait(timeout=30)


def wait_until(container: Container, ready: Any) -> None:
    """Poll until `ready()`; the process dying or the startup limit failing the test."""
    deadline = time.monotonic() + STARTUP_LIMIT_S
    while not ready():
        assert container.process.poll() is None, container.output.read_text()
        assert time.monotonic() < deadline, container.output.read_text()
        time.sleep(0.1)


def health_check(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run the image's HEALTHCHECK command, with this Python as the image's ``python``."""
    argv = healthcheck_argv(DOCKERFILE.read_text())
    assert argv[0] == "python"
    return subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_stack_as_composed_serves_health_and_its_workers_join(
    start: Any, container_env: dict[str, str]
) -> None:
    url = f"http://127.0.0.1:{container_env['TRIAD_API_PORT']}/health"

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    serve = start("serve")
    wait_until(serve, answers)
    assert health_check(container_env).returncode == 0
    body = httpx.get(url, timeout=5).json()
    assert (body["status"], body["database"], body["frozen"]) == ("ok", "ok", False)
    # The workers apply the server's governing settings: one environment, no refusal.
    workers = [start("worker-1"), start("worker-2")]
    for worker in workers:
        wait_until(worker, lambda w=worker: "started" in w.output.read_text())
    for worker in workers:
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(timeout=60) == 0, worker.output.read_text()
        assert "stopped" in worker.output.read_text()

    serve.process.terminate()
    serve.process.wait(timeout=60)
    failed = health_check(container_env)
    assert failed.returncode != 0
    assert b"Connection refused" in failed.stderr
