"""The systems section: the user's own commands, hosts and HTTP endpoints, declared in advance.

Only what is declared here can run: no request, drafted plan or agent can add a command, a
host or an endpoint. A request fills in declared parameters, nothing else. All of it is
governance (`GOVERNANCE`): every process writing to one database runs the same declarations.
Environment values are written ``${NAME}`` and read from the process's environment when the
step runs, so secrets stay out of this file, the ledger, previews and logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from triadops.domain.enums import Risk
from triadops.domain.http_templates import (
    body_placeholders,
    header_placeholders,
    is_loopback,
    keys_with_placeholders,
    parse_url,
    url_placeholders,
)
from triadops.domain.parameters import NAME, ParamName, ParamSpec, placeholders

__all__ = [
    "HOST_SELECTION",
    "CommandSpec",
    "HostSpec",
    "HttpCallSpec",
    "HttpEndpointSpec",
    "HttpProbeSpec",
    "SystemsSettings",
]

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
SystemName = Annotated[str, Field(pattern=NAME)]
HeaderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")]
HostName = Annotated[str, Field(pattern=r"^(?:[A-Za-z0-9.-]{1,253}|[0-9A-Fa-f:.]{2,45})$")]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
HOST_SELECTION = ("hosts", "tags", "batch_size", "max_fail_percent", "failure_budget")
"""The parameters every command on hosts takes besides its own (the rollout's
``HostSelection``): a declared parameter may not take one of these names."""


def _templated_url(url: str) -> str:
    parse_url(url, params=True)
    return url


def _plain_url(url: str) -> str:
    parse_url(url, params=False)
    return url


def _header_values(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if any(c in value for c in "\r\n\x00"):
            raise ValueError(f"header {name}: line breaks and NUL are not allowed")
        if header_placeholders(value):
            raise ValueError(
                f"header {name}: parameters may not go in headers; "
                "read a value from the environment with ${NAME}"
            )
    return headers


TemplatedUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_templated_url)]
PlainUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_plain_url)]
Headers = Annotated[
    dict[HeaderName, Annotated[str, Field(max_length=4096)]],
    Field(max_length=64),
    AfterValidator(_header_values),
]


def _undeclared(texts: list[str], params: dict[str, ParamSpec]) -> set[str]:
    used: set[str] = set()
    for text in texts:
        used |= placeholders(text)
    return used - params.keys()


class CommandSpec(BaseModel):
    """A command the executive may run: an argument list with declared parameter positions."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    description: str = Field(min_length=1, max_length=500)
    argv: list[str] = Field(min_length=1, max_length=256)
    """The program and its arguments; ``{name}`` marks where a declared parameter goes."""
    rollback_argv: list[str] | None = Field(default=None, min_length=1, max_length=256)
    """What undoes ``argv``, with the same placeholders; none when nothing can."""
    params: dict[ParamName, ParamSpec] = Field(default_factory=dict)
    cwd: Path | None = None
    env: dict[EnvName, str] = Field(default_factory=dict)
    """Variables set for the process; ``${NAME}`` in a value reads the environment."""
    secrets: list[EnvName] = Field(default_factory=list)
    """More environment variables whose values are masked in output (every ``${NAME}``
    referenced in ``env`` is masked already)."""
    timeout_s: float = Field(default=300.0, gt=0, le=24 * 3600)
    success_codes: list[int] = Field(default_factory=lambda: [0], min_length=1)
    output_limit_bytes: int = Field(default=64 * 1024, ge=256, le=16 * 1024 * 1024)
    """Bytes kept of stdout and of stderr each; past it the output is cut and marked."""
    risk: Risk = Risk.MEDIUM
    reversible: bool = False
    """True only with a ``rollback_argv``."""
    idempotent: bool = False
    """True when running it again after an interruption is safe."""
    hosts: list[SystemName] = Field(default_factory=list)
    """Hosts (by name) it may run on over SSH; with ``host_tags`` empty too, it runs here."""
    host_tags: list[SystemName] = Field(default_factory=list)
    """Tags of hosts it may run on over SSH."""

    @model_validator(mode="after")
    def _consistent(self) -> CommandSpec:
        missing = _undeclared([*self.argv, *(self.rollback_argv or [])], self.params)
        if missing:
            raise ValueError(f"placeholders name undeclared parameters: {sorted(missing)}")
        if self.reversible and self.rollback_argv is None:
            raise ValueError("reversible = true needs a rollback_argv")
        if self.hosts or self.host_tags:
            taken = sorted(set(self.params) & set(HOST_SELECTION))
            if taken:
                raise ValueError(
                    f"params.{taken[0]}: a command on hosts takes {', '.join(HOST_SELECTION)} "
                    "as its host selection; give the parameter another name"
                )
        return self


