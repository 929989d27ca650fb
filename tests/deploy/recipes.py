"""The deployment's files read as Docker and Compose read them, and checked against triad itself.

Each checker returns its problems as lines (empty: none), so a test can feed it a mutated copy
and see it fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer.main
import yaml
from jsonschema import Draft7Validator
from typer.exceptions import TyperException

from triadops.cli.main import app

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SCHEMA = Path(__file__).with_name("compose-spec.json")
"""The Compose Specification's schema, vendored: see ``compose-spec.md`` beside it."""
IMAGE = "triadops:local"
BUILD_INPUTS = {"pyproject.toml", "README.md", "src"}
"""All the image is built from; anything else copied in could carry a secret."""
ROOT_USERS = {"root", "0"}
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")


def compose() -> dict[str, Any]:
    """The compose file as Compose loads it (YAML merge keys resolved)."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def schema_problems(document: dict[str, Any]) -> list[str]:
    """Where `document` breaks the Compose Specification (draft-07 JSON schema)."""
    schema = json.loads(SCHEMA.read_text())
    validator = Draft7Validator(schema)
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """`value` with ``${NAME}`` and ``${NAME:-default}`` replaced as Compose does."""
    env = env or {}
    return VARIABLE.sub(lambda m: env.get(m["name"]) or m["default"] or "", value)


def instructions(text: str) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        found.append((keyword.upper(), arguments.strip()))
    return found


def exec_form(arguments: str) -> list[str]:
    """A JSON-array (exec form) instruction's argv."""
    argv = json.loads(arguments)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), arguments
    return argv


def image_argv(text: str) -> tuple[list[str], list[str]]:
    """The image's ENTRYPOINT and CMD (the last of each)."""
    entrypoint: list[str] = []
    cmd: list[str] = []
    for keyword, arguments in instructions(text):
        if keyword == "ENTRYPOINT":
            entrypoint = exec_form(arguments)
        elif keyword == "CMD":
            cmd = exec_form(arguments)
    return entrypoint, cmd


def healthcheck_argv(text: str) -> list[str]:
    """The HEALTHCHECK's command (exec form), after its options."""
    for keyword, arguments in instructions(text):
        if keyword == "HEALTHCHECK":
            return exec_form(arguments.split("CMD", 1)[1].strip())
    raise AssertionError("no HEALTHCHECK")


def dockerfile_problems(text: str) -> list[str]:
    """What would make the image unsafe or unusable: root, no health check, a secret copied."""
    problems: list[str] = []
    steps = instructions(text)
    final = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    users = [a for k, a in steps[final:] if k == "USER"]
    if not users or users[-1].split(":")[0] in ROOT_USERS:
        problems.append(f"the final stage runs as root (USER {users[-1] if users else 'unset'})")
    checks = [a for k, a in steps if k == "HEALTHCHECK"]
    if not checks or "/health" not in checks[-1] or "urllib" not in checks[-1]:
        problems.append("no HEALTHCHECK calling /health with python's urllib")
    for keyword, arguments in steps:
        if keyword not in {"COPY", "ADD"}:
            continue
        parts = arguments.split()
        if any(p.startswith("--from=") for p in parts):
            continue
        sources = [p for p in parts[:-1] if not p.startswith("--")]
        for source in sources:
            if source.removeprefix("./").rstrip("/") not in BUILD_INPUTS:
                problems.append(f"{keyword} {source}: not one of {sorted(BUILD_INPUTS)}")
    if ("EXPOSE", "8000") not in steps:
        problems.append("no EXPOSE 8000")
    if image_argv(text)[0] != ["triad"]:
        problems.append('ENTRYPOINT is not ["triad"]')
    return problems


def dockerignore_problems(text: str) -> list[str]:
    """The context must be an allow-list of `BUILD_INPUTS`: ``*`` first, then only those."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    problems = [] if lines[:1] == ["*"] else ["the first rule is not * (an allow-list)"]
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    if allowed != BUILD_INPUTS:
        problems.append(f"allows {sorted(allowed)}, not {sorted(BUILD_INPUTS)}")
    return problems


def cli_problem(args: list[str]) -> str | None:
    """Why ``triad *args`` is not a command line triad accepts, or None when it is.

    Each group's and command's own parser reads its part, as a run would, without running it:
    an unknown command, an unknown option or a bad value is the parser's message.
    """
    command = typer.main.get_command(app)
    name, rest = "triad", list(args)
    parent = None
    try:
        while True:
            context = command.make_context(name, rest, parent=parent)
            if not hasattr(command, "resolve_command"):
                return None
            remaining = [*context._protected_args, *context.args]
            if not remaining:
                return None
            found, sub, rest = command.resolve_command(context, remaining)
            assert found is not None and sub is not None
            name, command, parent = found, sub, context
    except TyperException as exc:
        return f"triad {' '.join(args)}: {exc.format_message()}"


def triad_services(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run triad's image."""
    return {n: s for n, s in document["services"].items() if s.get("image") == IMAGE}


def triad_argv(service: dict[str, Any], dockerfile: str) -> list[str]:
    """What a triad service runs: its entrypoint and command, else the image's."""
    entrypoint, cmd = image_argv(dockerfile)
    entrypoint = service.get("entrypoint", entrypoint)
    command = service.get("command", cmd if "entrypoint" not in service else [])
    return [*entrypoint, *command]


def route_problems(
    document: dict[str, Any],
    prometheus: dict[str, Any],
    alertmanager: dict[str, Any],
    routes: set[tuple[str, str]],
) -> list[str]:
    """Where Prometheus' scrape targets or Alertmanager's webhooks miss triad's routes.

    `routes` holds the app's (method, path) pairs. A target must name a triad service at the
    port triad listens on, and a credentials file a secret mounted into Alertmanager.
    """
    services = triad_services(document)
    ports = {str(s["environment"]["TRIAD_API_PORT"]) for s in services.values()}
    problems: list[str] = []

    def check(where: str, host: str, port: str, method: str, path: str) -> None:
        if host not in services:
            problems.append(f"{where}: {host} is not a triad service ({sorted(services)})")
        if port not in ports:
            problems.append(f"{where}: port {port} is not triad's ({sorted(ports)})")
        if (method, path) not in routes:
            problems.append(f"{where}: triad has no {method} {path}")

    for job in prometheus["scrape_configs"]:
        for group in job["static_configs"]:
            for target in group["targets"]:
                host, _, port = target.partition(":")
                path = job.get("metrics_path", "/metrics")
                check(f"prometheus job {job['job_name']}", host, port, "GET", path)
    mounted = set(document["services"]["alertmanager"].get("secrets", []))
    for receiver in alertmanager["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            url = urlsplit(hook["url"])
            where = f"alertmanager receiver {receiver['name']}"
            check(where, url.hostname or "", str(url.port or 80), "POST", url.path)
            auth = hook.get("http_config", {}).get("authorization", {})
            secret = str(auth.get("credentials_file", "")).removeprefix("/run/secrets/")
            if secret not in mounted:
                problems.append(f"{where}: its token file is no secret mounted ({sorted(mounted)})")
    return problems
