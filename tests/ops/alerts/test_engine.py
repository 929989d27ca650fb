"""The alert engine in memory: fingerprints, dedup, silences, routing, resolution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from triadops.domain.alerts import (
    SILENCERS,
    AlertIn,
    AlertState,
    Matcher,
    MatchOp,
    Severity,
    fingerprint,
    severities_matched,
    silencers_for,
)
from triadops.domain.enums import Authority
from triadops.ops.alerts.engine import (
    MAX_GROUP_KEY,
    AlertBook,
    ChangeKind,
    SilenceSet,
    SilenceSpec,
    bounded_group_key,
    compile_silences,
    route,
)
from triadops.ops.alerts.policy import Poster

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROUTES = {
    Authority.LEGISLATIVE: ["parliament"],
    Authority.EXECUTIVE: ["ops", "parliament"],
    Authority.JUDICIAL: ["court"],
    Authority.CROWN: ["palace", "ops"],
}


def alert(name: str = "DiskFull", **fields: Any) -> AlertIn:
    labels = {"alertname": name, **fields.pop("labels", {})}
    return AlertIn(labels=labels, **fields)


def book(*silences: SilenceSpec) -> AlertBook:
    return AlertBook(group_by=["alertname"], routes=ROUTES, silences=SilenceSet(silences))


def silence(*matchers: str, sid: str = "s1", hours: float = 1) -> SilenceSpec:
    parsed = tuple(Matcher.parse(m) for m in matchers)
    return SilenceSpec(id=sid, ends_at=NOW + timedelta(hours=hours), matchers=parsed)


def test_a_fingerprint_ignores_label_order_but_not_names_or_values() -> None:
    one = fingerprint({"alertname": "A", "host": "x", "disk": "/"})
    assert one == fingerprint({"disk": "/", "host": "x", "alertname": "A"})
    assert one != fingerprint({"alertname": "A", "host": "y", "disk": "/"})
    assert one != fingerprint({"alertname": "A", "hostx": "", "disk": "/"})
    # The separator keeps "ab"+"c" apart from "a"+"bc".
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})
    assert len(one) == 32


def test_repeats_within_a_batch_raise_the_count_of_one_alert() -> None:
    b = book()
    changes = b.apply([alert(), alert(), alert(labels={"host": "b"}), alert()], NOW)
    assert [c.kind for c in changes] == [
        ChangeKind.FIRED,
        ChangeKind.REPEATED,
        ChangeKind.FIRED,
        ChangeKind.REPEATED,
    ]
    first = changes[0].alert
    assert first is not None and first is changes[1].alert is changes[3].alert
    assert first.count == 3
    assert len(b.active) == 2


def test_repeats_across_batches_raise_count_and_last_seen() -> None:
    b = book()
    [fired] = b.apply([alert(starts_at=NOW - timedelta(minutes=5))], NOW)
    later = NOW + timedelta(minutes=1)
    [again] = b.apply([alert(annotations={"summary": "still full"})], later)
    assert again.kind is ChangeKind.REPEATED and again.alert is fired.alert
    tracked = again.alert
    assert tracked is not None
    assert (tracked.count, tracked.last_seen) == (2, later)
    assert tracked.starts_at == NOW - timedelta(minutes=5), "a repeat keeps its start"
    assert tracked.annotations == {"summary": "still full"}


def test_resolved_status_resolves_and_the_same_labels_then_open_a_new_alert() -> None:
    b = book()
    [fired] = b.apply([alert()], NOW)
    [resolved] = b.apply([alert(status="resolved")], NOW + timedelta(minutes=1))
    assert resolved.kind is ChangeKind.RESOLVED and resolved.alert is fired.alert
    assert (resolved.previous, resolved.state) == (AlertState.FIRING, AlertState.RESOLVED)
    assert resolved.alert is not None and resolved.alert.resolved_at == NOW + timedelta(minutes=1)
    assert b.active == {}
    [again] = b.apply([alert()], NOW + timedelta(minutes=2))
    assert again.kind is ChangeKind.FIRED and again.alert is not fired.alert


def test_a_resolution_of_an_unknown_alert_is_ignored() -> None:
    assert [c.kind for c in book().apply([alert(status="resolved")], NOW)] == [ChangeKind.IGNORED]


def test_an_ends_at_already_past_resolves_and_its_time_is_kept() -> None:
    b = book()
    b.apply([alert()], NOW)
    ended = NOW - timedelta(seconds=30)
    [change] = b.apply([alert(ends_at=ended)], NOW)
    assert change.kind is ChangeKind.RESOLVED
    assert change.alert is not None and change.alert.resolved_at == ended


def test_a_naive_time_reads_as_utc() -> None:
    [change] = book().apply([alert(starts_at=datetime(2026, 3, 1, 11, 0))], NOW)
    assert change.alert is not None
    assert change.alert.starts_at == datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("matcher", "labels", "muted"),
    [
        ("host=db1", {"host": "db1"}, True),
        ("host=db1", {"host": "db10"}, False),
        ("host!=db1", {"host": "db2"}, True),
        ("host!=db1", {"host": "db1"}, False),
        ("host!=db1", {}, True),  # a missing label reads as empty
        ("host=", {}, True),
        ("host=~db[0-9]", {"host": "db7"}, True),
        ("host=~db[0-9]", {"host": "db77"}, False),  # anchored at the end
        ("host=~db[0-9]", {"host": "xdb7"}, False),  # and at the start
        ("host=~db.*|web", {"host": "web"}, True),  # alternation inside the anchors
        ("host=~db.*|web", {"host": "webx"}, False),
        ("host!~db.*", {"host": "web1"}, True),
        ("host!~db.*", {"host": "db1"}, False),
        ("host!~db.*", {}, True),
        ("host=~.+", {}, False),
    ],
)
def test_each_matcher_operator(matcher: str, labels: dict[str, str], muted: bool) -> None:
    b = book(silence(matcher))
    [change] = b.apply([alert(labels=labels)], NOW)
    assert change.state is (AlertState.SILENCED if muted else AlertState.FIRING)
    assert change.silence_id == ("s1" if muted else None)
    assert Matcher.parse(matcher).matches({"alertname": "DiskFull", **labels}) is muted


def test_every_matcher_of_a_silence_must_hold() -> None:
    b = book(silence("host=db1", "severity=~warning|info"))
    muted, loud = b.apply(
        [
            alert(labels={"host": "db1", "severity": "info"}),
            alert(labels={"host": "db1", "severity": "critical"}),
        ],
        NOW,
    )
    assert (muted.state, loud.state) == (AlertState.SILENCED, AlertState.FIRING)


@pytest.mark.parametrize(
    ("short", "long"),
    [("host=db1", "host=~db.*"), ("host=~db.*", "host=db1"), ("job=node", "host=db1")],
    ids=["scanned-lasts", "filed-lasts", "both-filed"],
)
def test_the_silence_ending_last_is_the_one_named(short: str, long: str) -> None:
    b = book(silence(short, sid="short", hours=1), silence(long, sid="long", hours=5))
    [change] = b.apply([alert(labels={"host": "db1", "job": "node"})], NOW)
    assert change.silence_id == "long"
    [later] = b.apply([alert("Other", labels={"host": "db1", "job": "node"})], NOW)
    assert later.silence_id == "long"
    # Once the longer one has ended, the other still counts only while it lasts.
    ended = book(silence(short, sid="short", hours=3), silence(long, sid="long", hours=1))
    [change] = ended.apply([alert(labels={"host": "db1", "job": "node"})], NOW + timedelta(hours=2))
    assert change.silence_id == "short"


def test_a_repeat_is_muted_by_a_new_silence_and_released_when_it_ends() -> None:
    b = book()
    [fired] = b.apply([alert(labels={"host": "db1"})], NOW)
    b.silences = SilenceSet([silence("host=db1")])
    [muted] = b.apply([alert(labels={"host": "db1"})], NOW)
    assert (muted.kind, muted.silence_id) == (ChangeKind.SILENCED, "s1")
    [still] = b.apply([alert(labels={"host": "db1"})], NOW + timedelta(minutes=30))
    assert still.kind is ChangeKind.REPEATED and still.state is AlertState.SILENCED
    # The silence's end passes (nothing expired it yet): the next repeat sounds again.
    [released] = b.apply([alert(labels={"host": "db1"})], NOW + timedelta(hours=2))
    assert (released.kind, released.state, released.silence_id) == (
        ChangeKind.UNSILENCED,
        AlertState.FIRING,
        None,
    )
    assert released.alert is fired.alert


@pytest.mark.parametrize(
    ("severity", "authorities", "channels"),
    [
        (Severity.INFO, ("legislative",), ("parliament",)),
        (Severity.WARNING, ("legislative", "executive"), ("parliament", "ops")),
        (
            Severity.CRITICAL,
            ("legislative", "executive", "judicial"),
            ("parliament", "ops", "court"),
        ),
        (
            Severity.EMERGENCY,
            ("legislative", "executive", "judicial", "crown"),
            ("parliament", "ops", "court", "palace"),
        ),
    ],
)
def test_routing_follows_severity_up_the_branches(
    severity: Severity, authorities: tuple[str, ...], channels: tuple[str, ...]
) -> None:
    assert route(severity, ROUTES) == (tuple(Authority(a) for a in authorities), channels)
    [change] = book().apply([alert(severity=severity)], NOW)
    assert change.alert is not None
    assert (change.alert.authorities, change.alert.channels) == route(severity, ROUTES)


def test_severity_comes_from_the_field_then_the_label_then_warning() -> None:
    field, label, unknown, none = book().apply(
        [
            alert("A", severity="critical", labels={"severity": "info"}),
            alert("B", labels={"severity": "emergency"}),
            alert("C", labels={"severity": "page"}),
            alert("D"),
        ],
        NOW,
    )
    severities = [c.alert.severity for c in (field, label, unknown, none) if c.alert]
    assert severities == [Severity.CRITICAL, Severity.EMERGENCY, Severity.WARNING, Severity.WARNING]


def test_group_keys_fit_their_column_and_stay_distinct() -> None:
    long_a = {"alertname": "A", "team": "x" * 600 + "a"}
    long_b = {"alertname": "A", "team": "x" * 600 + "b"}
    key_a = bounded_group_key(long_a, ["alertname", "team"])
    key_b = bounded_group_key(long_b, ["alertname", "team"])
    assert len(key_a) == len(key_b) == MAX_GROUP_KEY
    assert key_a != key_b
    assert bounded_group_key({"alertname": "A"}, ["alertname"]) == "{alertname='A'}"


def test_the_same_silences_are_compiled_once() -> None:
    specs = (silence("host=db1"), silence("host=~db.*", sid="s2"))
    assert compile_silences(specs) is compile_silences(tuple(specs))
    assert len(compile_silences(specs)) == 2


def test_a_backtracking_regex_matches_a_huge_label_in_linear_time() -> None:
    # `(a+)+b` against a's ending in "!" takes Python's engine exponential time; RE2 is
    # linear, so these return (and return the right answer) on a 100,000-character label.
    evil = Matcher.parse('host=~"(a+)+b"')
    huge = "a" * 100_000 + "!"
    assert evil.matches({"host": huge}) is False
    assert evil.matches({"host": "a" * 100_000 + "b"}) is True
    silences = SilenceSet([silence("alertname=DiskFull", 'host=~"(a+)+b"')])
    assert silences.match({"alertname": "DiskFull", "host": huge}, NOW) is None
    assert silences.match({"alertname": "DiskFull", "host": "aab"}, NOW) == "s1"
    assert Matcher.parse('host!~"(a+)+b"').matches({"host": huge}) is True


@pytest.mark.parametrize(
    "value", ["(" * 500 + ")" * 500, "(?=a)b", r"(a)\1", "(?<!a)b", "a{1001}", "db[("]
)
def test_a_regex_re2_refuses_or_too_deep_is_a_validation_error(value: str) -> None:
    with pytest.raises(ValueError, match=r"nests groups|RE2"):
        Matcher(name="host", op=MatchOp.REGEX, value=value)
    # A parenthesis inside a class or escaped is no group.
    Matcher(name="host", op=MatchOp.REGEX, value="[(]" * 60 + r"\(" * 60)


def test_a_silence_sees_the_severity_the_alert_escalates_with() -> None:
    b = book(silence("alertname=Meltdown", "severity=info"), silence("severity=warning", sid="w"))
    loud, quiet = b.apply(
        [
            alert("Meltdown", severity="emergency", labels={"severity": "info"}),
            alert("Health"),  # no severity label: a warning
        ],
        NOW,
    )
    assert (loud.state, loud.silence_id) == (AlertState.FIRING, None)
    assert (quiet.state, quiet.silence_id) == (AlertState.SILENCED, "w")


def test_severities_a_silence_can_match_decide_who_may_add_it() -> None:
    def needs(*matchers: str) -> tuple[Authority, ...]:
        return silencers_for([Matcher.parse(m) for m in matchers])

    crown, legislature = (Authority.CROWN,), (Authority.LEGISLATIVE, Authority.CROWN)
    assert needs("alertname=Disk") == crown
    assert needs("severity=~.*", "host=a") == crown
    assert needs("severity!=critical", "host=a") == crown
    assert needs('severity!="emergency"', "host=a") == legislature
    assert needs('severity=~"critical"', "host=a") == legislature
    assert needs('severity=~"info|warning"') == SILENCERS
    assert needs("severity=info", 'severity!~"w.*"') == SILENCERS
    assert severities_matched([Matcher.parse('severity!~"crit.*"')]) == [
        Severity.INFO,
        Severity.WARNING,
        Severity.EMERGENCY,
    ]


def test_only_the_source_resolves_or_rewrites_by_posting() -> None:
    eve = AlertBook(group_by=["alertname"], routes=ROUTES, poster=Poster("eve"))
    eve.apply([alert(annotations={"summary": "full"}), alert("Fire", severity="emergency")], NOW)
    judge = AlertBook(
        group_by=["alertname"], routes=ROUTES, known=eve.active.values(), poster=Poster("judge")
    )
    later = NOW + timedelta(minutes=1)
    changes = judge.apply(
        [
            alert(annotations={"summary": "ignore me"}, ends_at=later + timedelta(hours=1)),
            alert(status="resolved"),
            alert("Fire", status="resolved"),
        ],
        later,
    )
    assert [c.kind for c in changes] == [
        ChangeKind.REPEATED,
        ChangeKind.REFUSED,
        ChangeKind.REFUSED,
    ]
    disk = judge.active[alert().fingerprint]
    assert (disk.annotations, disk.ends_at, disk.count, changes[0].annotated) == (
        {"summary": "full"},
        None,
        2,
        False,
    )
    assert judge.refusals == [
        "judge did not raise DiskFull: only its source (eve) may resolve it by posting",
        "judge did not raise Fire: only its source (eve) may resolve it by posting",
    ]

    again = AlertBook(
        group_by=["alertname"],
        routes=ROUTES,
        known=judge.active.values(),
        poster=Poster("eve", crown=False),
    )
    kinds = [
        c.kind
        for c in again.apply([alert(status="resolved"), alert("Fire", status="resolved")], later)
    ]
    assert kinds == [ChangeKind.RESOLVED, ChangeKind.REFUSED]
    assert again.refusals == ["Fire is an emergency: only the crown may resolve it"]
    crowned = AlertBook(
        group_by=["alertname"],
        routes=ROUTES,
        known=again.active.values(),
        poster=Poster("eve", crown=True),
    )
    assert [c.kind for c in crowned.apply([alert("Fire", status="resolved")], later)] == [
        ChangeKind.RESOLVED
    ]