class HostSpec(BaseModel):
    """A host commands may run on over SSH; its key is checked against ``known_hosts``."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    address: str = Field(min_length=1, max_length=255)
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(min_length=1, max_length=64)
    key_file: Path | None = None
    """A private key file; none uses the SSH agent (``SSH_AUTH_SOCK``)."""
    tags: list[SystemName] = Field(default_factory=list)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)


class HttpCallSpec(BaseModel):
    """One HTTP request: method, URL, headers and a JSON body with declared placeholders."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: TemplatedUrl
    """``{name}`` may appear in the path and query only (values are percent-encoded); the
    host must be loopback or listed in ``http_allowed_hosts``."""
    headers: Headers = Field(default_factory=dict)
    """Header values may read the environment with ``${NAME}``; those values are secrets,
    masked wherever the call is shown. Parameters never go in headers."""
    body: JsonValue = None
    """A JSON template: a string that is exactly ``{name}`` takes the typed value, a longer
    string holding ``{name}`` takes it as text; object keys are never filled."""

    @model_validator(mode="after")
    def _keys_plain(self) -> HttpCallSpec:
        keyed = keys_with_placeholders(self.body)
        if keyed:
            raise ValueError(f"body keys are never filled, but {keyed[0]!r} holds a placeholder")
        return self

    def parameters(self) -> set[str]:
        """Return the parameter names this call's URL and body use."""
        return url_placeholders(self.url) | body_placeholders(self.body)


class HttpEndpointSpec(HttpCallSpec):
    """An ``http`` action: a configured call with expected statuses and an optional undo."""

    description: str = Field(min_length=1, max_length=500)
    params: dict[ParamName, ParamSpec] = Field(default_factory=dict)
    expect_status: list[HttpStatus] = Field(
        default_factory=lambda: [200, 201, 202, 204], min_length=1
    )
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    """Seconds one attempt may take, answer included."""
    retries: int = Field(default=2, ge=0, le=10)
    """Retries after a connection error, a timeout or a 5xx; idempotent methods (GET, HEAD,
    PUT, DELETE) only: a POST or PATCH is sent once."""
    rollback: HttpCallSpec | None = None
    """The call that undoes this one, with the same parameters; any 2xx counts as done. It
    sends the endpoint's headers too, its own added over them."""
    risk: Risk = Risk.MEDIUM
    reversible: bool = False
    """True only with a ``rollback``."""
    idempotent: bool = False
    """True when sending it again after an interruption is safe."""

    @model_validator(mode="after")
    def _declared(self) -> HttpEndpointSpec:
        used = self.parameters() | (self.rollback.parameters() if self.rollback else set())
        missing = used - self.params.keys()
        if missing:
            raise ValueError(f"placeholders name undeclared parameters: {sorted(missing)}")
        if self.reversible and self.rollback is None:
            raise ValueError("reversible = true needs a rollback call")
        return self


