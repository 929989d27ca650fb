"""Every ``console`` block of the README runs as written, against a fresh home and database.

Each ``$ triad …`` line runs in-process (``$ curl -s :8000/…`` against a real ``triad serve``
on the same database), and each output line the README shows must be printed, once ids,
times and numbers are normalised; lines the README elides (``…``, ``...``, tables) are
compared up to the elision or not at all. An ``(exit N)`` after an output line is the exit
code; an ``error:`` line means a refusal; anything else must succeed.

An HTML comment on the line before a block changes how it runs, with its reason:
``<!-- readme-test: skip: why -->`` (it cannot run here), ``<!-- readme-test: varies: why -->``
(its output depends on this machine: only the commands' success is checked), and
``<!-- readme-test: setup=NAME -->`` (a `SETUPS` entry prepares the data its ids name, or
the processes it talks to: ``deploy-served`` is the deploy walkthrough's clone and server).

``$ export NAME=VALUE`` sets a variable for the block's later commands and ``NAME=VALUE triad
…`` for one command, as a shell would; ``curl`` of a service other than triad's ``:8000``
must print what the README shows.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import Server, Triad, data
from tests.cli.test_alerts import raise_alerts
from tests.fixtures.walkthrough import APP_PORT, TOKENS, Clone, deploy_files

README = Path(__file__).parents[2] / "README.md"
ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
FENCE = re.compile(r"^(?P<indent> *)```console\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
MARK = re.compile(
    r"<!-- readme-test: (?P<how>[a-z]+)(?:=(?P<name>[a-z-]+))?(?::? ?(?P<why>.*?))? -->"
)
OP_ID = re.compile(r"\bop-[0-9a-f]{12}\b")
EXIT = re.compile(r"\s+\(exit (\d+)\)$")
TABLE = set("│┃┏┓┗┛┡┩┳┻╇━─┼┬┴└┘┌┐")
ELIDED = ("…", "...")


@dataclass
class Command:
    argv: list[str]
    shown: list[str] = field(default_factory=list)
    exit_code: int | None = None


@dataclass
class Block:
    line: int
    how: str
    name: str | None
    why: str
    commands: list[Command]


def parse(body: str) -> list[Command]:
    """Split a block into commands and the output lines the README shows after each."""
    commands: list[Command] = []
    for raw in body.replace("\\\n", " ").splitlines():
        if raw.startswith("$ "):
            commands.append(Command(shlex.split(raw[2:], comments=True)))
        elif commands:
            line = raw.rstrip()
            if found := EXIT.search(line):
                commands[-1].exit_code = int(found.group(1))
                line = line[: found.start()]
            commands[-1].shown.append(line)
    return commands


def blocks() -> list[Block]:
    text = README.read_text()
    out = []
    for fence in FENCE.finditer(text):
        before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        body = "\n".join(line[len(fence["indent"]) :] for line in fence["body"].splitlines())
        out.append(
            Block(
                line=text.count("\n", 0, fence.start()) + 1,
                how=mark["how"] if mark else "run",
                name=mark["name"] if mark else None,
                why=(mark["why"] or "") if mark else "",
                commands=parse(body),
            )
        )
    return out


def normal(line: str) -> str:
    """Ids, times and numbers (bare or with a unit) as placeholders, whitespace collapsed."""
    line = OP_ID.sub("op-ID", line)
    line = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(?:[+-]\d\d:\d\d|Z)?", "TIME", line)
    line = re.sub(r"\b[\w.-]+@local\b", "USER@local", line)
    line = re.sub(r"\b\d+(?:\.\d+)?(?=(?:s|ms|x)?\b)", "N", line)  # 2.01s is Ns
    return " ".join(line.split())


def comparable(shown: str) -> str | None:
    """What of a shown line must be printed: all of it, its part before an elision, or none."""
    if not shown.strip() or TABLE & set(shown):
        return None
    cut = min((shown.index(e) for e in ELIDED if e in shown), default=len(shown))
    if cut < len(shown) and cut > 0 and not shown[cut - 1].isspace():
        cut = shown.rfind(" ", 0, cut) + 1  # an elided word (`5c0e…`) is not compared
    kept = normal(shown[:cut])
    return kept if len(kept) >= 3 else None


def shows(printed: str, want: str) -> bool:
    """True when `printed` starts with `want`, or, for a row the README abbreviates (a table's
    row without its cells' borders and some of its columns), holds its words in order."""
    if printed.startswith(want):
        return True
    words = want.split()
    if len(words) < 3:
        return False
    cells = iter(printed.split())
    return all(word in cells for word in words)


@dataclass
class Prepared:
    """What a setup made: values for whole arguments, and text to rewrite inside arguments."""

    lazy: dict[str, Callable[[], str]] = field(default_factory=dict)
    rewrite: dict[str, str] = field(default_factory=dict)


def alerts_setup(triad: Triad, request: pytest.FixtureRequest) -> Prepared:
    """Raise twelve alerts; README's ``12`` is the last, ``<id>`` the newest silence."""
    raise_alerts(*({"labels": {"alertname": f"Readme{i}", "host": "db1"}} for i in range(12)))
    newest = max(a["id"] for a in data(triad("alerts", "list", "--json")))
    return Prepared(
        lazy={
            "12": lambda: str(newest),
            "<id>": lambda: str(max(s["id"] for s in data(triad("silences", "list", "--json")))),
        }
    )


def procedure_setup(triad: Triad, request: pytest.FixtureRequest) -> Prepared:
    """Write the README's example procedure where the README says to drop it."""
    text = README.read_text()
    start = text.index("## Procedures as files")
    body = text[text.index("```toml\n", start) + len("```toml\n") : text.index("```\n", start + 1)]
    folder = Path(os.environ["TRIAD_HOME"]) / "procedures"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "drill.toml").write_text(body)
    return Prepared()


