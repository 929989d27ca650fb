"""A key in a model URL never shows: refused at load, and never displayed if it got in.

The attacker is anyone who reads ``/metrics`` (unauthenticated) or ``/agents/health``; the
victim an operator who wrote ``http://host/v1?api_key=…`` as some servers' docs suggest.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai import Agent
from pydantic_ai.models import override_allow_model_requests
from typer.testing import CliRunner

from tests.agents.test_limits import Pong
from tests.fixtures.api import Api
from triadops.agents.consult import Consultant, Limiters
from triadops.cli.main import app as cli
from triadops.constitution import lifecycle
from triadops.domain.agents import AgentName
from triadops.runtime import Runtime
from triadops.settings import Settings, model_url_display
from triadops.storage import agent_calls

# Fixed, not random: xdist workers must collect the same parametrised ids.
SECRET = "qs7f3c9a2e5b1d4680a9c2e7f1b3d5a8c0"


def triad(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    base = {
        "TRIAD_HOME": str(tmp_path / "home"),
        "TRIAD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'triad.db'}",
        "TRIAD_CONFIG": "",  # no configuration file
        "TRIAD_AGENTS__MODEL_NAME": "scripted",
    }
    result = CliRunner().invoke(cli, list(args), env={**base, **env})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("TRIAD_MODEL", f"http://127.0.0.1:11434/v1?api_key={SECRET}"),
        ("TRIAD_AGENTS__PLANNER", f"https://models.example/v1?key={SECRET}&x=1"),
        ("TRIAD_AGENTS__EVALUATOR", f"http://127.0.0.1:11434/v1#token={SECRET}"),
        ("TRIAD_MODEL", f"http://127.0.0.1:11434/v1?{SECRET}"),
    ],
)
def test_a_model_url_with_a_query_string_is_refused_at_load_in_one_line(
    tmp_path: Path, variable: str, url: str
) -> None:
    code, stdout, stderr = triad(tmp_path, {variable: url}, "ops", "list")
    assert code == 2, stdout + stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    setting = variable.removeprefix("TRIAD_").replace("__", ".").lower()
    assert setting in lines[0] and "must not carry a query string" in lines[0], lines[0]
    assert SECRET not in stdout + stderr


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"http://127.0.0.1:11434/v1?api_key={SECRET}", "http://127.0.0.1:11434/v1"),
        (f"https://user:{SECRET}@models.example/v1", "https://models.example/v1"),
        (f"https://models.example/v1#{SECRET}", "https://models.example/v1"),
        (f"http://[::1]:8000/v1/?token={SECRET}", "http://[::1]:8000/v1/"),
        ("http://models.example", "http://models.example"),
    ],
)
def test_a_model_url_is_shown_as_scheme_host_and_path(url: str, shown: str) -> None:
    assert model_url_display(url) == shown


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings whose model URL carries a key, as if the load refusal had been bypassed
    (settings built in code, `model_copy`): what is displayed must still not show it."""
    home = tmp_path / "home"
    home.mkdir()
    loaded = Settings(
        home=home,
        database_url=database_url,
        monitor=False,
        agents={"model_name": "scripted", "max_retries": 0},
    )
    return loaded.model_copy(update={"model": f"http://127.0.0.1:9/v1?api_key={SECRET}"})


async def test_metrics_and_agents_health_never_show_a_model_urls_query(
    api: Api, rt: Runtime
) -> None:
    consultant = Consultant(
        AgentName.PLANNER, settings=rt.settings, sessions=rt.sessions, limiters=Limiters(1)
    )
    try:
        with override_allow_model_requests(True):
            got = await consultant.ask(
                Agent(output_type=Pong), "ping", operation_id=None, alert=False
            )
    finally:
        await consultant.aclose()
    assert not got.report.ok  # nothing listens on port 9
    async with rt.session() as session:
        await agent_calls.record_call(session, got.report, operation_id=None)
        await lifecycle.commit(session)

    metrics = (await api.client.get("/metrics")).text
    health = (await api.get("/agents/health")).text
    assert 'model="scripted at http://127.0.0.1:9/v1"' in metrics
    assert "scripted at http://127.0.0.1:9/v1" in health
    for text in (metrics, health, got.report.model_dump_json()):
        assert SECRET not in text and "api_key" not in text
