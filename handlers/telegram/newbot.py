"""/newbot: a guided dialogue (aiogram FSM) validating each answer, ending with the webhook URL
and the TradingView alert message to paste. /cancel leaves it at any step."""

from __future__ import annotations

from html import escape
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from handlers.telegram.callbacks import NewBotCb
from handlers.telegram.formatting.bots import format_webhook
from handlers.telegram.keyboards import choices_keyboard
from trading.access import Actor
from trading.bots import BotSpec
from trading.control import ControlService, check_field
from trading.errors import InvalidRequest, NotFound

OWNER = {"role": "owner"}
STEPS = 7


class NewBot(StatesGroup):
    name = State()
    symbols = State()
    strategy = State()
    size = State()
    direction = State()
    max_entries = State()
    stops = State()


def _step(n: int, question: str) -> str:
    return f"🆕 <b>New bot</b> · step {n}/{STEPS}\n{question}\n/cancel to stop"


async def _ask(
    target: Message, n: int, question: str, keyboard: InlineKeyboardMarkup | None = None
) -> None:
    await target.answer(_step(n, question), reply_markup=keyboard)


async def start(message: Message, state: FSMContext) -> None:
    await state.clear()
    await state.set_state(NewBot.name)
    await _ask(message, 1, "Name? Letters, digits, - or _ (up to 32), e.g. <code>btc-trend</code>")


TEXT = F.text & ~F.text.startswith("/")


async def got_name(message: Message, state: FSMContext, control: ControlService) -> None:
    name = check_field("name", message.text or "")
    try:
        await control.bot(name)
    except NotFound:
        pass
    else:
        raise InvalidRequest(f"a bot named {name!r} already exists; choose another name")
    await state.update_data(name=name)
    await state.set_state(NewBot.symbols)
    await _ask(
        message,
        2,
        "Symbol? e.g. <code>BTCUSDT</code> or <code>BINANCE:ETHUSDT</code>; "
        "several, comma separated",
    )


async def got_symbols(message: Message, state: FSMContext, control: ControlService) -> None:
    symbols = check_field("symbols", message.text or "")
    await state.update_data(symbols=symbols)
    await state.set_state(NewBot.strategy)
    names = control.strategies()
    await _ask(
        message,
        3,
        f"Strategy? {escape(', '.join(names))} (signal does what the alert says)",
        choices_keyboard("strategy", names),
    )


async def _strategy(target: Message, state: FSMContext, raw: str) -> None:
    strategy = check_field("strategy", raw)
    await state.update_data(strategy=strategy)
    await state.set_state(NewBot.size)
    await _ask(
        target,
        4,
        "Order size? <code>0.01</code> (base quantity), <code>100USDT</code> (quote amount) "
        "or <code>5%</code> (of equity)",
    )


async def _direction(target: Message, state: FSMContext, raw: str) -> None:
    direction = check_field("direction", raw.lower())
    await state.update_data(direction=direction)
    await state.set_state(NewBot.max_entries)
    await _ask(
        target,
        6,
        "Pyramiding: how many entries may one position take? 1 = no adding (1-100)",
        choices_keyboard("max_entries", ["1", "2", "3", "5"]),
    )


async def _max_entries(target: Message, state: FSMContext, raw: str) -> None:
    max_entries = check_field("max_entries", raw)
    await state.update_data(max_entries=max_entries)
    await state.set_state(NewBot.stops)
    await _ask(
        target,
        7,
        "Stop-loss and take-profit? e.g. <code>2% 4%</code>, prices, <code>2% -</code> for a "
        "stop-loss only, or <code>-</code> for none",
        choices_keyboard("stops", ["-", "1% 2%", "2% 4%"]),
    )


async def _stops(
    target: Message, state: FSMContext, raw: str, control: ControlService, actor: Actor
) -> None:
    parts = raw.split()
    if len(parts) > 2:
        raise InvalidRequest("send at most two values: stop-loss and take-profit")
    sl = check_field("sl", parts[0]) if parts else None
    tp = check_field("tp", parts[1]) if len(parts) > 1 else None
    data: dict[str, Any] = await state.get_data()
    spec = BotSpec(
        name=data["name"],
        symbols=data["symbols"],
        strategy=data["strategy"],
        size=data["size"],
        direction=data["direction"],
        max_entries=data["max_entries"],
        sl=sl,
        tp=tp,
    )
    bot = await control.create_bot(actor, spec)
    await state.clear()
    await target.answer(
        f"✅ Bot <b>{escape(bot.name)}</b> created.\n"
        "Paste the URL into the TradingView alert's Webhook URL and the message below as "
        "its Message.\n\n" + format_webhook(control.view(bot), bot)
    )


async def got_strategy(message: Message, state: FSMContext) -> None:
    await _strategy(message, state, message.text or "")


async def got_size(message: Message, state: FSMContext) -> None:
    size = check_field("size", message.text or "")
    await state.update_data(size=size)
    await state.set_state(NewBot.direction)
    await _ask(
        message,
        5,
        "Direction? long, short or both (both reverses on an opposite signal)",
        choices_keyboard("direction", ["long", "short", "both"]),
    )


async def got_direction(message: Message, state: FSMContext) -> None:
    await _direction(message, state, message.text or "")


async def got_max_entries(message: Message, state: FSMContext) -> None:
    await _max_entries(message, state, message.text or "")


async def got_stops(
    message: Message, state: FSMContext, control: ControlService, actor: Actor
) -> None:
    await _stops(message, state, message.text or "", control, actor)


STEP_OF_FIELD = {
    "strategy": NewBot.strategy,
    "direction": NewBot.direction,
    "max_entries": NewBot.max_entries,
    "stops": NewBot.stops,
}


async def pressed_choice(
    query: CallbackQuery,
    callback_data: NewBotCb,
    state: FSMContext,
    control: ControlService,
    actor: Actor,
) -> None:
    """A choice button counts only at its own step (a press on an old question is stale)."""
    if await state.get_state() != STEP_OF_FIELD[callback_data.field].state:
        await query.answer("That question is over; /newbot starts again.", show_alert=True)
        return
    assert isinstance(query.message, Message)
    target, value = query.message, callback_data.value
    if callback_data.field == "strategy":
        await _strategy(target, state, value)
    elif callback_data.field == "direction":
        await _direction(target, state, value)
    elif callback_data.field == "max_entries":
        await _max_entries(target, state, value)
    else:
        await _stops(target, state, value, control, actor)
    await query.answer(callback_data.value)


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(start, Command("newbot"), flags=OWNER)
    r.message.register(got_name, NewBot.name, TEXT, flags=OWNER)
    r.message.register(got_symbols, NewBot.symbols, TEXT, flags=OWNER)
    r.message.register(got_strategy, NewBot.strategy, TEXT, flags=OWNER)
    r.message.register(got_size, NewBot.size, TEXT, flags=OWNER)
    r.message.register(got_direction, NewBot.direction, TEXT, flags=OWNER)
    r.message.register(got_max_entries, NewBot.max_entries, TEXT, flags=OWNER)
    r.message.register(got_stops, NewBot.stops, TEXT, flags=OWNER)
    r.callback_query.register(pressed_choice, NewBotCb.filter(), flags=OWNER)
    return r
