"""/users (list, grant, revoke) and /notify (which events reach you)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.formatting import format_members, format_notify
from handlers.telegram.callbacks import NotifyCb
from handlers.telegram.keyboards import notify_keyboard
from trading.access import AccessService, Actor
from trading.errors import InvalidRequest

USAGE = "use /users, /users grant ID owner|trader|viewer or /users revoke ID"


def _user_id(raw: str) -> int:
    if not raw.isdigit():
        raise InvalidRequest(f"{raw[:20]!r} is not a Telegram user id (a number)")
    return int(raw)


async def users(
    message: Message, command: CommandObject, access: AccessService, actor: Actor
) -> None:
    words = (command.args or "").split()
    if not words:
        await message.answer(format_members(await access.members()))
        return
    verb = words[0].lower()
    if verb == "grant" and len(words) == 3:
        member = await access.grant(actor, _user_id(words[1]), words[2].lower())
        await message.answer(f"✅ <code>{member.user_id}</code> is now {member.role.value}.")
    elif verb == "revoke" and len(words) == 2:
        user_id = _user_id(words[1])
        await access.revoke(actor, user_id)
        await message.answer(f"✅ <code>{user_id}</code> has no access any more.")
    else:
        raise InvalidRequest(USAGE)


async def notify(message: Message, access: AccessService, actor: Actor) -> None:
    choices = await access.notify_choices(actor)
    await message.answer(format_notify(choices), reply_markup=notify_keyboard(choices))


async def toggle(
    query: CallbackQuery, callback_data: NotifyCb, access: AccessService, actor: Actor
) -> None:
    choices = await access.toggle_notify(actor, callback_data.kind)
    await query.message.edit_text(  # type: ignore[union-attr]
        format_notify(choices), reply_markup=notify_keyboard(choices)
    )
    await query.answer(f"{callback_data.kind}: {'on' if choices[callback_data.kind] else 'off'}")


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(users, Command("users"), flags={"role": "owner"})
    r.message.register(notify, Command("notify"))
    r.callback_query.register(toggle, NotifyCb.filter())
    return r
