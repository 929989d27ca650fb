"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, and their check.

The body carries the delivery's ``id``: receivers deduplicate on it, as it is signed; the
headers (``X-Triad-Delivery`` among them) are not.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_TOLERANCE_S = 300.0
"""How far a signed timestamp may be from the receiver's clock before it is a replay."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return ``sha256=<hex>``: HMAC-SHA256 with `secret` over ``f"{timestamp}."`` + `body`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """True when `signature` signs `body` at `timestamp`, within `tolerance_s` of `now`.

    For receivers: reject a false result. The timestamp is part of what is signed, so an
    old request replayed later, or with its timestamp changed, fails. `now` is in Unix
    seconds; the comparison takes the same time whatever the signature is. Never raises:
    any header, however malformed, gives True or False. Deduplicate on the signed body's
    ``id``, never on a header (headers are not signed).
    """
    # Only ASCII digits: int() also reads "١٢٣", " 12 " and "1_2", and compare_digest
    # raises on a non-ASCII string; a header a client made up is just a wrong one.
    if not (timestamp.isascii() and timestamp.isdigit()) or not signature.isascii():
        return False
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode())
