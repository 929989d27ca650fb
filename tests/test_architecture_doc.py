"""ARCHITECTURE.md stays true: what it names exists, and what it says the linters keep, they keep.

Each check reads the page mechanically: the tree diagram's paths, every path, settings key and
dotted name in backticks, the import contracts and their layers, the banned APIs and the
plugin surface. Each checker is also fed a page that lies, so it can fail.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import triadops.plugins
from triadops.settings import Settings

ROOT = Path(__file__).parents[1]
SRC = ROOT / "src" / "triadops"
DOC = (ROOT / "ARCHITECTURE.md").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONTRACTS: list[dict[str, Any]] = PYPROJECT["tool"]["importlinter"]["contracts"]

LAYERS = (
    "Layers: entry points, runtime, worker, agents, ops, constitution, actions and checks,"
    " storage, settings, logging, domain"
)
INSIDE = "Inside the constitution: orchestration, then the branches, then what they share"
"""The two layered contracts, by their names in pyproject.toml."""

NOT_SETTINGS = {
    "stage_s": "a transition's time in its state, in the ledger",
    "timeout_s": "an action's own attribute",
}
"""Backticked names ending in ``_s`` that are not settings keys, each with why."""
FILE = re.compile(r".*\.(py|toml|md)$")
"""A file's name, not a dotted name nor a settings key."""
FOREIGN = ("datetime.", "time.", "typer.")
"""Dotted names of other libraries (the APIs ruff bans), not triadops'."""
PREFIXES = ("triadops.", "triadops.constitution.", "triadops.ops.", "triadops.ops.alerts.", "")
"""Where a dotted name in the page may start: as written, or below these packages."""


def backticked(text: str) -> list[str]:
    """Return the page's inline code spans, in order (the diagram's block excluded)."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(r"`([^`\n]+)`", prose)


def diagram(text: str) -> str:
    """Return the tree diagram: the page's first fenced block."""
    found = re.search(r"```\n(.*?)```", text, flags=re.S)
    assert found is not None, "ARCHITECTURE.md has no diagram"
    return found.group(1)


def diagram_paths(block: str) -> list[str]:
    """Return every path the diagram names, relative to the package.

    A directory (``name/``) opens at its column; a module (``name.py``) belongs to the
    innermost open directory left of it; any name at or left of an open directory's column,
    on a later line, closes it. A name with a slash is a path from the package root, and a
    directory named in angle brackets is a template, not a path.
    """
    found: list[str] = []
    open_dirs: list[tuple[int, str]] = []
    for line in block.splitlines():
        first = True
        for match in re.finditer(r"[\w<>./-]*\w[\w<>./-]*", line):
            name, column = match.group().rstrip(".,'"), match.start()
            is_dir, is_module = name.endswith("/"), name.endswith(".py")
            if not (is_dir or is_module):
                continue
            if first:
                open_dirs = [(c, d) for c, d in open_dirs if c < column]
                first = False
            if "/" in name.rstrip("/") and is_module:
                found.append(name)
                continue
            parent = next((d for c, d in reversed(open_dirs) if c < column), "")
            path = f"{parent}{name}"
            if is_dir:
                open_dirs.append((column, path))
            if "<" not in path:
                found.append(path)
    return found


def missing_paths(paths: list[str]) -> list[str]:
    """Return the paths that exist neither under the package nor under the repository.

    A bare file name (``holds.py``) must exist somewhere in the package, or at the root.
    """
    names = {p.name for p in SRC.rglob("*.py")}
    missing = []
    for path in paths:
        if "/" not in path:
            if path not in names and not (ROOT / path).exists():
                missing.append(path)
        elif not ((SRC / path).exists() or (ROOT / path).exists()):
            missing.append(path)
    return missing


def prose_paths(text: str) -> list[str]:
    """Return the backticked names that are paths: a slash, or a file's extension.

    A name that starts with a slash is a URL's path (``/health``), not a file's.
    """
    return [
        span
        for span in backticked(text)
        if re.fullmatch(r"\w[\w./-]*", span)
        and ("/" in span or FILE.match(span))
        and not span.startswith("triadops.")
    ]


