"""Inline keyboards: built from the CallbackData factories only."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from handlers.telegram.callbacks import (
    ApprovalCb,
    BotCb,
    BotEditCb,
    CloseAllCb,
    NewBotCb,
    NotifyCb,
    PositionCb,
    RiskCb,
    SyncCb,
)
from handlers.telegram.formatting.figures import qty as fmt_qty
from trading.access import NOTIFY_KINDS
from trading.bots import BotConfig
from trading.control import EDITABLE
from trading.risk import KEYS
from trading.views import PositionView

MAX_CLOSE_BUTTONS = 20


def positions_keyboard(positions: Iterable[PositionView]) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    for position in list(positions)[:MAX_CLOSE_BUTTONS]:
        builder.button(
            text=f"Close {position.symbol} · {position.bot}",
            callback_data=PositionCb(action="close", id=position.id),
        )
    builder.adjust(2)
    return builder.as_markup() if builder.buttons else None


def confirm_close_keyboard(position_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="✅ Yes, close", callback_data=PositionCb(action="yes", id=position_id))
    builder.button(text="✖️ No", callback_data=PositionCb(action="no", id=position_id))
    return builder.as_markup()


def confirm_close_all_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="✅ Yes, close all", callback_data=CloseAllCb(action="yes"))
    builder.button(text="✖️ No", callback_data=CloseAllCb(action="no"))
    return builder.as_markup()


def bots_keyboard(bots: Iterable[BotConfig]) -> InlineKeyboardMarkup | None:
    builder = InlineKeyboardBuilder()
    for bot in list(bots)[:48]:
        builder.button(text=f"🤖 {bot.name}", callback_data=BotCb(action="open", id=bot.id))
    builder.adjust(3)
    return builder.as_markup() if builder.buttons else None


def bot_card_keyboard(
    bot: BotConfig, *, manage: bool, group_chat: bool, bound_here: bool
) -> InlineKeyboardMarkup | None:
    if not manage:
        return None
    builder = InlineKeyboardBuilder()
    builder.button(text="⏸ Pause", callback_data=BotCb(action="pause", id=bot.id))
    builder.button(text="▶️ Resume", callback_data=BotCb(action="resume", id=bot.id))
    builder.button(text="🔗 Webhook URL", callback_data=BotCb(action="url", id=bot.id))
    builder.button(text="📋 Alert template", callback_data=BotCb(action="tpl", id=bot.id))
    builder.button(text="✏️ Edit", callback_data=BotCb(action="edit", id=bot.id))
    builder.button(text="🔑 New key", callback_data=BotCb(action="rot", id=bot.id))
    builder.button(text="🗑 Delete", callback_data=BotCb(action="del", id=bot.id))
    if group_chat:
        if bound_here:
            builder.button(
                text="🔕 Stop posting here", callback_data=BotCb(action="unhere", id=bot.id)
            )
        else:
            builder.button(text="📣 Post here", callback_data=BotCb(action="here", id=bot.id))
    builder.adjust(2)
    return builder.as_markup()


def confirm_bot_keyboard(bot: BotConfig, action: str, label: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=label, callback_data=BotCb(action=action, id=bot.id))  # type: ignore[arg-type]
    builder.button(text="✖️ No", callback_data=BotCb(action="show", id=bot.id))
    return builder.as_markup()


def edit_fields_keyboard(bot: BotConfig) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for field_name in EDITABLE:
        builder.button(
            text=field_name.replace("_", " "), callback_data=BotEditCb(id=bot.id, field=field_name)
        )
    builder.button(text="« Back", callback_data=BotCb(action="show", id=bot.id))
    builder.adjust(3)
    return builder.as_markup()


def choices_keyboard(field_name: str, values: Iterable[str]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for value in values:
        label = "none" if value == "-" else value
        builder.button(text=label, callback_data=NewBotCb(field=field_name, value=value))  # type: ignore[arg-type]
    builder.adjust(4)
    return builder.as_markup()


def approval_keyboard(log_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text="✅ Approve", callback_data=ApprovalCb(action="ok", log=log_id))
    builder.button(text="✖️ Reject", callback_data=ApprovalCb(action="no", log=log_id))
    builder.button(text="📏 Resize", callback_data=ApprovalCb(action="size", log=log_id))
    builder.adjust(3)
    return builder.as_markup()


def sync_keyboard(bot_id: int, symbol: str, target: Decimal) -> InlineKeyboardMarkup:
    side = "long" if target > 0 else "short" if target < 0 else "flat"
    label = f"🔄 Make it {side}" + (f" {fmt_qty(abs(target))}" if target else "")
    builder = InlineKeyboardBuilder()
    builder.button(
        text=label,
        callback_data=SyncCb(bot=bot_id, symbol=symbol, target=f"{target.normalize():f}"),
    )
    return builder.as_markup()


def notify_keyboard(choices: dict[str, bool]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for kind in NOTIFY_KINDS:
        mark = "✅" if choices.get(kind) else "▫️"
        builder.button(text=f"{mark} {kind}", callback_data=NotifyCb(kind=kind))
    builder.adjust(2)
    return builder.as_markup()


def risk_keyboard(bot_id: int | None) -> InlineKeyboardMarkup:
    """A button per rule (`/risk`, owners): pressing one asks for its new value."""
    builder = InlineKeyboardBuilder()
    for key in KEYS:
        builder.button(
            text="✏️ " + key.replace("_", " "), callback_data=RiskCb(key=key, bot=bot_id or 0)
        )
    builder.adjust(2)
    return builder.as_markup()
