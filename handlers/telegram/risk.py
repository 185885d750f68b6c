"""/risk [BOT] (the rules with their limit, current value and headroom, per quote currency, and
the kill switch; a button per rule for owners) and /risk set [BOT] KEY=VALUE … (owners), SPEC
§6a, §8. Everything goes through `RiskService`, as the CLI and `GET /risk` do; changes are
audited there (`risk.set`). The kill switch's commands are `handlers.telegram.killswitch`.

A rule's button parks the rule (and the bot) in FSM state and asks for the value with a forced
reply; the value sent is `RiskService.set(KEY=VALUE)`. A value that does not parse is answered
with the accepted form and the question stays open until a good value or /cancel.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, Message

from handlers.telegram.callbacks import RiskCb
from handlers.telegram.formatting.risk import (
    format_risk,
    format_set,
    format_value_prompt,
    placeholder,
)
from handlers.telegram.keyboards import risk_keyboard
from trading.access import Actor, Role
from trading.control import ControlService
from trading.errors import InvalidRequest
from trading.risk import KEYS
from trading.risk_service import RiskReport, RiskService

OWNER = {"role": "owner"}
USAGE = (
    "usage: /risk (the account's rules), /risk NAME (a bot's), "
    "/risk set [NAME] KEY=VALUE … (owners)"
)
TEXT = (F.text, ~F.text.startswith("/"))


class RiskEdit(StatesGroup):
    value = State()  # waiting for the new value of the rule whose button was pressed


def _args(command: CommandObject) -> list[str]:
    return (command.args or "").split()


def is_set(message: Message) -> bool:
    """`/risk set …`: the owners' form (its own handler, with the owner role flag)."""
    words = (message.text or "").split(maxsplit=2)
    return (
        len(words) > 1 and words[0].split("@")[0].lower() == "/risk" and words[1].lower() == "set"
    )


async def _bot_id(control: ControlService, name: str | None) -> int | None:
    return (await control.bot(name)).id if name else None


async def _answer_report(
    message: Message, report: RiskReport, actor: Actor, control: ControlService, text: str
) -> None:
    owner = actor.can(Role.OWNER)
    keyboard = risk_keyboard(await _bot_id(control, report.bot)) if owner else None
    await message.answer(text, reply_markup=keyboard)


async def show(
    message: Message,
    command: CommandObject,
    risk: RiskService,
    control: ControlService,
    actor: Actor,
) -> None:
    words = _args(command)
    if len(words) > 1:
        raise InvalidRequest(USAGE)
    name = words[0] if words else None
    if name is not None:
        await control.bot(name)  # "no bot named …" for what cannot be one
    report = await risk.show(name)
    text = format_risk(report, owner=actor.can(Role.OWNER))
    await _answer_report(message, report, actor, control, text)


def split_set(words: list[str]) -> tuple[str | None, list[str]]:
    """`set [--bot NAME | NAME] KEY=VALUE …` (words after `set`): the bot's name and the pairs."""
    if words and words[0] == "--bot":
        if len(words) < 2:
            raise InvalidRequest("--bot needs a bot's name: /risk set --bot NAME KEY=VALUE …")
        return words[1], words[2:]
    if words and "=" not in words[0]:
        return words[0], words[1:]
    return None, words


async def set_rules(
    message: Message,
    command: CommandObject,
    risk: RiskService,
    control: ControlService,
    actor: Actor,
) -> None:
    name, pairs = split_set(_args(command)[1:])
    if name is not None:
        await control.bot(name)
    if not pairs:
        raise InvalidRequest(
            "give KEY=VALUE pairs, e.g. /risk set max_exposure=20% daily_loss_limit=150; "
            f"the rules are {', '.join(KEYS)}"
        )
    report = await risk.set(actor, pairs, name)
    await _answer_report(message, report, actor, control, format_set(report, pairs))


async def ask_value(
    query: CallbackQuery,
    callback_data: RiskCb,
    state: FSMContext,
    risk: RiskService,
    control: ControlService,
) -> None:
    key = callback_data.key
    if key not in KEYS:
        raise InvalidRequest(f"unknown risk rule {key[:40]!r}; send /risk again")
    bot = await control.bot_by_id(callback_data.bot) if callback_data.bot else None
    report = await risk.show(bot.name if bot else None)
    await state.set_state(RiskEdit.value)
    await state.set_data({"key": key, "bot_id": bot.id if bot else 0})
    assert isinstance(query.message, Message)
    await query.message.answer(
        format_value_prompt(report, key),
        reply_markup=ForceReply(input_field_placeholder=placeholder(key)),
    )
    await query.answer(f"Send the new {key}")


async def got_value(
    message: Message,
    state: FSMContext,
    risk: RiskService,
    control: ControlService,
    actor: Actor,
    addressed_elsewhere: bool = False,
) -> None:
    if addressed_elsewhere and message.reply_to_message is None:
        return  # talk in a group, not the answer to the question
    data = await state.get_data()
    key, bot_id = str(data.get("key", "")), int(data.get("bot_id", 0))
    if key not in KEYS:
        await state.clear()
        await message.answer("Nothing is waiting for a value any more; send /risk again.")
        return
    bot = await control.bot_by_id(bot_id) if bot_id else None
    words = [f"{key}={(message.text or '').strip()}"]
    try:
        report = await risk.set(actor, words, bot.name if bot else None)
    except InvalidRequest as exc:
        await message.answer(
            f"⚠️ {exc.user_message}\nSend another value for {key}, or /cancel.",
            reply_markup=ForceReply(input_field_placeholder=placeholder(key)),
            parse_mode=None,
        )
        return
    await state.clear()
    await _answer_report(message, report, actor, control, format_set(report, words))


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(set_rules, Command("risk"), is_set, flags=OWNER)
    r.message.register(show, Command("risk"))
    r.callback_query.register(ask_value, RiskCb.filter(), flags=OWNER)
    r.message.register(got_value, RiskEdit.value, *TEXT, flags=OWNER)
    return r
