"""Settings from ``triad.toml`` and ``TRIAD_*`` environment variables, one module a section.

Everything importable from here as it was when the settings were one module.
"""

from triadops.settings.agents import (
    MODEL_PROVIDERS,
    AgentSettings,
    ModelSetting,
    ModelSettings,
    check_model,
    model_url_display,
)
from triadops.settings.alerts import (
    MIN_SECRET_BYTES,
    AlertSettings,
    Channel,
    EmailChannel,
    LogChannel,
    RecordingChannel,
    SlackChannel,
    WebhookChannel,
)
from triadops.settings.api import ApiSettings
from triadops.settings.checkpoints import CheckpointSettings
from triadops.settings.core import GOVERNANCE, Settings
from triadops.settings.database import DatabaseSettings, async_database_url
from triadops.settings.files import (
    CONFIG_NAME,
    HOME_DIR,
    ConfigFileMissing,
    FileSettings,
    SecretsDirMissing,
    config_file,
    default_home,
    project_root,
    required_config_file,
    secrets_dir,
)
from triadops.settings.health import AlertTiming, AlertTimings, HealthSettings, Thresholds
from triadops.settings.monitor import MonitorSettings
from triadops.settings.pipeline import PipelineSettings
from triadops.settings.systems import (
    CommandSpec,
    HostSpec,
    HttpCallSpec,
    HttpEndpointSpec,
    HttpProbeSpec,
    SystemsSettings,
)
from triadops.settings.usage import PrometheusUsage, UsageSettings
from triadops.settings.worker import WorkerSettings

__all__ = [
    "CONFIG_NAME",
    "GOVERNANCE",
    "HOME_DIR",
    "MIN_SECRET_BYTES",
    "MODEL_PROVIDERS",
    "AgentSettings",
    "AlertSettings",
    "AlertTiming",
    "AlertTimings",
    "ApiSettings",
    "Channel",
    "CheckpointSettings",
    "CommandSpec",
    "ConfigFileMissing",
    "DatabaseSettings",
    "EmailChannel",
    "FileSettings",
    "HealthSettings",
    "HostSpec",
    "HttpCallSpec",
    "HttpEndpointSpec",
    "HttpProbeSpec",
    "LogChannel",
    "ModelSetting",
    "ModelSettings",
    "MonitorSettings",
    "PipelineSettings",
    "PrometheusUsage",
    "RecordingChannel",
    "SecretsDirMissing",
    "Settings",
    "SlackChannel",
    "SystemsSettings",
    "Thresholds",
    "UsageSettings",
    "WebhookChannel",
    "WorkerSettings",
    "async_database_url",
    "check_model",
    "config_file",
    "default_home",
    "model_url_display",
    "project_root",
    "required_config_file",
    "secrets_dir",
]
