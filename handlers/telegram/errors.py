"""Errors become chat replies in one place (aiogram `examples/error_handling.py`)."""

from __future__ import annotations

import logging
from html import escape, unescape

from aiogram import Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import ExceptionMessageFilter, ExceptionTypeFilter
from aiogram.types import ErrorEvent

from trading.errors import TradingError
from trading.events import ErrorEvent as CoreError
from trading.events import EventBus

log = logging.getLogger(__name__)
MAX_REFUSAL = 1000


async def _reply(event: ErrorEvent, text: str) -> None:
    update = event.update
    if update.callback_query is not None:
        # A button's alert is plain text, not HTML: show `<` rather than `&lt;`.
        await update.callback_query.answer(unescape(text)[:200], show_alert=True)
    elif update.message is not None:
        await update.message.answer(text)


async def trading_error(event: ErrorEvent) -> None:
    assert isinstance(event.exception, TradingError)
    message = event.exception.user_message
    if len(message) > MAX_REFUSAL:  # it may quote what was typed: stay under Telegram's 4096
        message = message[:MAX_REFUSAL] + "…"
    await _reply(event, f"⚠️ {escape(message)}")


async def not_modified(event: ErrorEvent) -> None:
    """Pressing a button that changes nothing: not an error."""
    if event.update.callback_query is not None:
        await event.update.callback_query.answer()


async def bad_request(event: ErrorEvent) -> None:
    log.warning("telegram refused a reply update=%s: %s", event.update.update_id, event.exception)
    if "too long" in str(event.exception):
        await _reply(event, "⚠️ That answer is too long for one message; ask for fewer rows.")


async def unexpected(event: ErrorEvent, events: EventBus) -> None:
    log.error(
        "telegram handler failed update=%s",
        event.update.update_id,
        exc_info=event.exception,
    )
    events.publish(CoreError(where="telegram", message=type(event.exception).__name__))
    await _reply(event, "❗ Something went wrong; it has been logged.")


def router() -> Router:
    r = Router(name=__name__)
    r.errors.register(trading_error, ExceptionTypeFilter(TradingError))
    r.errors.register(not_modified, ExceptionMessageFilter(r".*message is not modified"))
    r.errors.register(bad_request, ExceptionTypeFilter(TelegramBadRequest))
    r.errors.register(unexpected)
    return r
