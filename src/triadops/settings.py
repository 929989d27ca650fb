"""Settings from ``triad.toml`` and ``TRIAD_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    Field,
    JsonValue,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from triadops.domain.enums import Authority
from triadops.domain.windows import DEFAULT_WINDOWS, MaintenanceWindow

HOME_DIR = ".triad"
"""The data folder's name, looked for from the working folder up (as git looks for ``.git``)."""
CONFIG_NAME = "triad.toml"


class ConfigFileMissing(FileNotFoundError):
    """``TRIAD_CONFIG`` names a file that is not there."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"TRIAD_CONFIG names {path}, which does not exist")
        self.path = path


def project_root(start: Path | None = None) -> Path | None:
    """Return the nearest folder, from `start` (the working folder) up, holding triad's files.

    A folder holds them when it has a ``.triad`` data folder or a ``triad.toml``; None when
    no folder up to the root does.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / HOME_DIR).is_dir() or (folder / CONFIG_NAME).is_file():
            return folder
    return None


def config_file() -> Path | None:
    """Return the settings file to read, or None for none.

    ``$TRIAD_CONFIG`` when set (empty: no file); otherwise ``triad.toml`` in the project
    root (`project_root`), or in the working folder when there is no root.
    """
    named = os.environ.get("TRIAD_CONFIG")
    if named is not None:
        return Path(named) if named else None
    root = project_root()
    return (root or Path.cwd()) / CONFIG_NAME


def required_config_file() -> Path | None:
    """Return `config_file`, raising ConfigFileMissing when ``TRIAD_CONFIG`` names no file."""
    path = config_file()
    if path is not None and os.environ.get("TRIAD_CONFIG") and not path.is_file():
        raise ConfigFileMissing(path)
    return path


def default_home() -> Path:
    """Return ``.triad`` in the project root, else ``.triad`` in the working folder."""
    root = project_root()
    return root / HOME_DIR if root else Path(HOME_DIR)


def async_database_url(url: str) -> str:
    """Return `url` naming its async driver, as triad's engines need.

    ``postgresql://`` and ``postgres://`` become ``postgresql+asyncpg://``, ``sqlite:///``
    becomes ``sqlite+aiosqlite:///``; any other URL is returned as given.
    """
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


class Thresholds(BaseModel):
    """The seed's health thresholds: a figure past its threshold fails its check."""

    model_config = {"extra": "forbid"}

    cpu_percent: float = Field(default=80.0, gt=0, le=100)
    memory_percent: float = Field(default=85.0, gt=0, le=100)
    disk_percent: float = Field(default=90.0, gt=0, le=100)
    response_time_s: float = Field(default=5.0, gt=0)
    """Databases' round trips, HTTP targets' answers, and each branch's mean decision time
    (the time its own code took, not waits for steps or people)."""
    slow_step_share: float = Field(default=0.8, gt=0, le=1)
    """A step is slow when it takes more than this share of its action's ``timeout_s``; the
    executive's share of slow steps is held to ``error_rate``. Judged as steps are folded."""
    error_rate: float = Field(default=0.01, ge=0, le=1)
    """The API's share of 5xx answers, and each branch's share of failed stages."""
    compliance: float = Field(default=0.95, ge=0, le=1)
    """The least share of recent operations that met every validation criterion."""
    availability: float = Field(default=0.99, ge=0, le=1)
    """The least share of recent heartbeats a live worker must have beaten."""


class AlertTiming(BaseModel):
    """How long a health condition must hold before its alert fires, and be clear to resolve.

    As a Prometheus rule's ``for`` and ``keep_firing_for``: a signal that flaps inside these
    spans stays one alert, and a spike shorter than `for_s` opens none.
    """

    model_config = {"extra": "forbid"}

    for_s: float = Field(default=300.0, ge=0, le=86400)
    """How long the condition must hold, seen at every check, before the alert fires."""
    clear_s: float = Field(default=300.0, ge=0, le=86400)
    """How long a firing alert's condition must be clear before it resolves."""


class AlertTimings(BaseModel):
    """Each health threshold's alert timing (its key in ``thresholds``), plus components'."""

    model_config = {"extra": "forbid"}

    cpu_percent: AlertTiming = Field(default_factory=AlertTiming)
    memory_percent: AlertTiming = Field(default_factory=AlertTiming)
    disk_percent: AlertTiming = Field(
        default_factory=lambda: AlertTiming(for_s=300.0, clear_s=600.0)
    )
    response_time_s: AlertTiming = Field(
        default_factory=lambda: AlertTiming(for_s=120.0, clear_s=180.0)
    )
    """Databases' and targets' answers: down or slow."""
    error_rate: AlertTiming = Field(default_factory=AlertTiming)
    component: AlertTiming = Field(default_factory=AlertTiming)
    """A component's degraded or unhealthy alert (its checks are already read over
    ``window_s``)."""

    def of(self, threshold: str | None) -> AlertTiming:
        """Return the timing of `threshold`; a condition that names none is a component's."""
        found = getattr(self, threshold or "component", None)
        return found if isinstance(found, AlertTiming) else self.component


