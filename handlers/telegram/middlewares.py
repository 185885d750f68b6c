"""Dispatcher middlewares: update dedup, in-flight tracking, and authorization.

Authorization happens here and only here (freqtrade's `authorized_only`): `Authenticate` (outer,
before filters) turns the Telegram user into an `Actor` and refuses strangers once, politely;
`Authorize` (inner, after filters) compares the actor's role with the handler's `role` flag
(`flags={"role": "trader"}`; viewer when absent). Every refusal is an audit row.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject, Update, User

from trading.access import AccessService, Actor, Role
from trading.tasks import Busy

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class InFlight(BaseMiddleware):
    """Counts updates being handled so shutdown can wait for them."""

    def __init__(self) -> None:
        self.busy = Busy()

    @property
    def count(self) -> int:
        return self.busy.count

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        with self.busy:
            return await handler(event, data)

    async def wait_idle(self, timeout: float) -> bool:
        return await self.busy.wait_idle(timeout)


class UpdateDedup(BaseMiddleware):
    """A redelivered update (webhook retry, restart mid-batch) is acted on once."""

    def __init__(self, access: AccessService) -> None:
        self.access = access

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update) and not await self.access.first_delivery(event.update_id):
            log.info("telegram update seen before, skipped update_id=%s", event.update_id)
            return None
        return await handler(event, data)


def display_name(user: User) -> str:
    return f"@{user.username}" if user.username else user.full_name


def attempted(event: TelegramObject) -> str:
    """What a user tried, for the audit log: `/positions` or `button pos:close:3`."""
    if isinstance(event, CallbackQuery):
        return f"button {event.data or ''}"[:64]
    if isinstance(event, Message):
        text = event.text or event.caption or ""
        return (text.split(maxsplit=1)[0] if text.startswith("/") else "message")[:64]
    return type(event).__name__


async def answer(event: TelegramObject, text: str) -> None:
    """Reply to a message, or answer a button press with an alert."""
    if isinstance(event, CallbackQuery):
        await event.answer(text[:200], show_alert=True)
    elif isinstance(event, Message):
        await event.answer(text)


def addressed_elsewhere(message: Message, username: str | None) -> bool:
    """A group message that is not for us: plain talk, or `/cmd@other_bot`."""
    if message.chat.type == "private":
        return False
    text = message.text or ""
    if not text.startswith("/"):
        return True
    _, at, mention = text.split(maxsplit=1)[0].partition("@")
    return bool(at) and mention.lower() != (username or "").lower()


class Authenticate(BaseMiddleware):
    def __init__(self, access: AccessService) -> None:
        self.access = access

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None or user.is_bot:
            return None
        if isinstance(event, Message) and event.chat.type != "private":
            telegram: Bot = data["bot"]  # aiogram's own key for the Bot the update came to
            me = await telegram.me()
            if addressed_elsewhere(event, me.username):
                data["addressed_elsewhere"] = True
        actor = await self.access.actor(user.id, display_name(user))
        if actor.role is None:
            if data.get("addressed_elsewhere"):
                return None
            await self.access.refused(actor, attempted(event), "unknown user")
            await answer(
                event,
                "🔒 Sorry, this is a private trading bot.\n"
                f"Ask its owner for access; your Telegram id is <code>{user.id}</code>."
                if isinstance(event, Message)
                else f"🔒 Sorry, this is a private trading bot. Your id: {user.id}",
            )
            return None
        data["actor"] = actor
        return await handler(event, data)


class Authorize(BaseMiddleware):
    def __init__(self, access: AccessService) -> None:
        self.access = access

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        actor: Actor = data["actor"]
        needed = Role(get_flag(data, "role", default=Role.VIEWER.value))
        if actor.can(needed):
            return await handler(event, data)
        await self.access.refused(actor, attempted(event), f"needs {needed.value}")
        role = actor.role.value if actor.role else "none"
        await answer(event, f"🔒 That needs the {needed.value} role; you are {escape(role)}.")
        return None
