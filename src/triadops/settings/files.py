"""Where triad keeps its files: the data folder and the settings file, found from here up."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

HOME_DIR = ".triad"
"""The data folder's name, looked for from the working folder up (as git looks for ``.git``)."""
CONFIG_NAME = "triad.toml"


class ConfigFileMissing(FileNotFoundError):
    """``TRIAD_CONFIG`` names a file that is not there."""

    variable = "TRIAD_CONFIG"
    """The variable that named it, for the one-line error."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{self.variable} names {path}, which does not exist")
        self.path = path


class SecretsDirMissing(ConfigFileMissing):
    """``TRIAD_SECRETS_DIR`` names a folder that is not there."""

    variable = "TRIAD_SECRETS_DIR"


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


def secrets_dir() -> Path | None:
    """Return the folder of secret files ``$TRIAD_SECRETS_DIR`` names, or None (unset or empty).

    Each file there holds one setting, named as its variable (``triad_database_url`` holds
    ``database_url``), as Docker and Kubernetes mount secrets (``/run/secrets``): a password
    then never sits in the environment, where ``docker inspect`` and child processes see it.
    Raises SecretsDirMissing when the folder is not there, rather than reading no secrets.
    """
    named = os.environ.get("TRIAD_SECRETS_DIR")
    if not named:
        return None
    path = Path(named)
    if not path.is_dir():
        raise SecretsDirMissing(path)
    return path


def default_home() -> Path:
    """Return ``.triad`` in the project root, else ``.triad`` in the working folder."""
    root = project_root()
    return root / HOME_DIR if root else Path(HOME_DIR)


class FileSettings(BaseModel):
    """The data folder and the other folders triad's actions may work in."""

    home: Path = Field(default_factory=default_home)
    """Data folder: the SQLite database, logs, cache and backups live here. By default the
    ``.triad`` folder found from the working folder up, as git finds ``.git``."""
    cache_dirs: list[Path] = Field(default_factory=list)
    """Cache folders ``cache.cleanup`` may clean; ``$TRIAD_HOME/cache`` is always one."""
    log_dirs: list[Path] = Field(default_factory=list)
    """Log folders ``logs.rotate`` may rotate; ``$TRIAD_HOME/logs`` is always one."""

    @property
    def log_dir(self) -> Path:
        """Triad's own log folder."""
        return self.home / "logs"

    @property
    def cache_dir(self) -> Path:
        """Triad's own cache folder."""
        return self.home / "cache"