class HealthSettings(BaseModel):
    """The monitoring loop's health checks."""

    model_config = {"extra": "forbid"}

    every_s: float = Field(default=60.0, gt=0)
    """How often the leader runs a full health check."""
    collector_timeout_s: float = Field(default=5.0, gt=0, le=300)
    """How long one collector may take; past it, its checks read unknown."""
    history: int = Field(default=1440, ge=1)
    """How many stored reports are kept (a day at one a minute)."""
    window_s: float = Field(default=3600.0, gt=0)
    """The recent past a branch's figures (errors, compliance, availability) are read over."""
    http_targets: dict[str, AnyHttpUrl] = Field(default_factory=dict)
    """A user's own services, by name: their answer time and status are checked."""
    disk_paths: list[Path] = Field(default_factory=list)
    """Filesystems whose usage is checked; the data folder's is always one."""
    thresholds: Thresholds = Field(default_factory=Thresholds)
    timing: AlertTimings = Field(default_factory=AlertTimings)
    """Per threshold: how long a condition holds before its alert fires, and is clear
    before it resolves."""


MIN_SECRET_BYTES = 32
"""The shortest webhook signing secret accepted: a guessable one signs nothing."""


class WebhookChannel(BaseModel):
    """A generic webhook: JSON body, signed with HMAC-SHA256 over the timestamp and body."""

    model_config = {"extra": "forbid"}

    kind: Literal["webhook"] = "webhook"
    url: AnyHttpUrl
    secret: SecretStr | None = None
    """Signs ``X-Triad-Signature`` (at least 32 bytes); without it the body goes unsigned."""
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("secret")
    @classmethod
    def _secret_is_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"a webhook signing secret must be at least {MIN_SECRET_BYTES} bytes "
                "(`openssl rand -hex 32` makes one)"
            )
        return value


class SlackChannel(BaseModel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat)."""

    model_config = {"extra": "forbid"}

    kind: Literal["slack"] = "slack"
    url: AnyHttpUrl
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class EmailChannel(BaseModel):
    """SMTP email."""

    model_config = {"extra": "forbid"}

    kind: Literal["email"] = "email"
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class LogChannel(BaseModel):
    """Triad's own log: a structured line per notification."""

    model_config = {"extra": "forbid"}

    kind: Literal["log"] = "log"


class RecordingChannel(BaseModel):
    """Kept in memory by the process that sends (`notifiers.recorded`): tests and drills."""

    model_config = {"extra": "forbid"}

    kind: Literal["recording"] = "recording"


Channel = Annotated[
    WebhookChannel | SlackChannel | EmailChannel | LogChannel | RecordingChannel,
    Field(discriminator="kind"),
]


def _default_channels() -> dict[str, Channel]:
    return {"log": LogChannel()}


def _default_routes() -> dict[Authority, list[str]]:
    return {authority: ["log"] for authority in Authority}


