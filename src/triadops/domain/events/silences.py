"""The ledger events of silences, by hand and around a change."""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

from triadops.domain.events.base import LedgerEvent


class SilenceCreated(LedgerEvent):
    """Someone silenced what the matchers select until `ends_at`."""

    kind: Literal["silence_created"] = "silence_created"
    silence: str
    matchers: list[JsonValue]
    ends_at: str
    comment: str


class SilenceExpired(LedgerEvent):
    """A silence was expired: by hand, or as its end passed."""

    kind: Literal["silence_expired"] = "silence_expired"
    silence: str
    reason: str


class ChangeSilenceOpened(LedgerEvent):
    """A change started: its systems' alerts are silenced while it runs."""

    kind: Literal["change_silence_opened"] = "change_silence_opened"
    silence: str
    systems: list[JsonValue]
    matchers: list[JsonValue]
    opened_by: str


class ChangeSilenceEnded(LedgerEvent):
    """A change ended: its silence ends after the tail."""

    kind: Literal["change_silence_ended"] = "change_silence_ended"
    silence: str
    status: str | None
