"""Analyse the logs of a time range: ``triad logs analyze`` and ``GET /logs/analysis``.

The range ``[since, until)`` is compared with the range of the same length just before it:
both are read in one pass (`tally.Tally`), and the figures (counts, templates, trend,
bursts) and their insights are built here. Reading is blocking file work: callers on the
event loop run `analyze` in a thread (`analyze_in_thread`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from triadops.domain.clock import utcnow
from triadops.domain.errors import InvalidRequest, NotFound
from triadops.domain.log_figures import LONGEST, bursts, change, jumped
from triadops.domain.log_lines import LEVELS, key_time, second_key
from triadops.logconfig import redact
from triadops.ops.logs.insights import insights
from triadops.ops.logs.models import ErrorBurst, ErrorTemplate, LevelCount, LogAnalysis, Trend
from triadops.ops.logs.reader import Source, files, sources
from triadops.ops.logs.tally import Caps, Tally
from triadops.settings import Settings

BURSTS = 20
"""Bursts listed at most (the strongest)."""


def chosen(settings: Settings, name: str | None) -> list[Source]:
    """The sources to read: the one named, or all. NotFound lists the names there are."""
    known = sources(settings)
    if name is None:
        return list(known.values())
    if name not in known:
        raise NotFound(
            f"source: no log source {name!r} (known: {', '.join(sorted(known))}; a "
            "service's source is its folder in log_dirs, by name)",
            field="source",
        )
    return [known[name]]


def analyze(
    settings: Settings,
    since: datetime,
    until: datetime | None = None,
    source: str | None = None,
    *,
    selected: list[Source] | None = None,
) -> LogAnalysis:
    """Analyse ``[since, until)`` (until: now) of one source or all, against the range before.

    Raises InvalidRequest when the range is empty or reversed, NotFound for an unknown source.
    """
    end = until or utcnow()
    if since >= end:
        raise InvalidRequest(
            f"since: {since.isoformat()} is not before until ({end.isoformat()})", field="since"
        )
    if end - since > LONGEST:
        raise InvalidRequest(
            f"since: the range from {since.isoformat()} to {end.isoformat()} is longer than "
            f"{LONGEST.days} days",
            field="since",
        )
    previous_since = since - (end - since)
    options = settings.logs.analysis
    tally = Tally(
        previous_since=second_key(previous_since),
        since=second_key(since),
        # Times are compared to the second: the second `end` falls in is read whole.
        until=second_key(end + timedelta(seconds=1)),
        caps=Caps(options.max_bytes, options.max_lines, options.templates, options.example_chars),
        year=end.year,
    )
    read = selected if selected is not None else chosen(settings, source)
    for one in read:
        tally.read(one, files(one, previous_since.timestamp()))
    return _figures(settings, tally, since, end, previous_since, [s.name for s in read])


def _counts(tally: Tally) -> list[LevelCount]:
    """Lines by group and level, both windows, the most severe first within a group."""
    order = {level: i for i, level in enumerate(LEVELS)}
    pairs = sorted(
        set(tally.counts) | set(tally.previous_counts),
        key=lambda p: (p[0], -order.get(p[1], 0)),
    )
    found = []
    for pair in pairs:
        count, previous = tally.counts.get(pair, 0), tally.previous_counts.get(pair, 0)
        found.append(
            LevelCount(
                group=pair[0],
                level=pair[1],
                count=count,
                previous=previous,
                change=change(previous, count),
            )
        )
    return found


def _templates(settings: Settings, tally: Tally) -> list[ErrorTemplate]:
    """The templates with their trend, most frequent first."""
    options = settings.logs.analysis
    templates = []
    for cluster, t in tally.templates.items():
        trend: Trend
        if t.count and not t.previous:
            trend = "new"
        elif jumped(
            t.previous, t.count, factor=options.jump_factor, min_count=options.jump_min_count
        ):
            trend = "jumped"
        else:
            trend = "fewer" if t.count < t.previous else "steady"
        templates.append(
            ErrorTemplate(
                template=redact(tally.template_text(cluster)),
                level=t.level,
                groups=sorted(t.groups),
                count=t.count,
                previous=t.previous,
                trend=trend,
                first_seen=key_time(t.first),
                last_seen=key_time(t.last),
                example=t.example,
            )
        )
    templates.sort(key=lambda t: (-t.count, -t.previous, t.template))
    return templates


def _figures(
    settings: Settings,
    tally: Tally,
    since: datetime,
    until: datetime,
    previous_since: datetime,
    names: list[str],
) -> LogAnalysis:
    options = settings.logs.analysis
    templates = _templates(settings, tally)
    median, found = bursts(
        tally.errors_by_minute,
        _minutes(tally.first_minute, until),
        threshold=options.burst_score,
        min_count=options.burst_min_count,
    )
    current = sorted(
        (b for b in found if b.minute >= second_key(since)[:16]), key=lambda b: -b.score
    )
    analysis = LogAnalysis(
        since=since,
        until=until,
        previous_since=previous_since,
        sources=names,
        files_read=tally.files_read,
        bytes_read=tally.bytes_read,
        lines_read=tally.lines_read,
        lines=sum(tally.counts.values()),
        previous_lines=sum(tally.previous_counts.values()),
        untimed=tally.untimed,
        truncated=tally.truncated,
        problems=tally.problems,
        counts=_counts(tally),
        templates=templates[: options.templates],
        templates_dropped=tally.templates_dropped + max(0, len(templates) - options.templates),
        errors_per_minute=median,
        bursts=[
            ErrorBurst(
                minute=key_time(b.minute + ":00"), errors=b.count, usual=b.median, score=b.score
            )
            for b in sorted(current[:BURSTS], key=lambda b: b.minute)
        ],
        insights=[],
    )
    analysis.insights = insights(analysis)
    return analysis


def _minutes(first: str | None, until: datetime) -> list[str]:
    """Every minute key from `first` to the one before `until` (the norm's sample)."""
    if first is None:
        return []
    found = []
    at = key_time(first + ":00")
    while at < until:
        found.append(second_key(at)[:16])
        at += timedelta(minutes=1)
    return found


async def analyze_in_thread(
    settings: Settings, since: datetime, until: datetime | None, source: str | None
) -> LogAnalysis:
    """`analyze` in a worker thread: the event loop never waits on a disk."""
    return await asyncio.to_thread(analyze, settings, since, until, source)
