"""Chat users: roles granted with /users, notification choices, TOTP second factor, and
Telegram update ids seen.

Owners named in TRADEBOT_TELEGRAM_ADMINS need no row; a row is created for them only when they
change their notification choices or set up a second factor. The TOTP secret is read only
through `totp_state` (never in `UserRecord`, so listings cannot show it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from db.models import TelegramUpdate, User
from trading.records import TotpState, UserRecord


def _record(row: User) -> UserRecord:
    notify = {str(k): bool(v) for k, v in dict(row.notify or {}).items()}
    return UserRecord(row.telegram_id, row.role, row.username, notify, row.created_at)


def _step_is_new(step: int) -> Q:
    return Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step)


class SqlUserStore:
    """`trading.ports.UserStore` on Tortoise."""

    async def user(self, telegram_id: int) -> UserRecord | None:
        row = await User.get_or_none(telegram_id=telegram_id)
        return _record(row) if row else None

    async def list_users(self) -> list[UserRecord]:
        return [_record(row) for row in await User.all().order_by("id")]

    async def set_role(
        self, telegram_id: int, role: str, username: str | None = None
    ) -> UserRecord:
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

    async def delete_user(self, telegram_id: int) -> bool:
        return bool(await User.filter(telegram_id=telegram_id).delete())

    async def set_notify(
        self, telegram_id: int, notify: dict[str, Any], role_if_new: str
    ) -> UserRecord:
        row = await User.get_or_none(telegram_id=telegram_id)
        if row is None:
            row = await User.create(telegram_id=telegram_id, role=role_if_new, notify=notify)
        else:
            row.notify = notify
            await row.save(update_fields=["notify"])
        return _record(row)

    async def totp_state(self, telegram_id: int) -> TotpState | None:
        row = await User.get_or_none(telegram_id=telegram_id)
        if row is None:
            return None
        return TotpState(row.totp_secret, bool(row.totp_enabled), row.totp_last_step)

    async def set_totp_pending(self, telegram_id: int, secret: str) -> bool:
        """Store a new, unconfirmed secret; False when the second factor is already on.

        Only an owner from TRADEBOT_TELEGRAM_ADMINS can lack a row; the row made for them grants no
        role, so they stop being an owner when removed from that setting."""
        pending = {"totp_secret": secret, "totp_enabled": False, "totp_last_step": None}
        if await User.filter(telegram_id=telegram_id, totp_enabled=False).update(**pending):
            return True
        if await User.exists(telegram_id=telegram_id):
            return False  # on: it must be switched off with a code first
        try:
            await User.create(telegram_id=telegram_id, role="", **pending)
        except IntegrityError:  # created meanwhile by another process
            updated = await User.filter(telegram_id=telegram_id, totp_enabled=False).update(
                **pending
            )
            return bool(updated)
        return True

    async def enable_totp(self, telegram_id: int, secret: str, step: int) -> bool:
        """Switch on with the step of the confirming code, if that secret is still the pending one
        and the step is new (so the confirming code cannot be used again)."""
        return bool(
            await User.filter(
                _step_is_new(step), telegram_id=telegram_id, totp_secret=secret, totp_enabled=False
            ).update(totp_enabled=True, totp_last_step=step)
        )

    async def accept_totp_step(self, telegram_id: int, step: int) -> bool:
        """Record an accepted code's step. One conditional UPDATE: of two processes given the same
        code, only one sees a row updated; a step at or before the last one is refused (replay)."""
        return bool(
            await User.filter(
                _step_is_new(step), telegram_id=telegram_id, totp_enabled=True
            ).update(totp_last_step=step)
        )

    async def drop_pending_totp(self, telegram_id: int) -> bool:
        """Forget a secret that was never confirmed."""
        return bool(
            await User.filter(
                telegram_id=telegram_id, totp_enabled=False, totp_secret__isnull=False
            ).update(totp_secret=None, totp_last_step=None)
        )

    async def disable_totp(self, telegram_id: int) -> bool:
        """Switch off and forget the secret."""
        return bool(
            await User.filter(telegram_id=telegram_id).update(totp_enabled=False, totp_secret=None)
        )

    async def remember_update(self, update_id: int) -> bool:
        """True the first time an update id is seen, False for a redelivery."""
        try:
            await TelegramUpdate.create(update_id=update_id)
        except IntegrityError:
            return False
        return True

    async def forget_updates_before(self, moment: datetime) -> int:
        return await TelegramUpdate.filter(received_at__lt=moment).delete()