class HttpProbeSpec(BaseModel):
    """An ``http_probe`` check: a URL measured before and after a change."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    url: PlainUrl
    """Loopback or listed in ``http_allowed_hosts``; no parameters."""
    description: str = ""
    headers: Headers = Field(default_factory=dict)
    """As an endpoint's: ``${NAME}`` reads the environment, and those values are masked."""
    requests: int = Field(default=10, ge=1, le=1000)
    """Requests per measurement, one after another; latency percentiles are taken over
    them. All of them share the judiciary's ``check_timeout_s``: past it, the rest count
    as failed, so keep ``requests`` x the usual latency well inside it."""
    timeout_s: float = Field(default=5.0, gt=0, le=120)
    """Seconds one request may take."""
    expect_status: list[HttpStatus] = Field(default_factory=lambda: [200], min_length=1)
    json_field: str | None = Field(
        default=None, max_length=256, pattern=r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$"
    )
    """A dotted path into the JSON answer (a number picks a list item), compared with
    ``expected`` after the change."""
    expected: JsonValue = None
    latency_tolerance: float = Field(default=3.0, gt=1)
    """After the change, p95 latency may be at most this times the p95 before."""
    latency_floor_ms: float = Field(default=50.0, ge=0)
    """p95 latencies under this are never a regression (noise on a fast endpoint)."""

    @model_validator(mode="after")
    def _field_and_value(self) -> HttpProbeSpec:
        given = "expected" in self.model_fields_set
        if self.json_field is not None and not given:
            raise ValueError(f"json_field {self.json_field!r} needs the expected value")
        if self.json_field is None and given:
            raise ValueError("expected needs a json_field to compare it with")
        return self


class SystemsSettings(BaseModel):
    """The user's own systems: commands, SSH hosts, HTTP endpoints and probes, procedures."""

    commands: dict[SystemName, CommandSpec] = Field(default_factory=dict)
    """Registered as actions ``command.<name>``."""
    hosts: dict[SystemName, HostSpec] = Field(default_factory=dict)
    known_hosts: Path | None = None
    """The known_hosts file SSH host keys are checked against; required with hosts."""
    http_endpoints: dict[SystemName, HttpEndpointSpec] = Field(default_factory=dict)
    """Registered as actions ``http.<name>``."""
    http_probes: dict[SystemName, HttpProbeSpec] = Field(default_factory=dict)
    """Registered as checks ``http_probe.<name>``."""
    http_allowed_hosts: list[HostName] = Field(default_factory=list)
    """Hosts, besides loopback, that endpoints and probes may name (names or IP addresses,
    without scheme or port)."""
    procedure_folders: list[Path] = Field(default_factory=list)
    """More folders of procedure files, after ``$TRIAD_HOME/procedures``."""

    @model_validator(mode="after")
    def _hosts_exist(self) -> SystemsSettings:
        tags = {tag for host in self.hosts.values() for tag in host.tags}
        for name, command in self.commands.items():
            unknown = set(command.hosts) - self.hosts.keys()
            if unknown:
                raise ValueError(f"commands.{name}.hosts: no such host {sorted(unknown)}")
            untagged = set(command.host_tags) - tags
            if untagged:
                raise ValueError(f"commands.{name}.host_tags: no host has {sorted(untagged)}")
        if self.hosts and self.known_hosts is None:
            raise ValueError("hosts need known_hosts: host keys are never accepted blindly")
        return self

    @model_validator(mode="after")
    def _http_hosts_allowed(self) -> SystemsSettings:
        allowed = {host.lower().strip("[]") for host in self.http_allowed_hosts}
        urls = [(f"http_probes.{name}.url", probe.url) for name, probe in self.http_probes.items()]
        for name, endpoint in self.http_endpoints.items():
            urls.append((f"http_endpoints.{name}.url", endpoint.url))
            if endpoint.rollback is not None:
                urls.append((f"http_endpoints.{name}.rollback.url", endpoint.rollback.url))
        for key, url in urls:
            host = parse_url(url, params=True).host
            if not is_loopback(host) and host not in allowed:
                raise ValueError(
                    f"{key}: host {host!r} is neither loopback (127.0.0.0/8, ::1, localhost) "
                    "nor listed in http_allowed_hosts"
                )
        return self
