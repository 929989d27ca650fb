"""Retention's choice: by age, never the newest verified backup, never the newest of all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from triadops.domain.backups import Kept, counts_differ, prunable

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def kept(i: int, *, tested: bool = False) -> Kept:
    at = T0 + timedelta(days=i)
    return Kept(id=f"b{i}", created_at=at, tested_at=at if tested else None)


def test_old_backups_go_but_the_newest_verified_stays() -> None:
    backups = [kept(0), kept(1, tested=True), kept(2), kept(40), kept(41)]
    assert prunable(backups, cutoff=T0 + timedelta(days=30)) == ["b0", "b2"]


def test_the_newest_of_all_stays_even_when_old_and_unverified() -> None:
    assert prunable([kept(0), kept(1)], cutoff=T0 + timedelta(days=30)) == ["b0"]
    assert prunable([], cutoff=T0) == []


def test_only_the_newest_verified_is_kept_not_every_verified() -> None:
    backups = [kept(0, tested=True), kept(1, tested=True), kept(50)]
    assert prunable(backups, cutoff=T0 + timedelta(days=30)) == ["b0"]


def test_counts_differ_names_each_table() -> None:
    assert counts_differ({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 0}) == [
        "b: 2 in the manifest, 3 restored",
        "c: None in the manifest, 0 restored",
    ]
