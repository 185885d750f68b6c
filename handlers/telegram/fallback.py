"""Last resort: unknown commands, and buttons whose data no handler accepts (stale or forged)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.types import CallbackQuery, Message


async def unknown_command(message: Message, addressed_elsewhere: bool = False) -> None:
    if not addressed_elsewhere:
        await message.answer("Unknown command. /help lists what you can do.")


async def chatter(message: Message) -> None:
    await message.answer("Send a command; /help lists them.")


async def stale_button(query: CallbackQuery) -> None:
    await query.answer(
        "This button is no longer valid. Ask again, e.g. /positions.", show_alert=True
    )


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(unknown_command, F.text.startswith("/"))
    r.message.register(chatter, F.chat.type == "private", StateFilter(None))
    r.callback_query.register(stale_button)
    return r