def settings_key(key: str) -> bool:
    """True when `key` (``lease_s``, ``health.every_s``) is a key of `Settings`."""
    model: type[BaseModel] = Settings
    for part in key.split("."):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return True


def named_settings(text: str) -> list[str]:
    """Return the backticked names that claim to be settings keys.

    A name whose first part is a top-level key (``health.every_s``), or one that ends in
    ``_s`` (a duration: our settings' suffix), unless `NOT_SETTINGS` says why not.
    """
    return [
        span
        for span in backticked(text)
        if re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", span)
        and not FILE.match(span)
        and span not in NOT_SETTINGS
        and (span.split(".")[0] in Settings.model_fields or span.endswith("_s"))
    ]


def resolves(name: str) -> bool:
    """True when a dotted name is a module or an attribute under one of `PREFIXES`."""
    for prefix in PREFIXES:
        parts = f"{prefix}{name}".split(".")
        for cut in range(len(parts), 0, -1):
            try:
                target: object = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attribute in parts[cut:]:
                target = getattr(target, attribute, None)
            if target is not None:
                return True
            break
    return False


def dotted_names(text: str) -> list[str]:
    """Return the backticked dotted names of triadops code (not settings, not libraries)."""
    return [
        span
        for span in backticked(text)
        if re.fullmatch(r"[a-z_]+(\.\w+)+", span)
        and not FILE.match(span)
        and not span.startswith(FOREIGN)
        and span not in named_settings(text)
    ]