def deploy_setup(triad: Triad, request: pytest.FixtureRequest) -> Prepared:
    """Write the deploy walkthrough's triad.toml and procedure file where the README puts them."""
    config, procedure = deploy_files()
    Path(os.environ["TRIAD_CONFIG"]).write_text(config)
    folder = Path(os.environ["TRIAD_HOME"]) / "procedures"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deploy-app.toml").write_text(procedure)
    return Prepared()


def deploy_served_setup(triad: Triad, request: pytest.FixtureRequest) -> Prepared:
    """Prepare the walkthrough's clone and start its server; its addresses and tokens stand in."""
    clone: Clone = request.getfixturevalue("deploy_clone")
    rewrite = {shown: clone.tokens[who] for who, shown in TOKENS.items()}
    rewrite["http://127.0.0.1:8000"] = clone.url
    rewrite[f"127.0.0.1:{APP_PORT}"] = f"127.0.0.1:{clone.app_port}"
    return Prepared(rewrite=rewrite)


SETUPS: dict[str, Callable[[Triad, pytest.FixtureRequest], Prepared]] = {
    "alerts": alerts_setup,
    "procedure": procedure_setup,
    "deploy": deploy_setup,
    "deploy-served": deploy_served_setup,
}
BLOCKS = blocks()


def test_the_readme_has_its_blocks_and_each_skip_says_why() -> None:
    assert len(BLOCKS) >= 5
    assert all(b.commands for b in BLOCKS)
    assert all(b.why.strip() for b in BLOCKS if b.how in ("skip", "varies"))
    assert all(b.name in SETUPS for b in BLOCKS if b.how == "setup")


def runnable() -> list[object]:
    return [
        pytest.param(b, id=f"line{b.line}", marks=pytest.mark.skip(reason=b.why))
        if b.how == "skip"
        else pytest.param(b, id=f"line{b.line}")
        for b in BLOCKS
    ]


