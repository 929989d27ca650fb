"""Settings that validate also work: database URLs get their async driver, windows their day."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tests.cli.conftest import Triad, data
from tests.fixtures.databases import PG_DSN
from triadops.cli.main import app
from triadops.settings import Settings, async_database_url


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Read only what each test gives: no TRIAD_* variables, no triad.toml."""
    for name in list(os.environ):
        if name.startswith("TRIAD_") and name != "TRIAD_TEST_PG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRIAD_CONFIG", "")  # no configuration file


@pytest.fixture
def triad(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Triad:
    """Invoke ``triad`` in-process with a private home and the fresh database."""
    monkeypatch.setenv("TRIAD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRIAD_DATABASE_URL", database_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgres://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("sqlite:////var/lib/app.db", "sqlite+aiosqlite:////var/lib/app.db"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("sqlite+aiosqlite:///app.db", "sqlite+aiosqlite:///app.db"),
    ],
)
def test_database_urls_and_targets_get_the_async_driver_alike(given: str, used: str) -> None:
    settings = Settings(database_url=given, database_targets={"x": given})

    assert async_database_url(given) == used
    assert settings.database_url == used
    assert settings.database_targets == {"x": used}


def test_targets_from_the_environment_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAD_DATABASE_TARGETS", '{"x": "postgres://u@db/app"}')

    assert Settings().database_targets == {"x": "postgresql+asyncpg://u@db/app"}


@pytest.mark.parametrize(
    ("window", "says"),
    [
        ({"every": "weekly"}, "weekly window 'late' needs a weekday"),
        ({"every": "weekly", "day": 1}, "weekly window 'late' needs a weekday"),
        ({"every": "monthly"}, "monthly window 'late' needs a day of the month"),
        ({"every": "monthly", "weekday": 6}, "monthly window 'late' needs a day of the month"),
    ],
)
def test_a_window_without_its_day_is_refused_at_load(window: dict[str, object], says: str) -> None:
    given = {"name": "late", "start": "23:00", "duration_min": 60, **window}

    with pytest.raises(ValidationError, match=says) as refused:
        Settings(maintenance_windows=[given])

    assert refused.value.errors()[0]["loc"] == ("maintenance_windows", 0)


def test_windows_with_their_day_match() -> None:
    settings = Settings(
        maintenance_windows=[
            {"name": "sun", "every": "weekly", "weekday": 6, "start": "01:00", "duration_min": 60},
            {"name": "first", "every": "monthly", "day": 1, "start": "00:00", "duration_min": 60},
        ]
    )
    weekly, monthly = settings.maintenance_windows

    assert weekly.contains(datetime(2025, 6, 1, 1, 30, tzinfo=UTC))  # a Sunday
    assert monthly.contains(datetime(2025, 7, 1, 0, 30, tzinfo=UTC))


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_plain_postgresql_target_is_reached_with_asyncpg(
    triad: Triad, pg_template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert PG_DSN.startswith("postgresql://")
    monkeypatch.setenv("TRIAD_DATABASE_TARGETS", f'{{"x": "{PG_DSN}"}}')

    listed = triad("ops", "list", "--json")
    previewed = triad(
        "ops",
        "submit",
        "--step",
        "database.vacuum_analyze",
        "--params",
        '{"target": "x"}',
        "--dry-run",
        "--json",
    )

    assert data(listed) == []
    preview = data(previewed)["plan"]["steps"][0]["preview"]
    assert preview["summary"].startswith("VACUUM and ANALYZE x:")
    assert "psycopg" not in previewed.output


CADENCES = {
    "monitor_tick_s": ("TRIAD_MONITOR_TICK_S", 2.0),
    "monitor_heartbeat_s": ("TRIAD_MONITOR_HEARTBEAT_S", 10.0),
    "worker_housekeeping_s": ("TRIAD_WORKER_HOUSEKEEPING_S", 5.0),
    "worker_stop_grace_s": ("TRIAD_WORKER_STOP_GRACE_S", 5.0),
    "worker_cancel_check_s": ("TRIAD_WORKER_CANCEL_CHECK_S", 0.5),
    "api_worker_grace_s": ("TRIAD_API_WORKER_GRACE_S", 10.0),
}


@pytest.mark.parametrize("key", sorted(CADENCES))
def test_each_cadence_is_a_setting_with_its_old_default(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    variable, default = CADENCES[key]
    assert getattr(Settings(), key) == default
    monkeypatch.setenv(variable, "0.25")
    assert getattr(Settings(), key) == 0.25
    monkeypatch.setenv(variable, "-1")
    with pytest.raises(ValidationError, match=key):
        Settings()


def test_the_health_probe_cadence_is_a_nested_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert (Settings().health.probe_every_s, Settings().health.probe_timeout_s) == (2.0, 5.0)
    toml = tmp_path / "triad.toml"
    toml.write_text("[health]\nprobe_every_s = 0.5\n")
    monkeypatch.setenv("TRIAD_CONFIG", str(toml))
    monkeypatch.setenv("TRIAD_HEALTH__PROBE_TIMEOUT_S", "1.5")
    settings = Settings()
    assert (settings.health.probe_every_s, settings.health.probe_timeout_s) == (0.5, 1.5)


def test_the_sections_compose_one_settings_that_refuses_unknown_keys() -> None:
    from triadops import settings as package

    for section in (
        package.FileSettings,
        package.DatabaseSettings,
        package.ApiSettings,
        package.PipelineSettings,
        package.WorkerSettings,
        package.CheckpointSettings,
        package.MonitorSettings,
        package.ModelSettings,
    ):
        assert issubclass(Settings, section)
        assert set(section.model_fields) <= set(Settings.model_fields)
    with pytest.raises(ValidationError, match="monitor_tick"):
        Settings(monitor_tick="2")  # type: ignore[call-arg]
