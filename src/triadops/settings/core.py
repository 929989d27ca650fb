"""The settings: one section a subsystem, composed into the one `Settings` every process reads.

Flat keys (``lease_s``, ``api_port``) and nested ones (``health.every_s``) keep their names
and ``TRIAD_*`` variables whichever section module declares them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, JsonValue, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from triadops.settings.agents import ModelSettings
from triadops.settings.alerts import AlertSettings
from triadops.settings.api import ApiSettings
from triadops.settings.application import ApplicationSettings, check_calls
from triadops.settings.backups import BackupSettings, check_backup_commands
from triadops.settings.checkpoints import CheckpointSettings
from triadops.settings.database import DatabaseSettings
from triadops.settings.files import FileSettings, required_config_file, secrets_dir
from triadops.settings.health import HealthSettings
from triadops.settings.logs import LogSettings
from triadops.settings.monitor import MonitorSettings
from triadops.settings.pipeline import PipelineSettings
from triadops.settings.runbooks import RunbookSettings
from triadops.settings.security import SecuritySettings
from triadops.settings.standards import StandardSettings
from triadops.settings.systems import SystemsSettings
from triadops.settings.tasks import TaskSpec, window_problems
from triadops.settings.usage import UsageSettings
from triadops.settings.worker import WorkerSettings

GOVERNANCE: dict[str, Any] = {
    "model": True,
    "agents": {"planner": True, "executor": True, "evaluator": True, "model_name": True},
    "maintenance_windows": True,
    "maintenance_blackouts": True,
    "health": {"thresholds": True},
    "approval_timeout_s": True,
    "acknowledgement_timeout_s": True,
    "blast_radius_threshold": True,
    "recent_failure_threshold": True,
    "performance_tolerance": True,
    "check_timeout_s": True,
    "alerts": {"ack_timeout_s": True, "max_silence_s": True, "change_silence_max_s": True},
    "commands": True,
    "hosts": True,
    "known_hosts": True,
    "http_endpoints": True,
    "http_probes": True,
    "http_allowed_hosts": True,
    "procedure_folders": True,
    "maintenance": {"seed_tasks": True, "tasks": True},
    "backups": {"commands": True},
    "standards": True,
}
"""The settings that decide governance (``include`` for `Settings.model_dump`): how an
operation is planned, judged and approved, how long an alert may be muted, and what the
user's own systems may run (commands, hosts, endpoints, probes, procedure folders, the
declared commands backups run)."""


def _flattened(data: dict[str, Any], prefix: str = "") -> dict[str, JsonValue]:
    flat: dict[str, JsonValue] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat |= _flattened(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Settings(  # the keys come in the reverse order of the sections named here
    ApplicationSettings,
    SystemsSettings,
    ModelSettings,
    MonitorSettings,
    CheckpointSettings,
    WorkerSettings,
    PipelineSettings,
    ApiSettings,
    DatabaseSettings,
    FileSettings,
    BaseSettings,
):
    """Everything an operator can configure; each key names what it controls."""

    model_config = SettingsConfigDict(
        env_prefix="TRIAD_", extra="forbid", env_nested_delimiter="__"
    )

    health: HealthSettings = Field(default_factory=HealthSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    usage: UsageSettings = Field(default_factory=UsageSettings)
    logs: LogSettings = Field(default_factory=LogSettings)
    runbooks: RunbookSettings = Field(default_factory=RunbookSettings)
    standards: StandardSettings = Field(default_factory=StandardSettings)

    @model_validator(mode="after")
    def _tasks_name_windows(self) -> Settings:
        """Refuse a routine task whose window is not configured."""
        names = {w.name for w in self.maintenance_windows}
        problems = window_problems(self.maintenance.tasks, names)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def task_table(self) -> list[TaskSpec]:
        """Return the routine maintenance tasks in force (`MaintenanceSettings.table`)."""
        return self.maintenance.table({w.name for w in self.maintenance_windows})

    @model_validator(mode="after")
    def _application_commands_declared(self) -> Settings:
        check_calls(self.maintenance.application, self.commands)
        return self

    backups: BackupSettings = Field(default_factory=BackupSettings)

    @model_validator(mode="after")
    def _backup_commands_declared(self) -> Settings:
        check_backup_commands(self.backups, self.commands)
        return self

    @model_validator(mode="after")
    def _smoke_queries_name_targets(self) -> Settings:
        """Refuse a smoke query for a database target that is not configured."""
        known = {"triad", *self.database_targets}
        for i, query in enumerate(self.backups.smoke_queries):
            if query.target not in known:
                raise ValueError(
                    f"backups.smoke_queries[{i}] ({query.name}): unknown database target "
                    f"{query.target!r} (known: {', '.join(sorted(known))})"
                )
        return self

    def governance(self) -> dict[str, JsonValue]:
        """Return the settings that decide governance, flattened to dotted keys.

        Every process that writes to one database must apply the same ones (`GOVERNANCE`):
        which model each agent consults, the maintenance windows, the health thresholds,
        and the approval, risk and silence rules.
        """
        data = self.model_dump(mode="json", include=GOVERNANCE)
        for agent in ("planner", "executor", "evaluator"):  # what each one really consults
            data["agents"][agent] = self.agent_model(agent)
        return _flattened(data)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read, by precedence: arguments, environment, secret files, then ``triad.toml``.

        Secret files are read only when ``TRIAD_SECRETS_DIR`` names their folder (`secrets_dir`).
        """
        sources = [init_settings, env_settings]
        folder = secrets_dir()
        if folder is not None:
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=folder))
        path = required_config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in the data folder."""
        return self.database_url or f"sqlite+aiosqlite:///{self.home / 'triad.db'}"

    @property
    def backup_folder(self) -> Path:
        """The folder backups are written to (``backups.folder``, else under the home)."""
        return self.backups.folder or self.home / "backups"

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite file the database lives in; None for a server database or memory."""
        url = self.resolved_database_url
        if not url.startswith("sqlite"):
            return None
        path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
        return Path(path) if path and path != ":memory:" else None

    @property
    def resolved_checkpoint_log(self) -> Path:
        """The checkpoint log, defaulting to ``checkpoints.jsonl`` in the data folder."""
        return self.checkpoint_log or self.home / "checkpoints.jsonl"
