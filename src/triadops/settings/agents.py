"""The agents section: which model each agent consults, and the limits on every call."""

from __future__ import annotations

from typing import Annotated, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, Field, model_validator

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
AGENTS = ("planner", "executor", "evaluator", "investigator")
"""The agents that may consult a model."""


class AgentSettings(BaseModel):
    """The AI triad's agents: which model each consults and the limits on every call."""

    model_config = {"extra": "forbid"}

    planner: ModelSetting | None = None
    """The planner's model; default the top-level ``model``."""
    executor: ModelSetting | None = None
    """The executor's model; default the top-level ``model``."""
    evaluator: ModelSetting | None = None
    """The evaluator's model; default the top-level ``model``."""
    investigator: ModelSetting | None = None
    """The investigator's model (``triad troubleshoot --investigate``); default the top-level
    ``model``; ``rules``: no investigation."""
    investigator_tool_calls: int = Field(default=12, ge=1, le=100)
    """Tool calls (reads) one investigation may make; past it, it ends "budget exhausted"."""
    investigator_requests: int = Field(default=14, ge=1, le=100)
    """Model requests one investigation may make."""
    investigator_result_bytes: int = Field(default=8192, ge=256, le=1024 * 1024)
    """The largest tool result handed to the investigator, in bytes; the rest is cut."""
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


class ModelSettings(BaseModel):
    """The model every agent consults unless it names its own, and the agents' section."""

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
        return any(self.agent_model(a) != "rules" for a in AGENTS)

    @model_validator(mode="after")
    def _base_url_names_its_model(self) -> Self:
        for agent in AGENTS:
            if self.agent_model(agent).startswith("http") and not self.agents.model_name:
                raise ValueError(
                    f"the {agent} consults an OpenAI-compatible URL: set agents.model_name "
                    "(TRIAD_AGENTS__MODEL_NAME) to the model it serves"
                )
        return self
