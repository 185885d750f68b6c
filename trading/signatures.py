"""HMAC-SHA256 request signatures for webhook senders that can sign (TradingView cannot).

The sender puts the Unix time in `X-Tradebot-Timestamp` and
`sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>` in `X-Tradebot-Signature`. A request is
accepted when the signature matches (constant-time) and the timestamp is within five minutes of the
server's clock; the same signature is accepted once (the intake records it in `used_signatures`
until the window has passed), so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from trading.numbers import whole_number

SIGNATURE_HEADER = "X-Tradebot-Signature"
TIMESTAMP_HEADER = "X-Tradebot-Timestamp"
REPLAY_WINDOW = timedelta(minutes=5)
PREFIX = "sha256="


def new_hmac_secret() -> str:
    return secrets.token_urlsafe(32)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return PREFIX + digest.hexdigest()


def signed_headers(secret: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    """The two headers a sender adds (used by `tradebot alert --hmac-secret` and in the docs)."""
    timestamp = str(int((now or datetime.now(UTC)).timestamp()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body)}


@dataclass(frozen=True, slots=True)
class Verified:
    digest: str  # what identifies this signature for the replay check
    expires_at: datetime  # until when a replay of it must be refused


def unix_seconds(text: str) -> int | None:
    """Whole Unix seconds as a sender writes them, or None: ASCII digits only (no sign, space,
    exponent or other script's digits) and at most 12 of them, so the conversion is cheap."""
    return whole_number(text, 0, 10**12 - 1)


def verify(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime
) -> Verified | str:
    """`Verified`, or the reason for a 401 (naming the header)."""
    if not signature:
        return f"signature: {SIGNATURE_HEADER} header missing"
    if not timestamp:
        return f"signature: {TIMESTAMP_HEADER} header missing"
    seconds = unix_seconds(timestamp)
    if seconds is None:
        return f"signature: {TIMESTAMP_HEADER} must be Unix seconds"
    # Compared as numbers first: a timestamp far from now (year 33658, say) is never turned into a
    # datetime, which would raise for anything past the year 9999.
    if abs(now.timestamp() - seconds) > REPLAY_WINDOW.total_seconds():
        return f"signature: timestamp outside the {REPLAY_WINDOW.seconds // 60}-minute window"
    sent_at = datetime.fromtimestamp(seconds, UTC)
    expected = sign(secret, timestamp, body)
    given = signature.strip().lower()
    given = given if given.startswith(PREFIX) else PREFIX + given
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        return "signature: does not match the body"
    return Verified(
        digest=hashlib.sha256(expected.encode()).hexdigest(), expires_at=sent_at + REPLAY_WINDOW
    )
