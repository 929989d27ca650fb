"""The analysis's figures on generated corpora: templates mined back, bursts, the trend."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.ops.logs.corpus import TEMPLATES, line, write
from triadops.domain.errors import InvalidRequest
from triadops.domain.log_figures import bursts, mask, read_since
from triadops.ops.logs.service import analyze
from triadops.settings import Settings

END = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
BRANCHES = ("legislative", "executive", "judicial", "crown", "system")


def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def test_five_known_templates_are_mined_back_with_their_counts(tmp_path: Path) -> None:
    rng = random.Random(7)
    wanted = dict(zip(TEMPLATES, (40, 25, 17, 9, 3), strict=True))
    events = [(template, "error") for template, n in wanted.items() for _ in range(n)]
    events += [(None, "info")] * 500
    rng.shuffle(events)
    step = timedelta(hours=1) / len(events)
    out: dict[str, list[str]] = {}
    for i, (template, level) in enumerate(events):
        at = END - timedelta(hours=1) + i * step
        branch = rng.choice(BRANCHES)
        event = TEMPLATES[template](rng) if template else f"stage ran in {rng.random():.3f}s"
        out.setdefault(branch, []).append(line(at, event, level, branch, operation_id="op-1"))
    for branch, lines in out.items():
        write(tmp_path / "home" / "logs" / f"{branch}.log", lines)

    analysis = analyze(settings(tmp_path), END - timedelta(hours=1), END)
    assert {t.template: t.count for t in analysis.templates} == wanted
    assert [t.count for t in analysis.templates] == sorted(wanted.values(), reverse=True)
    assert all(t.trend == "new" and t.previous == 0 for t in analysis.templates)
    assert sum(c.count for c in analysis.counts) == len(events) == analysis.lines
    errors = {c.group: c.count for c in analysis.counts if c.level == "ERROR"}
    assert sum(errors.values()) == sum(wanted.values()) and set(errors) <= set(BRANCHES)
    top = analysis.templates[0]
    assert top.first_seen <= top.last_seen and "payment" in top.example


def test_an_example_line_has_its_secrets_masked(tmp_path: Path) -> None:
    write(
        tmp_path / "home" / "logs" / "system.log",
        [
            line(
                END - timedelta(minutes=5),
                "login failed",
                "warning",
                "system",
                url="postgresql://app:hunter2secret@db/x",
            )
        ],
    )
    write(
        tmp_path / "home" / "logs" / "system.log",
        [line(END - timedelta(minutes=4), "auth failed: password=opensesame1 rejected", "error")],
    )
    found = analyze(settings(tmp_path), END - timedelta(hours=1), END).templates
    assert len(found) == 2
    assert "hunter2secret" not in found[1].example and "***" in found[1].example
    text = " ".join(t.template + t.example for t in found)
    assert "opensesame" not in text and "password=***" in found[0].template


def _errors_per_minute(tmp_path: Path, counts: list[int], template: str = "disk {} full") -> None:
    lines = []
    start = END - timedelta(minutes=len(counts))
    for minute, n in enumerate(counts):
        for k in range(n):
            at = start + timedelta(minutes=minute, seconds=k * 59 / max(n, 1))
            lines.append(line(at, template.format(k), "error", "system"))
    write(tmp_path / "home" / "logs" / "system.log", lines)


def test_a_burst_stands_out_and_a_steady_stream_does_not(tmp_path: Path) -> None:
    rng = random.Random(3)
    steady = [rng.randint(1, 4) for _ in range(120)]
    _errors_per_minute(tmp_path / "steady", steady)
    calm = analyze(settings(tmp_path / "steady"), END - timedelta(hours=1), END)
    assert calm.bursts == [] and calm.errors_per_minute >= 1

    burst = list(steady)
    burst[100] = 40
    _errors_per_minute(tmp_path / "burst", burst)
    stormy = analyze(settings(tmp_path / "burst"), END - timedelta(hours=1), END)
    (found,) = stormy.bursts
    assert found.errors == 40 and found.minute == END - timedelta(minutes=20)
    assert found.usual == calm.errors_per_minute
    assert any(s.startswith("Error burst at 2026-06-01 11:40 UTC") for s in stormy.insights)


def test_two_errors_in_a_quiet_stream_are_not_a_burst() -> None:
    minutes = [f"2026-06-01T11:{m:02d}" for m in range(60)]
    assert bursts({minutes[30]: 2}, minutes, threshold=6.0, min_count=5) == (0.0, [])
    median, found = bursts({minutes[30]: 9}, minutes, threshold=6.0, min_count=5)
    assert median == 0.0 and [b.count for b in found] == [9]


def test_the_trend_names_new_and_jumped_templates(tmp_path: Path) -> None:
    hour = timedelta(hours=1)
    lines = []
    for i in range(5):  # the hour before: "cache miss" 5 times, "slow query" 10
        lines.append(line(END - 2 * hour + i * timedelta(minutes=7), f"cache miss {i}", "warning"))
    for i in range(10):
        lines.append(line(END - 2 * hour + i * timedelta(minutes=5), f"slow query {i}", "error"))
    for i in range(30):  # this hour: cache misses jump to 30, slow queries steady, one new
        lines.append(line(END - hour + i * timedelta(minutes=1), f"cache miss {i}", "warning"))
    for i in range(10):
        lines.append(line(END - hour + i * timedelta(minutes=5), f"slow query {i}", "error"))
    lines.append(line(END - timedelta(minutes=3), "disk /var/lib/x/y is full", "critical"))
    lines.sort(key=lambda one: one.split('"timestamp":"')[1])
    write(tmp_path / "home" / "logs" / "executive.log", lines)
    analysis = analyze(settings(tmp_path), END - hour, END)
    trends = {t.template: (t.trend, t.previous, t.count) for t in analysis.templates}
    assert trends == {
        "cache miss <NUM>": ("jumped", 5, 30),
        "slow query <NUM>": ("steady", 10, 10),
        "disk <PATH> is full": ("new", 0, 1),
    }
    levels = {c.level: (c.previous, c.count, c.change) for c in analysis.counts}
    assert levels["WARNING"] == (5, 30, "up 500%") and levels["CRITICAL"] == (0, 1, "new")
    said = " ".join(analysis.insights)
    assert (
        'New critical since 2026-06-01 11:57 UTC, seen 1 times in executive: "disk <PATH> is full"'
        in said
    )
    assert 'Jumped from 5 to 30 (up 500%): "cache miss <NUM>"' in said


def test_masking_and_since() -> None:
    assert (
        mask("job 12 of op-0123456789ab at /srv/a/b from 10.0.0.1:80 id 3fa9c1e4b5d6 0xff")
        == "job <NUM> of <OP> at <PATH> from <IP> id <HEX> <HEX>"
    )
    assert mask("took 12ms, 99%, worker-7 host9") == "took <NUM>, <NUM>, worker-<NUM> host9"
    assert read_since("1h30m", END) == END - timedelta(minutes=90)
    assert read_since("2026-06-01T10:00:00+02:00", END) == END - timedelta(hours=4)
    for bad in ("yesterday", "0h", "24x", "", "0001-01-01", "9999-12-31T00:00:00"):
        with pytest.raises(InvalidRequest) as caught:
            read_since(bad, END)
        assert caught.value.field == "since"
