"""Where a remote CLI sends its commands: ``TRIAD_URL``/``TRIAD_TOKEN``, or a stored login.

``triad login`` keeps the server's URL and token in ``hosts.toml`` under the user's config
folder (``$XDG_CONFIG_HOME/triad``, by default ``~/.config/triad``), readable by the user
alone (0600), as ``gh`` keeps its hosts. The variables win over the file; ``TRIAD_URL=``
(empty) works locally even with a stored login.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from triadops.cli.context import BadInput

HOSTS_NAME = "hosts.toml"


@dataclass(frozen=True)
class Target:
    """A server the CLI speaks to and the token it speaks with."""

    url: str
    token: str

    def __repr__(self) -> str:
        return f"Target(url={self.url!r}, token=***)"


def config_dir() -> Path:
    """Return the user's triad config folder (``$XDG_CONFIG_HOME/triad``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "triad"


def hosts_file() -> Path:
    """Return the file ``triad login`` stores the URL and token in."""
    return config_dir() / HOSTS_NAME


def check_url(url: str) -> str:
    """Return `url` without a trailing slash; BadInput unless it is http(s) without credentials."""
    url = url.strip().rstrip("/")
    scheme, sep, rest = url.partition("://")
    if scheme not in ("http", "https") or not sep or not rest:
        raise BadInput(f"--url: {url!r} is not an http(s) URL such as https://triad.example:8000")
    if "@" in rest.split("/", 1)[0]:
        raise BadInput("--url: a URL must not carry credentials; the token is asked for apart")
    return url


def stored_login() -> Target | None:
    """Return the login ``triad login`` stored, or None; a broken file is BadInput."""
    path = hosts_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"{path}: cannot read it ({exc}): run triad logout, then login") from None
    url, token = data.get("url"), data.get("token")
    if not isinstance(url, str) or not isinstance(token, str) or not token:
        raise BadInput(f"{path}: no url and token in it: run triad logout, then login")
    return Target(url=url, token=token)


def save_login(target: Target) -> Path:
    """Write `target` to the hosts file, created 0600 (never readable by others, even briefly)."""
    path = hosts_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = f"url = {_toml_string(target.url)}\ntoken = {_toml_string(target.token)}\n"
    temporary = path.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    return path


def forget_login() -> bool:
    """Delete the stored login; True when there was one."""
    try:
        hosts_file().unlink()
    except FileNotFoundError:
        return False
    return True


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def remote_target() -> Target | None:
    """Return the server this CLI speaks to, or None to work on the database directly.

    ``TRIAD_URL`` (with ``TRIAD_TOKEN``, or the stored login's token for the same URL)
    wins; unset, a stored login is used; set empty, the CLI works locally.
    """
    url = os.environ.get("TRIAD_URL")
    if url == "":
        return None
    if url is None:
        return stored_login()
    url = check_url(url)
    token = os.environ.get("TRIAD_TOKEN")
    if not token:
        stored = stored_login()
        if stored is None or stored.url != url:
            raise BadInput(f"TRIAD_URL is {url} but TRIAD_TOKEN is not set: set it or triad login")
        token = stored.token
    return Target(url=url, token=token.strip())
