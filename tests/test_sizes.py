"""`tools/sizes.py`, run as `make lint` runs it, on a small tree of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "sizes.py"


def run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), "--reasons", str(root / "sizes.toml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def write_tree(root: Path, *, body_lines: int, module_lines: int = 0) -> None:
    package = root / "src" / "pkg"
    package.mkdir(parents=True)
    body = "".join(f"    x{i} = {i}\n" for i in range(body_lines))
    method = "".join(f"        y{i} = {i}\n" for i in range(body_lines))
    padding = "".join(f"C{i} = {i}\n" for i in range(module_lines))
    (package / "mod.py").write_text(
        f"def long_one():\n{body}\n\nclass Box:\n    def inner(self):\n{method}\n{padding}"
    )


def test_a_long_function_without_a_reason_fails(tmp_path: Path) -> None:
    write_tree(tmp_path, body_lines=60)
    done = run(tmp_path)
    assert done.returncode == 1
    assert "src/pkg/mod.py:long_one: 61 lines (over 60) and no reason" in done.stderr
    assert "src/pkg/mod.py:Box.inner: 61 lines (over 60) and no reason" in done.stderr
    assert "src/pkg/mod.py  " not in done.stdout  # 128 lines: no module exception


def test_a_function_at_the_limit_passes(tmp_path: Path) -> None:
    write_tree(tmp_path, body_lines=59)
    done = run(tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_written_reason_lets_it_pass_and_is_listed(tmp_path: Path) -> None:
    write_tree(tmp_path, body_lines=60, module_lines=300)
    (tmp_path / "sizes.toml").write_text(
        '[modules]\n"src/pkg/mod.py" = "a generated table"\n'
        '[functions]\n"src/pkg/mod.py:long_one" = "a flat list"\n'
        '"src/pkg/mod.py:Box.inner" = "the same"\n'
    )
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "  61  src/pkg/mod.py:long_one  (a flat list)" in done.stdout
    assert "src/pkg/mod.py  (a generated table)" in done.stdout


def test_an_empty_reason_fails(tmp_path: Path) -> None:
    write_tree(tmp_path, body_lines=60)
    (tmp_path / "sizes.toml").write_text(
        '[functions]\n"src/pkg/mod.py:long_one" = "  "\n"src/pkg/mod.py:Box.inner" = "ok"\n'
    )
    done = run(tmp_path)
    assert done.returncode == 1
    assert "src/pkg/mod.py:long_one: 61 lines (over 60) and no reason" in done.stderr
    assert "Box.inner" not in done.stderr


def test_a_stale_entry_fails(tmp_path: Path) -> None:
    write_tree(tmp_path, body_lines=10)
    (tmp_path / "sizes.toml").write_text('[functions]\n"src/pkg/mod.py:long_one" = "was long"\n')
    done = run(tmp_path)
    assert done.returncode == 1
    assert "src/pkg/mod.py:long_one: listed with a reason but no longer over its limit" in (
        done.stderr
    )