class AlertSettings(BaseModel):
    """Alert grouping, timing and escalation (Alertmanager's timing defaults)."""

    model_config = {"extra": "forbid"}

    every_s: float = Field(default=60.0, gt=0)
    """How often the leader runs an alert coordination cycle."""
    group_by: list[str] = Field(default_factory=lambda: ["alertname"])
    group_wait_s: float = Field(default=30.0, ge=0)
    """How long a new group waits for more alerts before its first notification."""
    group_interval_s: float = Field(default=300.0, gt=0)
    """How long a notified group waits before notifying what changed in it."""
    repeat_interval_s: float = Field(default=4 * 3600.0, gt=0)
    """How long before an unchanged, still firing group is notified again."""
    ack_timeout_s: float = Field(default=15 * 60.0, gt=0)
    """An emergency alert not acknowledged within this is re-notified."""
    renotify_limit: int = Field(default=2, ge=0)
    """Re-notifications of an unacknowledged emergency before the fallback is called."""
    max_repages: int = Field(default=3, ge=0, le=100)
    """Re-pages of the fallback, one every ``ack_timeout_s``, after its first page; then a
    last "still unacknowledged, stopping re-pages" notice, and the alert stays open."""
    ack_quiet_s: float = Field(default=3600.0, gt=0)
    """An acknowledged alert not resolved within this fires again and re-enters escalation."""
    change_silence_max_s: float = Field(default=6 * 3600.0, gt=0)
    """The longest a change-linked silence may last, whatever its operation does."""
    max_silence_s: float = Field(default=30 * 86400.0, gt=0)
    """The longest silence a person may add: every silence ends, none later than this."""
    channels: dict[str, Channel] = Field(default_factory=_default_channels)
    """Notification channels by name."""
    routes: dict[Authority, list[str]] = Field(default_factory=_default_routes)
    """Each authority's channels: escalation notifies the authorities a severity reaches."""
    fallback: list[str] = Field(default_factory=lambda: ["log"])
    """Channels called when an emergency goes unacknowledged past its re-notifications."""
    delivery_attempts: int = Field(default=5, ge=1, le=50)
    """Tries per delivery (with backoff) before it is marked failed."""
    delivery_backoff_s: float = Field(default=2.0, gt=0)
    """The first pause between tries; it doubles each time, up to ten minutes."""
    rate_limit_per_s: float = Field(default=20.0, gt=0)
    """Alerts one principal may post per second to ``POST /alerts``, sustained (its token
    bucket refills at this rate; each alert of a batch takes one token)."""
    rate_limit_burst: int = Field(default=1000, ge=1)
    """The bucket's size: what a quiet principal may post at once (one full batch)."""
    flood_threshold: int = Field(default=20, ge=1)
    """More alerts than this from one principal in one flush are told as one notification
    per channel ("N alerts from P"), queued behind the other deliveries of their severity."""

    @model_validator(mode="after")
    def _routes_name_channels(self) -> AlertSettings:
        named = {"fallback": self.fallback, **{a.value: c for a, c in self.routes.items()}}
        for route, channels in named.items():
            unknown = sorted(set(channels) - set(self.channels))
            if unknown:
                raise ValueError(f"route {route} names unknown channels: {', '.join(unknown)}")
        return self


MODEL_PROVIDERS = (
    "openai",
    "openai-chat",
    "openai-responses",
    "anthropic",
    "google-gla",
    "google-vertex",
    "google",
    "ollama",
    "groq",
    "mistral",
    "bedrock",
    "openrouter",
    "test",
)
"""The pydantic-ai providers a model setting may name (``provider:model``)."""


def check_model(value: str) -> str:
    """Accept ``rules``, ``provider:model`` or an OpenAI-compatible base URL; refuse the rest.

    A base URL must carry no credentials, in its authority or in a query string (or a
    fragment): keys come from the environment only.
    """
    value = value.strip()
    if value == "rules":
        return value
    if value.startswith(("http://", "https://")):
        if "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("a model URL must not carry credentials; set OPENAI_API_KEY instead")
        if "?" in value or "#" in value:
            raise ValueError(
                "a model URL must not carry a query string or a fragment (they may hold "
                "credentials); set OPENAI_API_KEY instead"
            )
        return value.rstrip("/")
    provider, _, name = value.partition(":")
    if provider not in MODEL_PROVIDERS or not name:
        raise ValueError(
            f"{value!r} is not 'rules', 'provider:model' (provider one of "
            f"{', '.join(MODEL_PROVIDERS)}) or an http(s) base URL"
        )
    return value


def model_url_display(url: str) -> str:
    """Return a model URL as people may read it: scheme, host, port and path only.

    User, password, query string and fragment are dropped, whatever they hold.
    """
    parsed = urlsplit(url)
    host = parsed.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parsed.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parsed.scheme, netloc, parsed.path, "", ""))


ModelSetting = Annotated[str, AfterValidator(check_model)]


