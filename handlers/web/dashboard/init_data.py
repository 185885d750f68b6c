"""Telegram Mini App sign-in data (`Telegram.WebApp.initData`), checked as Telegram specifies:
the HMAC-SHA256 signature with the key `HMAC_SHA256("WebAppData", bot token)` (aiogram's
`safe_parse_webapp_init_data`), and an `auth_date` at most 24 hours old and not in the future
(aiogram does not check the age). aiogram is imported only when someone signs in this way: an
idle server without Telegram does not load it (tests/test_lazy_imports.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from trading.dashboard_auth import INIT_DATA_MAX_AGE

MAX_LENGTH = 8192  # Telegram's initData is a few hundred bytes
CLOCK_SKEW = timedelta(minutes=5)  # an auth_date this far ahead of our clock is still believed


class InitDataRefused(Exception):
    """Why the sign-in data was not believed, in one line fit for the page."""


@dataclass(frozen=True, slots=True)
class TelegramUser:
    id: int
    name: str


def check_init_data(token: str, init_data: str, now: datetime | None = None) -> TelegramUser:
    """The Telegram user `init_data` signs for, or `InitDataRefused`."""
    if not init_data or len(init_data) > MAX_LENGTH:
        raise InitDataRefused("missing or too long")
    from aiogram.utils.web_app import safe_parse_webapp_init_data

    try:
        data = safe_parse_webapp_init_data(token, init_data)
    except Exception:  # a bad signature, or a signed payload that does not parse
        # (compare_digest raises TypeError on a non-ASCII hash; pydantic on odd fields)
        raise InitDataRefused("signature does not match this bot") from None
    now = now or datetime.now(UTC)
    auth_date = data.auth_date
    if auth_date.tzinfo is None:
        auth_date = auth_date.replace(tzinfo=UTC)
    if auth_date > now + CLOCK_SKEW:
        raise InitDataRefused("auth_date is in the future")
    if now - auth_date > INIT_DATA_MAX_AGE:
        raise InitDataRefused("expired: auth_date is more than 24 hours old; reopen the app")
    if data.user is None:
        raise InitDataRefused("no user in it")
    name = data.user.username or " ".join(
        part for part in (data.user.first_name, data.user.last_name) if part
    )
    return TelegramUser(data.user.id, name[:64])
