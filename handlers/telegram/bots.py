"""/bots, /bot NAME (a card with buttons), /alerttemplate NAME, and editing a bot."""

from __future__ import annotations

import logging
from html import escape

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Chat, InlineKeyboardMarkup, Message

from handlers.telegram.callbacks import BotCb, BotEditCb
from handlers.telegram.formatting.bots import format_bot_card, format_bots, format_webhook
from handlers.telegram.keyboards import (
    bot_card_keyboard,
    bots_keyboard,
    confirm_bot_keyboard,
    edit_fields_keyboard,
)
from handlers.telegram.security import ROTATE_KEY, AwaitingCode, ask_code, code_accepted
from trading.access import Actor, Role
from trading.bots import BotConfig
from trading.control import EDITABLE, ControlService, spec_of
from trading.totp import SecondFactor

log = logging.getLogger(__name__)
OWNER = {"role": "owner"}


class BotEdit(StatesGroup):
    value = State()


async def bot_card(
    control: ControlService, bot: BotConfig, actor: Actor, chat: Chat
) -> tuple[str, InlineKeyboardMarkup | None]:
    positions = await control.positions(bot.name)
    bound_chat, _topic = await control.chat_of(bot.id)
    where = ""
    if bound_chat is not None:
        where = "📣 Posts in this chat" if bound_chat == chat.id else "📣 Posts in a group chat"
    text = format_bot_card(control.view(bot), positions, where)
    keyboard = bot_card_keyboard(
        bot,
        manage=actor.can(Role.OWNER),
        group_chat=chat.type != "private",
        bound_here=bound_chat == chat.id,
    )
    return text, keyboard


async def list_bots(message: Message, control: ControlService) -> None:
    bots = await control.bots()
    counts = {}
    for position in await control.positions():
        for bot in bots:
            if bot.name == position.bot:
                counts[bot.id] = counts.get(bot.id, 0) + 1
    await message.answer(format_bots(bots, counts), reply_markup=bots_keyboard(bots))


async def show_bot(
    message: Message, command: CommandObject, control: ControlService, actor: Actor
) -> None:
    if not command.args:
        bots = await control.bots()
        await message.answer(
            "Which bot? <code>/bot NAME</code>, or tap one:", reply_markup=bots_keyboard(bots)
        )
        return
    bot = await control.bot(command.args)
    text, keyboard = await bot_card(control, bot, actor, message.chat)
    await message.answer(text, reply_markup=keyboard)


async def show_card(
    query: CallbackQuery, callback_data: BotCb, control: ControlService, actor: Actor
) -> None:
    """`open` (from a list) sends the card; `show` (back from a question) redraws it."""
    bot = await control.bot_by_id(callback_data.id)
    assert isinstance(query.message, Message)
    text, keyboard = await bot_card(control, bot, actor, query.message.chat)
    if callback_data.action == "open":
        await query.message.answer(text, reply_markup=keyboard)
    else:
        await query.message.edit_text(text, reply_markup=keyboard)
    await query.answer()


async def pause_resume(
    query: CallbackQuery, callback_data: BotCb, control: ControlService, actor: Actor
) -> None:
    bot = await control.set_paused(actor, callback_data.id, callback_data.action == "pause")
    assert isinstance(query.message, Message)
    text, keyboard = await bot_card(control, bot, actor, query.message.chat)
    await query.message.edit_text(text, reply_markup=keyboard)
    await query.answer("Paused" if bot.paused else "Resumed")


async def webhook_url(query: CallbackQuery, callback_data: BotCb, control: ControlService) -> None:
    bot = await control.bot_by_id(callback_data.id)
    await query.message.answer(  # type: ignore[union-attr]
        f"🔗 <b>{escape(bot.name)}</b> webhook URL:\n"
        f"<code>{escape(control.webhook_url(bot))}</code>"
    )
    await query.answer()


async def template_button(
    query: CallbackQuery, callback_data: BotCb, control: ControlService
) -> None:
    bot = await control.bot_by_id(callback_data.id)
    await query.message.answer(format_webhook(control.view(bot), bot))  # type: ignore[union-attr]
    await query.answer()