class AgentSettings(BaseModel):
    """The AI triad's agents: which model each consults and the limits on every call."""

    model_config = {"extra": "forbid"}

    planner: ModelSetting | None = None
    """The planner's model; default the top-level ``model``."""
    executor: ModelSetting | None = None
    """The executor's model; default the top-level ``model``."""
    evaluator: ModelSetting | None = None
    """The evaluator's model; default the top-level ``model``."""
    model_name: str | None = Field(default=None, min_length=1, max_length=200)
    """The model to ask for at an OpenAI-compatible base URL (Ollama, vLLM, LM Studio)."""
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    """How long one consultation may take, retries included; past it, the decision fails
    closed (a person decides, or the verdict fails)."""
    max_retries: int = Field(default=2, ge=0, le=10)
    """Retries of a transient failure (connection, 408, 409, 429, 5xx), with the provider
    client's exponential backoff; other errors are not retried."""
    max_response_bytes: int = Field(default=1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    """The largest answer body read from a model's API, in bytes; a larger one is refused
    as it arrives (never read whole) and the consultation fails closed."""
    request_limit: int = Field(default=6, ge=1, le=100)
    """Model requests one agent may make for one operation."""
    total_tokens_limit: int = Field(default=50_000, ge=100)
    """Tokens one agent may use for one operation."""
    concurrency: int = Field(default=4, ge=1, le=256)
    """Calls in flight at once per model; the others wait their turn."""
    window_s: float = Field(default=3600.0, gt=0)
    """The recent past ``triad agents health`` reads latency, errors and tokens over."""
    keep_calls: int = Field(default=10_000, ge=100)
    """How many recorded calls are kept (the totals in /metrics keep counting)."""


GOVERNANCE: dict[str, Any] = {
    "model": True,
    "agents": {"planner": True, "executor": True, "evaluator": True, "model_name": True},
    "maintenance_windows": True,
    "health": {"thresholds": True},
    "approval_timeout_s": True,
    "acknowledgement_timeout_s": True,
    "blast_radius_threshold": True,
    "recent_failure_threshold": True,
    "performance_tolerance": True,
    "check_timeout_s": True,
    "alerts": {"ack_timeout_s": True, "max_silence_s": True, "change_silence_max_s": True},
}
"""The settings that decide governance (``include`` for `Settings.model_dump`): how an
operation is planned, judged and approved, and how long an alert may be muted."""


def _flattened(data: dict[str, Any], prefix: str = "") -> dict[str, JsonValue]:
    flat: dict[str, JsonValue] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat |= _flattened(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Settings(BaseSettings):
    """Everything an operator can configure; each key names what it controls."""

    model_config = SettingsConfigDict(
        env_prefix="TRIAD_", extra="forbid", env_nested_delimiter="__"
    )

    home: Path = Field(default_factory=default_home)
    """Data folder: the SQLite database, logs, cache and backups live here. By default the
    ``.triad`` folder found from the working folder up, as git finds ``.git``."""
    database_url: str | None = None
    """SQLAlchemy async URL; default ``sqlite+aiosqlite:///$TRIAD_HOME/triad.db``."""
    database_targets: dict[str, str] = Field(default_factory=dict)
    """Other databases the database actions may work on, by name (``triad`` is triad's own)."""
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    """Largest request body the API reads, in bytes; a larger one is refused with 413."""
    approval_timeout_s: float = Field(default=24 * 3600, gt=0)
    """A pending approval not given within this many seconds rejects the operation."""
    acknowledgement_timeout_s: float = Field(default=15 * 60, gt=0)
    """An emergency operation must be acknowledged by the crown within this many seconds."""
    lease_s: float = Field(default=30.0, gt=0)
    """How long a worker's claim on an operation lasts without renewal."""
    worker_poll_s: float = Field(default=0.5, gt=0)
    worker_batch: int = Field(default=64, ge=1, le=1000)
    """How many operations one pass of ``drive_once`` (the CLI's ``--wait``) claims at once."""
    worker_concurrency: int = Field(default=64, ge=2, le=1000)
    """How many operations one worker drives at a time; a free slot claims at once, and one
    slot is always kept for emergencies under the crown (so at least 2). A slot is a
    coroutine, not a thread: the operations in flight share each group commit, so fewer
    slots mean smaller commits (8 drove a quarter of 64's noops a second on 2 cores)."""
    blast_radius_threshold: int = Field(default=3, ge=1)
    """More affected systems than this raises an operation's risk by one level."""
    recent_failure_threshold: int = Field(default=2, ge=1)
    """This many failures of the same procedure in a day raise its risk by one level."""
    cache_dirs: list[Path] = Field(default_factory=list)
    """Cache folders ``cache.cleanup`` may clean; ``$TRIAD_HOME/cache`` is always one."""
    log_dirs: list[Path] = Field(default_factory=list)
    """Log folders ``logs.rotate`` may rotate; ``$TRIAD_HOME/logs`` is always one."""
    maintenance_windows: list[MaintenanceWindow] = Field(
        default_factory=lambda: list(DEFAULT_WINDOWS)
    )
    """Windows (UTC) in which medium-risk work with a rollback plan is approved automatically."""
    preview_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """How long one step's dry run may take during review before the request is refused."""
    probe_timeout_s: float = Field(default=10.0, gt=0, le=600)
    """How long asking an action whether an interrupted step took effect may take."""
    check_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    """How long one check's measurement may take; a measurement past it fails the check."""
    retention_tables: dict[str, list[str]] = Field(default_factory=dict)
    """Tables of each configured database target that hold retention data, which
    ``database.purge_audit_logs`` may delete from; on triad's own database only
    ``audit_logs`` ever is, whatever is configured here."""
    performance_tolerance: float = Field(default=3.0, gt=1)
    """``performance_within_baseline`` fails when latency exceeds baseline times this."""
    checkpoint_key_file: Path | None = None
    """Ed25519 private key (PEM PKCS8 or 32 raw bytes in base64) that signs ledger checkpoints;
    keep it outside the database and its backups (``triad audit keygen`` writes one)."""
    checkpoint_key: SecretStr | None = None
    """The same private key given directly (``TRIAD_CHECKPOINT_KEY``); never logged or printed."""
    checkpoint_public_key_file: Path | None = None
    """Public key (PEM or 32 raw bytes in base64) a verifier checks checkpoints with, when it
    holds no private key; preferred over the private key's own when both are set."""
    checkpoint_log: Path | None = None
    """Append-only log of signed checkpoints; default ``$TRIAD_HOME/checkpoints.jsonl``. Keep it
    (or a copy) where the database's writers cannot reach it."""
    checkpoint_every_s: float = Field(default=300.0, gt=0)
    """How often a worker signs the ledger's head when a checkpoint key is configured."""
    monitor: bool = True
    """Run the monitoring loop (heartbeats; health, alerts and notifications when leading)
    in this process's worker; off for a worker that should only drive operations."""
    health: HealthSettings = Field(default_factory=HealthSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    model: ModelSetting = "rules"
    """The model the planner, executor and evaluator consult (``TRIAD_MODEL``): ``rules`` (no
    model, no agent framework loaded), a pydantic-ai model such as ``openai:gpt-5.2``,
    ``openai-chat:…``, ``anthropic:…``, ``google-gla:…``, ``ollama:…``, or an
    OpenAI-compatible base URL with ``agents.model_name``. Keys come from the provider's
    environment variables (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``, …) only."""
    agents: AgentSettings = Field(default_factory=AgentSettings)

    def agent_model(self, agent: str) -> str:
        """The model `agent` (planner, executor, evaluator) consults, or ``rules``."""
        own: str | None = getattr(self.agents, agent)
        return own or self.model

    def agent_model_display(self, agent: str) -> str:
        """The model `agent` consults as people read it: never a key or a credential.

        ``provider:model``, ``rules``, or the served model at an OpenAI-compatible URL.
        """
        spec = self.agent_model(agent)
        if spec.startswith(("http://", "https://")):
            return f"{self.agents.model_name} at {model_url_display(spec)}"
        return spec

    @property
    def consults_models(self) -> bool:
        """True when any agent consults a model."""
        return any(self.agent_model(a) != "rules" for a in ("planner", "executor", "evaluator"))

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

    @model_validator(mode="after")
    def _base_url_names_its_model(self) -> Settings:
        for agent in ("planner", "executor", "evaluator"):
            if self.agent_model(agent).startswith("http") and not self.agents.model_name:
                raise ValueError(
                    f"the {agent} consults an OpenAI-compatible URL: set agents.model_name "
                    "(TRIAD_AGENTS__MODEL_NAME) to the model it serves"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read, by precedence: arguments, environment, then ``triad.toml``."""
        path = required_config_file()
        if path is None:
            return (init_settings, env_settings)
        toml = TomlConfigSettingsSource(settings_cls, toml_file=path)
        return (init_settings, env_settings, toml)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        return None if value is None else async_database_url(value)

    @field_validator("database_targets")
    @classmethod
    def _async_drivers(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: async_database_url(url) for name, url in value.items()}

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file in the data folder."""
        return self.database_url or f"sqlite+aiosqlite:///{self.home / 'triad.db'}"

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite file the database lives in; None for a server database or memory."""
        url = self.resolved_database_url
        if not url.startswith("sqlite"):
            return None
        path = url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""
        return Path(path) if path and path != ":memory:" else None

    @property
    def log_dir(self) -> Path:
        """Triad's own log folder."""
        return self.home / "logs"

    @property
    def cache_dir(self) -> Path:
        """Triad's own cache folder."""
        return self.home / "cache"

    @property
    def resolved_checkpoint_log(self) -> Path:
        """The checkpoint log, defaulting to ``checkpoints.jsonl`` in the data folder."""
        return self.checkpoint_log or self.home / "checkpoints.jsonl"
