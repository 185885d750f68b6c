"""Chat users: roles granted with /users, notification choices, and Telegram update ids seen.

Owners named in TRADEBOT_TELEGRAM_ADMINS need no row; a row is created for them only when they
change their notification choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from db.models import TelegramUpdate, User


@dataclass(frozen=True, slots=True)
class UserRecord:
    telegram_id: int
    role: str
    username: str | None
    notify: dict[str, bool] = field(default_factory=dict)
    created_at: datetime | None = None


def _record(row: User) -> UserRecord:
    notify = {str(k): bool(v) for k, v in dict(row.notify or {}).items()}
    return UserRecord(row.telegram_id, row.role, row.username, notify, row.created_at)


async def user(telegram_id: int) -> UserRecord | None:
    row = await User.get_or_none(telegram_id=telegram_id)
    return _record(row) if row else None


async def list_users() -> list[UserRecord]:
    return [_record(row) for row in await User.all().order_by("id")]


async def set_role(telegram_id: int, role: str, username: str | None = None) -> UserRecord:
    """Create the user or change their role (keeps their notification choices)."""
    row = await User.get_or_none(telegram_id=telegram_id)
    if row is None:
        try:
            row = await User.create(telegram_id=telegram_id, role=role, username=username)
        except IntegrityError:
            row = await User.get(telegram_id=telegram_id)
    if row.role != role or (username and row.username != username):
        row.role = role
        row.username = username or row.username
        await row.save(update_fields=["role", "username"])
    return _record(row)


async def delete_user(telegram_id: int) -> bool:
    return bool(await User.filter(telegram_id=telegram_id).delete())


async def set_notify(telegram_id: int, notify: dict[str, Any], role_if_new: str) -> UserRecord:
    row = await User.get_or_none(telegram_id=telegram_id)
    if row is None:
        row = await User.create(telegram_id=telegram_id, role=role_if_new, notify=notify)
    else:
        row.notify = notify
        await row.save(update_fields=["notify"])
    return _record(row)


async def remember_update(update_id: int) -> bool:
    """True the first time an update id is seen, False for a redelivery."""
    try:
        await TelegramUpdate.create(update_id=update_id)
    except IntegrityError:
        return False
    return True


async def forget_updates_before(moment: datetime) -> int:
    return await TelegramUpdate.filter(received_at__lt=moment).delete()
