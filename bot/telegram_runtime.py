"""Telegram inside the web server's process: the Bot, the notifier and (later) the dispatcher.

`setup_telegram(app)` is called by `create_app` before the app is frozen, so it can add the
`/telegram/webhook` route and its own cleanup context.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web

from bot.config import Settings
from bot.keys import EVENTS, SETTINGS, STATUS
from bot.notifier import TelegramNotifier
from trading.events import Event, Lifecycle

log = logging.getLogger(__name__)

TELEGRAM_BOT = web.AppKey("telegram_bot", Bot)


def make_telegram_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        settings.telegram_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode="HTML"),
    )


def setup_telegram(app: web.Application) -> None:
    app.cleanup_ctx.append(_telegram)


async def _telegram(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    status = app[STATUS]
    if TELEGRAM_BOT not in app and not settings.telegram_enabled:
        log.info("telegram off: TRADEBOT_TELEGRAM_TOKEN is empty")
        yield
        return
    own_bot = TELEGRAM_BOT not in app
    bot = app[TELEGRAM_BOT] if not own_bot else make_telegram_bot(settings)
    admins = list(settings.telegram_admins)

    async def recipients(event: Event) -> list[int]:
        return admins

    notifier = TelegramNotifier(bot, recipients)
    await notifier.start()
    app[EVENTS].subscribe(notifier)
    status.telegram = {"status": "ok", "detail": f"notifying {len(admins)} owner(s)"}
    app[EVENTS].publish(Lifecycle(what="started", detail=f"broker {settings.broker}"))
    try:
        yield
    finally:
        app[EVENTS].publish(Lifecycle(what="stopping"))
        await notifier.stop()
        if own_bot:
            await bot.session.close()