async def template_command(
    message: Message, command: CommandObject, control: ControlService
) -> None:
    if not command.args:
        await message.answer("Which bot? <code>/alerttemplate NAME</code>")
        return
    bot = await control.bot(command.args)
    await message.answer(format_webhook(control.view(bot), bot))


async def ask_delete(query: CallbackQuery, callback_data: BotCb, control: ControlService) -> None:
    bot = await control.bot_by_id(callback_data.id)
    await query.message.edit_text(  # type: ignore[union-attr]
        f"❓ Delete bot <b>{escape(bot.name)}</b>?\n"
        "Its webhook URL stops working; its trades stay in the history.",
        reply_markup=confirm_bot_keyboard(bot, "del_yes", "🗑 Yes, delete"),
    )
    await query.answer()


async def delete(
    query: CallbackQuery, callback_data: BotCb, control: ControlService, actor: Actor
) -> None:
    name = await control.delete_bot(actor, callback_data.id)
    await query.message.edit_text(  # type: ignore[union-attr]
        f"🗑 Bot <b>{escape(name)}</b> deleted. Its trades stay in the history."
    )
    await query.answer("Deleted")


async def ask_rotate(query: CallbackQuery, callback_data: BotCb, control: ControlService) -> None:
    bot = await control.bot_by_id(callback_data.id)
    await query.message.edit_text(  # type: ignore[union-attr]
        f"❓ New webhook key for <b>{escape(bot.name)}</b>?\n"
        "The current URL stops working: update your TradingView alerts.",
        reply_markup=confirm_bot_keyboard(bot, "rot_yes", "🔑 Yes, new key"),
    )
    await query.answer()


async def rotate(
    query: CallbackQuery,
    callback_data: BotCb,
    control: ControlService,
    actor: Actor,
    state: FSMContext,
    second_factor: SecondFactor,
) -> None:
    bot = await control.bot_by_id(callback_data.id)
    if await ask_code(
        query,
        state=state,
        actor=actor,
        second_factor=second_factor,
        action=ROTATE_KEY,
        what=f"give <b>{escape(bot.name)}</b> a new webhook key",
        target=bot.name,
        params={"bot_id": bot.id},
    ):
        return
    bot = await control.rotate_key(actor, callback_data.id)
    await query.message.edit_text(format_webhook(control.view(bot), bot))  # type: ignore[union-attr]
    await query.answer("New key")


async def rotate_with_code(
    message: Message,
    control: ControlService,
    actor: Actor,
    state: FSMContext,
    second_factor: SecondFactor,
) -> None:
    params = await code_accepted(message, state, actor, second_factor)
    if params is None:
        return
    bot = await control.rotate_key(actor, int(params["bot_id"]))
    await message.answer(format_webhook(control.view(bot), bot))


async def post_here(
    query: CallbackQuery, callback_data: BotCb, control: ControlService, actor: Actor
) -> None:
    """Send this bot's notifications to this group, in a forum topic of its own when the group
    has topics. Updates do not always say whether a supergroup is a forum, so a supergroup
    gets a topic if Telegram agrees to create one."""
    assert isinstance(query.message, Message)
    telegram = query.bot
    assert telegram is not None  # updates reach handlers mounted on the Bot that fed them
    chat = query.message.chat
    bot = await control.bot_by_id(callback_data.id)
    bound_chat, topic_id = await control.chat_of(bot.id)
    note = ""
    if bound_chat != chat.id or topic_id is None:
        topic_id = None
        if chat.type == "supergroup" or chat.is_forum:
            try:
                topic = await telegram.create_forum_topic(chat.id, name=f"🤖 {bot.name}")
                topic_id = topic.message_thread_id
            except (TelegramBadRequest, TelegramForbiddenError) as exc:
                log.info("no forum topic for chat=%s: %s", chat.id, exc.message)
                if chat.is_forum:
                    note = "\n(I could not open a topic: give me the Manage topics right.)"
    await control.bind_chat(actor, bot.id, chat.id, topic_id)
    await telegram.send_message(
        chat.id,
        f"📣 <b>{escape(bot.name)}</b> posts its notifications here from now on.{note}",
        message_thread_id=topic_id,
    )
    await query.answer("Posting here")


