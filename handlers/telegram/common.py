"""/start, /help, /cancel, /status, /health."""

from __future__ import annotations

from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from handlers.status import Status
from handlers.telegram.commands import help_text
from handlers.telegram.formatting.admin import format_health, format_status
from trading.access import Actor
from trading.control import ControlService


async def cancel(message: Message, state: FSMContext) -> None:
    if await state.get_state() is None:
        await message.answer("Nothing to cancel.")
        return
    await state.clear()
    await message.answer("Cancelled.")


async def start(message: Message, actor: Actor) -> None:
    await message.answer(
        f"👋 Hi {escape(actor.name)}, you are <b>{actor.role.value if actor.role else '-'}</b>.\n"
        "/status for a glance, /positions for open trades, /help for everything."
    )


async def help_command(message: Message, actor: Actor) -> None:
    await message.answer(help_text(actor))


async def status(message: Message, control: ControlService, app_status: Status) -> None:
    await message.answer(format_status(await control.overview(), app_status.telegram))


async def health(message: Message, control: ControlService, app_status: Status) -> None:
    await message.answer(format_health(await control.health(app_status.checks())))


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(cancel, Command("cancel"), StateFilter("*"))
    r.message.register(start, CommandStart())
    r.message.register(help_command, Command("help"))
    r.message.register(status, Command("status"))
    r.message.register(health, Command("health"))
    return r