@dataclass
class Shell:
    """What one block's commands share, as one terminal would."""

    triad: Triad
    monkeypatch: pytest.MonkeyPatch
    prepared: Prepared
    url: str | None
    ids: dict[str, str] = field(default_factory=dict)

    def argument(self, text: str) -> str:
        """Return `text` with the setup's values and this run's ids for the README's."""
        if text in self.prepared.lazy:
            return self.prepared.lazy[text]()
        text = OP_ID.sub(lambda m: self.ids.get(m[0], m[0]), text)
        for shown, real in self.prepared.rewrite.items():
            text = text.replace(shown, real)
        return text


@pytest.mark.slow
@pytest.mark.parametrize("block", runnable())
def test_readme_block_runs_as_written(
    block: Block,
    triad: Triad,
    cli_env: dict[str, str],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepared = (
        SETUPS[block.name](triad, request) if block.how == "setup" and block.name else Prepared()
    )
    url = None
    if any(a.startswith(":8000") for c in block.commands for a in c.argv[:1] + c.argv[1:]):
        server: Server = request.getfixturevalue("server")
        url = server.url
    shell = Shell(triad, monkeypatch, prepared, url)
    for command in block.commands:
        run(block, command, shell)


def curl(block: Block, command: Command, argv: list[str], shell: Shell) -> None:
    """GET what a README ``curl`` names; another service's answer must be what is shown."""
    target = next(a for a in argv[1:] if not a.startswith("-"))
    if target.startswith(":8000"):
        assert shell.url is not None
        answer = httpx.get(shell.url + target.removeprefix(":8000"), timeout=30)
        allowed = (200, 503) if block.how == "varies" else (200,)
        assert answer.status_code in allowed, f"{' '.join(argv)}: {answer.status_code}"
        return
    answer = httpx.get(target if "://" in target else f"http://{target}", timeout=30)
    said = f"`{' '.join(argv)}` answered {answer.status_code}:\n{answer.text}"
    assert answer.status_code == 200, said
    printed = [normal(line) for line in answer.text.splitlines()]
    for shown in command.shown:
        want = comparable(shown)
        if want is not None:
            assert any(shows(line, want) for line in printed), f"missing {want!r}; {said}"


def run(block: Block, command: Command, shell: Shell) -> None:
    argv = [shell.argument(a) for a in command.argv]
    if argv[0] == "export":
        for assignment in argv[1:]:
            name, _, value = assignment.partition("=")
            shell.monkeypatch.setenv(name, value)
        return
    assigned = {}
    while argv and ASSIGN.match(argv[0]):
        name, _, value = argv.pop(0).partition("=")
        assigned[name] = value
    if argv[0] == "curl":
        curl(block, command, argv, shell)
        return
    assert argv[0] == "triad", argv
    with shell.monkeypatch.context() as only_this_command:
        for name, value in assigned.items():
            only_this_command.setenv(name, value)
        result = shell.triad(*argv[1:])
    said = f"`{' '.join(argv)}` printed:\n{result.output}"
    assert "Traceback" not in result.output, said
    # Table borders as spaces: a row reads as its cells' words.
    printed = [
        normal("".join(" " if c in TABLE else c for c in line))
        for line in result.output.splitlines()
    ]
    # The README's ids stand for those this run made, in the order they first appear.
    readme_ids = dict.fromkeys(OP_ID.findall("\n".join(command.shown)))
    for readme_id, real in zip(
        readme_ids, dict.fromkeys(OP_ID.findall(result.output)), strict=False
    ):
        shell.ids.setdefault(readme_id, real)
    if block.how == "varies":
        assert result.exit_code in (0, 1), said
        return
    refused = any(line.startswith("error:") for line in command.shown)
    if command.exit_code is not None:
        assert result.exit_code == command.exit_code, said
    elif refused:
        assert result.exit_code != 0, said
    else:
        assert result.exit_code == 0, said
    for shown in command.shown:
        want = comparable(shown)
        if want is not None:
            assert any(shows(line, want) for line in printed), f"missing {want!r}; {said}"
