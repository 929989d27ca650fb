"""Templates of configured HTTP calls: a URL whose host is fixed, headers, a JSON body.

A request fills declared parameters into the URL's path and query (percent-encoded, so a
value can never reach the scheme, host or port) and into the body; header values read the
environment (``${NAME}``) and nothing else. Pure: the caller hands in the environment.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import JsonValue

from triadops.domain.errors import NotFound
from triadops.domain.parameters import PLACEHOLDER, ParamValue, placeholders, render

__all__ = [
    "Origin",
    "body_placeholders",
    "environment_names",
    "expand_environment",
    "header_placeholders",
    "is_loopback",
    "keys_with_placeholders",
    "mask_environment",
    "parse_url",
    "render_body",
    "render_url",
    "url_placeholders",
]

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${NAME}``: a value read from the process's environment when the call is made."""
NETLOC = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
"""A plain host name or IP address and an optional port: no user, no escapes, no braces,
so every URL parser reads the same host from it."""
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a configured URL sends its request: scheme, host and port, never a parameter's."""

    scheme: str
    host: str
    """Lower case, IPv6 without brackets."""
    port: int


def is_loopback(host: str) -> bool:
    """Tell whether `host` is this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(url: str, *, params: bool) -> Origin:
    """Return `url`'s origin; raise ValueError saying what is wrong with it.

    ``{name}`` placeholders are allowed in the path and query only, and only with `params`.
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"the scheme must be http or https, not {parts.scheme or 'none'!r}")
    if PLACEHOLDER.search(parts.netloc) or "{" in parts.netloc:
        raise ValueError("a parameter may not appear in the scheme, host or port")
    if not NETLOC.fullmatch(parts.netloc):
        raise ValueError(
            f"the host part {parts.netloc!r} must be a plain host name or IP address with an "
            "optional port (no user name: credentials go in a header from the environment)"
        )
    if parts.fragment:
        raise ValueError("a URL fragment is never sent: remove it")
    if (parts.path or parts.query) and not params and placeholders(parts.path + parts.query):
        raise ValueError("this URL takes no parameters")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"the port is not valid: {exc}") from None
    assert parts.hostname is not None  # NETLOC matched a host
    return Origin(parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme])


def url_placeholders(url: str) -> set[str]:
    """Return the parameter names in `url`'s path and query."""
    parts = urlsplit(url)
    return placeholders(parts.path) | placeholders(parts.query)


def _encoded(value: ParamValue) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    encoded = quote(text, safe="")
    # A value of dots alone would be a dot segment, which clients resolve ("/a/.." is "/").
    return encoded.replace(".", "%2E") if set(text) == {"."} else encoded


def render_url(template: str, values: Mapping[str, ParamValue]) -> str:
    """Fill `template`'s path and query, each value percent-encoded whole (``/`` included)."""
    parts = urlsplit(template)

    def fill(text: str) -> str:
        return PLACEHOLDER.sub(lambda match: _encoded(values[match.group(1)]), text)

    return urlunsplit((parts.scheme, parts.netloc, fill(parts.path), fill(parts.query), ""))


def body_placeholders(body: JsonValue) -> set[str]:
    """Return the parameter names in `body`'s strings (keys take none)."""
    if isinstance(body, str):
        return placeholders(body)
    if isinstance(body, list):
        return set().union(*(body_placeholders(item) for item in body))
    if isinstance(body, dict):
        return set().union(*(body_placeholders(item) for item in body.values()))
    return set()


def keys_with_placeholders(body: JsonValue) -> list[str]:
    """Return the object keys in `body` that hold a placeholder (they are never filled)."""
    if isinstance(body, list):
        return [key for item in body for key in keys_with_placeholders(item)]
    if isinstance(body, dict):
        found = [key for key in body if placeholders(key)]
        return found + [key for item in body.values() for key in keys_with_placeholders(item)]
    return []


def render_body(body: JsonValue, values: Mapping[str, ParamValue]) -> JsonValue:
    """Fill `body`: a string that is exactly ``{name}`` becomes the typed value, others text."""
    if isinstance(body, str):
        whole = PLACEHOLDER.fullmatch(body)
        if whole is not None:
            return values[whole.group(1)]
        return render(body, dict(values))
    if isinstance(body, list):
        return [render_body(item, values) for item in body]
    if isinstance(body, dict):
        return {key: render_body(item, values) for key, item in body.items()}
    return body


def environment_names(text: str) -> set[str]:
    """Return the environment variables ``${NAME}`` in `text` reads."""
    return set(ENV_REF.findall(text))


def header_placeholders(text: str) -> set[str]:
    """Return the ``{name}`` parameter placeholders in a header value (none are allowed)."""
    return placeholders(ENV_REF.sub("", text))


def expand_environment(text: str, environ: Mapping[str, str]) -> str:
    """Replace each ``${NAME}`` in `text` with its value; NotFound names a missing variable."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise NotFound(f"environment variable {name} is not set", field=name)
        return environ[name]

    return ENV_REF.sub(value, text)


def mask_environment(text: str, mask: str) -> str:
    """Replace each ``${NAME}`` in `text` with `mask`: what a preview may show of a header."""
    return ENV_REF.sub(mask, text)
