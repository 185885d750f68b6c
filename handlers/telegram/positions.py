"""/positions with Close buttons (confirmed), /close NAME|ID, /closeall (confirmed, then a
second-factor code for users who switched it on)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from handlers.telegram.callbacks import CloseAllCb, PositionCb
from handlers.telegram.formatting.positions import (
    format_close_all,
    format_close_question,
    format_closed,
    format_positions,
)
from handlers.telegram.keyboards import (
    confirm_close_all_keyboard,
    confirm_close_keyboard,
    positions_keyboard,
)
from handlers.telegram.security import CLOSE_ALL, AwaitingCode, ask_code, code_accepted
from trading.access import Actor, Role
from trading.control import ControlService
from trading.totp import SecondFactor

TRADER = {"role": "trader"}


async def positions(message: Message, control: ControlService, actor: Actor) -> None:
    items = await control.positions()
    keyboard = positions_keyboard(items) if actor.can(Role.TRADER) else None
    await message.answer(format_positions(items), reply_markup=keyboard)


async def ask_close(
    query: CallbackQuery, callback_data: PositionCb, control: ControlService
) -> None:
    position = await control.position(callback_data.id)
    assert query.message is not None
    await query.message.answer(
        format_close_question(position), reply_markup=confirm_close_keyboard(position.id)
    )
    await query.answer()


async def confirm_close(
    query: CallbackQuery, callback_data: PositionCb, control: ControlService, actor: Actor
) -> None:
    closed = await control.close_position(actor, callback_data.id)
    await query.message.edit_text(format_closed(closed))  # type: ignore[union-attr]
    await query.answer("Closed")


async def keep_position(query: CallbackQuery) -> None:
    await query.message.edit_text("👌 Kept open.")  # type: ignore[union-attr]
    await query.answer("Kept open")


async def close(
    message: Message, command: CommandObject, control: ControlService, actor: Actor
) -> None:
    closed = await control.close(actor, command.args or "")
    await message.answer("\n\n".join(format_closed(c) for c in closed))


async def close_all(message: Message, control: ControlService) -> None:
    items = await control.positions()
    if not items:
        await message.answer("📊 No open positions to close.")
        return
    await message.answer(
        f"❓ Close all {len(items)} open position(s) at market?",
        reply_markup=confirm_close_all_keyboard(),
    )


async def confirm_close_all(
    query: CallbackQuery,
    control: ControlService,
    actor: Actor,
    state: FSMContext,
    second_factor: SecondFactor,
) -> None:
    if await ask_code(
        query,
        state=state,
        actor=actor,
        second_factor=second_factor,
        action=CLOSE_ALL,
        what="close all open positions",
    ):
        return
    results = await control.close_all(actor)
    await query.message.edit_text(format_close_all(results))  # type: ignore[union-attr]
    await query.answer("Done")


async def close_all_with_code(
    message: Message,
    control: ControlService,
    actor: Actor,
    state: FSMContext,
    second_factor: SecondFactor,
) -> None:
    if await code_accepted(message, state, actor, second_factor) is None:
        return
    await message.answer(format_close_all(await control.close_all(actor)))


async def keep_all(query: CallbackQuery) -> None:
    await query.message.edit_text("👌 Nothing closed.")  # type: ignore[union-attr]
    await query.answer("Nothing closed")


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(positions, Command("positions"))
    r.callback_query.register(ask_close, PositionCb.filter(F.action == "close"), flags=TRADER)
    r.callback_query.register(confirm_close, PositionCb.filter(F.action == "yes"), flags=TRADER)
    r.callback_query.register(keep_position, PositionCb.filter(F.action == "no"), flags=TRADER)
    r.message.register(close, Command("close"), flags=TRADER)
    r.message.register(close_all, Command("closeall"), flags=TRADER)
    r.callback_query.register(confirm_close_all, CloseAllCb.filter(F.action == "yes"), flags=TRADER)
    r.message.register(
        close_all_with_code, F.text, ~F.text.startswith("/"), AwaitingCode(CLOSE_ALL), flags=TRADER
    )
    r.callback_query.register(keep_all, CloseAllCb.filter(F.action == "no"), flags=TRADER)
    return r