def section(text: str, title: str) -> str:
    """Return the body of the ``##`` section whose title starts with `title`."""
    found = re.search(rf"^## {re.escape(title)}.*?\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert found is not None, title
    return found.group(1)


def stated_contracts(text: str) -> list[str]:
    """Return the contract names the import rules quote, each at the start of a bullet."""
    return re.findall(r'^- "([^"]+)"', section(text, "Import rules"), flags=re.M)


def stated_layers(text: str, contract: str) -> list[str]:
    """Return the layers the page gives a contract: the backticked chain after its name."""
    body = section(text, "Import rules")
    start = body.index(f'"{contract}"') + len(contract) + 2
    chain = re.match(r"[^.]*?((?:`[^`]+`\s*→\s*)+`[^`]+`)", body[start:], flags=re.S)
    assert chain is not None, contract
    return [layer.strip("`") for layer in re.split(r"\s*→\s*", chain.group(1))]


def contract(name: str) -> dict[str, Any]:
    """Return the import contract called `name` in pyproject.toml."""
    return next(c for c in CONTRACTS if c["name"] == name)


def short(layer: str) -> str:
    """Return a layer as the page writes it: ``cli | api`` for ``triadops.cli | triadops.api``."""
    return " | ".join(m.strip().removeprefix("triadops.") for m in layer.split("|"))


def test_every_path_in_the_diagram_exists() -> None:
    paths = diagram_paths(diagram(DOC))
    assert len(paths) > 50
    assert missing_paths(paths) == []


def test_every_path_in_the_prose_exists() -> None:
    paths = prose_paths(DOC)
    assert "storage/change_evidence.py" in paths
    assert missing_paths(paths) == []


def test_the_diagram_reader_nests_and_closes_directories() -> None:
    block = (
        "   constitution/  lifecycle.py   states\n"
        "                  ledger/        chain.py · folds.py\n"
        "                                 audit.py\n"
        "                  holds.py       (see domain/rules.py)\n"
        "                  <feature>/     models.py\n"
        "   runtime.py\n"
    )
    assert diagram_paths(block) == [
        "constitution/",
        "constitution/lifecycle.py",
        "constitution/ledger/",
        "constitution/ledger/chain.py",
        "constitution/ledger/folds.py",
        "constitution/ledger/audit.py",
        "constitution/holds.py",
        "domain/rules.py",
        "runtime.py",
    ]
    assert missing_paths(["constitution/ledger/nowhere.py", "nowhere.py", "holds.py"]) == [
        "constitution/ledger/nowhere.py",
        "nowhere.py",
    ]


def test_every_settings_key_named_exists() -> None:
    keys = named_settings(DOC)
    assert {"health.every_s", "alerts.every_s", "monitor_tick_s", "agents.keep_calls"} <= set(keys)
    assert [key for key in keys if not settings_key(key)] == []


def test_a_key_that_is_not_a_setting_is_caught() -> None:
    page = "every `monitor_beat_s`, and `health.every_hour`, not `stage_s` nor `lease_s`"
    assert [key for key in named_settings(page) if not settings_key(key)] == [
        "monitor_beat_s",
        "health.every_hour",
    ]


def test_every_dotted_name_resolves() -> None:
    names = dotted_names(DOC)
    assert {"lifecycle.OPERATIONS", "legislative.advice.conclude_review"} <= set(names)
    assert [name for name in names if not resolves(name)] == []


def test_a_dotted_name_that_moved_is_caught() -> None:
    assert resolves("judicial.service.stricter")
    assert not resolves("journey._record_advised")
    assert not resolves("constitution.driver")


def test_every_import_contract_is_stated_by_name_and_every_stated_one_exists() -> None:
    stated = stated_contracts(DOC)
    assert sorted(stated) == sorted(c["name"] for c in CONTRACTS)


def test_the_layers_are_the_contracts_layers() -> None:
    outer = contract(LAYERS)
    assert stated_layers(DOC, outer["name"]) == [short(layer) for layer in outer["layers"]]
    inner = contract(INSIDE)
    # The chain names the orchestration and the branches; the shared layer is listed after,
    # then the chain goes on with the layers below it.
    at = next(i for i, layer in enumerate(inner["layers"]) if "lifecycle" in layer)
    assert stated_layers(DOC, INSIDE) == inner["layers"][:at]
    shared = set(re.split(r"\s*:\s*", inner["layers"][at]))
    body = section(DOC, "Import rules")
    listed = re.search(r"the\s+shared modules \(([^)]*)\)[^→.]*(→\s*`[^`]+`)*", body)
    assert listed is not None
    assert set(re.findall(r"`(\w+)`", listed.group(1))) <= shared
    below = re.findall(r"→\s*`([^`]+)`", listed.group(0))
    assert below == inner["layers"][at + 1 :]


def test_a_layer_out_of_order_is_caught() -> None:
    page = '## Import rules\n- "Layers": `cli | api` → `worker` → `runtime` → `domain`. Nothing.\n'
    assert stated_layers(page, "Layers") == ["cli | api", "worker", "runtime", "domain"]
    assert stated_layers(page, "Layers") != [short(layer) for layer in contract(LAYERS)["layers"]]


def test_the_banned_apis_named_are_banned() -> None:
    banned = PYPROJECT["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]
    bullet = next(line for line in DOC.splitlines() if "ruff bans" in line)
    at = DOC.index(bullet)
    named = re.findall(r"`([\w.]+)`", DOC[at : DOC.index("\n- ", at)])
    assert "time.time" in named
    assert [name for name in named if not any(key.endswith(name) for key in banned)] == []


def test_the_plugin_surface_is_the_one_exported() -> None:
    line = next(line for line in diagram(DOC).splitlines() if "plugins.py" in line)
    listed = re.search(r"\(([^)]*)\)", line)
    assert listed is not None
    assert sorted(re.split(r",\s*", listed.group(1))) == sorted(triadops.plugins.__all__)


@pytest.mark.parametrize(
    "title",
    [
        "How to add a feature (the template)",
        "How to add an event kind",
        "How to add an action",
        "How to add a check",
        "How to add an endpoint",
    ],
)
def test_the_how_to_sections_are_there(title: str) -> None:
    assert section(DOC, title).strip()