async def stop_posting_here(
    query: CallbackQuery, callback_data: BotCb, control: ControlService, actor: Actor
) -> None:
    bot = await control.bind_chat(actor, callback_data.id, None, None)
    await query.message.answer(  # type: ignore[union-attr]
        f"🔕 <b>{escape(bot.name)}</b> no longer posts here."
    )
    await query.answer("Stopped")


async def choose_field(query: CallbackQuery, callback_data: BotCb, control: ControlService) -> None:
    bot = await control.bot_by_id(callback_data.id)
    await query.message.edit_text(  # type: ignore[union-attr]
        f"✏️ What to change in <b>{escape(bot.name)}</b>?", reply_markup=edit_fields_keyboard(bot)
    )
    await query.answer()


async def ask_value(
    query: CallbackQuery, callback_data: BotEditCb, control: ControlService, state: FSMContext
) -> None:
    if callback_data.field not in EDITABLE:
        await query.answer("That cannot be edited.", show_alert=True)
        return
    bot = await control.bot_by_id(callback_data.id)
    current = spec_of(bot).get(callback_data.field)
    if callback_data.field == "passphrase":
        current = "set" if current else None
    if callback_data.field == "size":
        current = control.view(bot).size
    if isinstance(current, list):
        current = ",".join(current)
    await state.set_state(BotEdit.value)
    await state.update_data(bot_id=bot.id, field=callback_data.field)
    await query.message.answer(  # type: ignore[union-attr]
        f"✏️ <b>{escape(bot.name)}</b>: new {escape(EDITABLE[callback_data.field])}?\n"
        f"Now: <code>{escape(str(current) if current is not None else 'none')}</code> · "
        "/cancel to stop"
    )
    await query.answer()


async def save_value(
    message: Message, state: FSMContext, control: ControlService, actor: Actor
) -> None:
    data = await state.get_data()
    bot = await control.update_bot(
        actor, int(data["bot_id"]), str(data["field"]), message.text or ""
    )
    await state.clear()
    text, keyboard = await bot_card(control, bot, actor, message.chat)
    await message.answer("✅ Saved.\n" + text, reply_markup=keyboard)


def router() -> Router:
    r = Router(name=__name__)
    r.message.register(list_bots, Command("bots"))
    r.message.register(show_bot, Command("bot"))
    r.callback_query.register(show_card, BotCb.filter(F.action.in_({"open", "show"})))
    r.callback_query.register(
        pause_resume, BotCb.filter(F.action.in_({"pause", "resume"})), flags=OWNER
    )
    r.callback_query.register(webhook_url, BotCb.filter(F.action == "url"), flags=OWNER)
    r.callback_query.register(template_button, BotCb.filter(F.action == "tpl"), flags=OWNER)
    r.message.register(template_command, Command("alerttemplate"), flags=OWNER)
    r.callback_query.register(ask_delete, BotCb.filter(F.action == "del"), flags=OWNER)
    r.callback_query.register(delete, BotCb.filter(F.action == "del_yes"), flags=OWNER)
    r.callback_query.register(ask_rotate, BotCb.filter(F.action == "rot"), flags=OWNER)
    r.callback_query.register(rotate, BotCb.filter(F.action == "rot_yes"), flags=OWNER)
    r.message.register(
        rotate_with_code, F.text, ~F.text.startswith("/"), AwaitingCode(ROTATE_KEY), flags=OWNER
    )
    r.callback_query.register(post_here, BotCb.filter(F.action == "here"), flags=OWNER)
    r.callback_query.register(stop_posting_here, BotCb.filter(F.action == "unhere"), flags=OWNER)
    r.callback_query.register(choose_field, BotCb.filter(F.action == "edit"), flags=OWNER)
    r.callback_query.register(ask_value, BotEditCb.filter(), flags=OWNER)
    r.message.register(save_value, BotEdit.value, F.text, ~F.text.startswith("/"), flags=OWNER)
    return r
