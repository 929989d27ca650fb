"""The one clock: what reads the time reads it from the process's clock, a fake one included."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from triadops.actions.cache import _expired
from triadops.domain import clock
from triadops.domain.clock import FakeClock, using
from triadops.storage import engine

ROOT = Path(__file__).parents[2]
START = datetime(2030, 1, 1, tzinfo=UTC)


def test_a_fake_clock_moves_its_time_and_its_monotonic_reading_together() -> None:
    fake = FakeClock(START)
    before = fake.monotonic()
    fake.advance(90)
    assert fake.monotonic() - before == pytest.approx(90, abs=1e-9)  # float seconds
    assert fake.now() == datetime(2030, 1, 1, 0, 1, 30, tzinfo=UTC)
    with using(fake):
        assert clock.utcnow() == fake.now()
        assert clock.unix_now() == fake.now().timestamp()
        assert clock.monotonic() == fake.monotonic()
        assert clock.current() is fake
    assert clock.current() is not fake


def test_cache_ages_are_read_on_the_process_clock(tmp_path: Path) -> None:
    put = tmp_path / "a.bin"
    put.write_bytes(b"x")
    at = START.timestamp()
    os.utime(put, (at, at))
    fake = FakeClock(START)
    with using(fake):
        assert _expired(tmp_path, 3600) == []
        fake.advance(3601)
        assert [p.name for p, _ in _expired(tmp_path, 3600)] == ["a.bin"]


async def test_the_storage_full_window_runs_on_the_process_clock(tmp_path: Path) -> None:
    db = engine.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'triad.db'}")
    fake = FakeClock(START)
    try:
        with using(fake):
            engine._storage_full[db.sync_engine] = (clock.monotonic(), "disk full")
            assert engine.storage_full(db, within_s=60) == "disk full"
            fake.advance(61)
            assert engine.storage_full(db, within_s=60) is None
    finally:
        await db.dispose()


def test_ruff_bans_reading_the_system_time_outside_the_clock(tmp_path: Path) -> None:
    probe = ROOT / "src" / "triadops" / "_banned_probe.py"
    probe.write_text(
        "import time\nfrom datetime import UTC, datetime\n"
        "from typer._click.core import Context\n\n"
        "print(time.time(), datetime.now(UTC), datetime.utcnow(), Context)\n"
    )
    try:
        found = subprocess.run(
            [
                sys.executable,
                "-m",
                "ruff",
                "check",
                "--select",
                "TID251",
                "--output-format",
                "concise",
                str(probe),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        probe.unlink()
    banned = [line for line in found.stdout.splitlines() if "TID251" in line]
    assert len(banned) == 4, found.stdout
    for name in ("time.time", "datetime.datetime.now", "datetime.datetime.utcnow", "typer._click"):
        assert any(f"`{name}` is banned" in line for line in banned), name
