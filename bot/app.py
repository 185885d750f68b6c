"""The app factory used by `tradebot serve` and by the tests alike.

Resources are `cleanup_ctx` entries, set up in order and torn down in reverse: the database is up
before anything that trades, and closed after background executions have drained.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from tortoise import Tortoise

from bot.config import Settings
from bot.keys import BROKER, EVENTS, INTAKE, METRICS, SETTINGS, STATUS, TRADING
from bot.metrics import Metrics
from bot.notifier import TelegramNotifier
from bot.status import Status
from db import repo
from db.config import tortoise_config
from handlers.web import api, health, tradingview
from trading.brokers.base import BaseBroker
from trading.brokers.factory import create_broker
from trading.events import Event, EventBus, Lifecycle
from trading.intake import WebhookIntake
from trading.service import TradingService

log = logging.getLogger(__name__)

TELEGRAM_BOT = web.AppKey("telegram_bot", Bot)


def make_telegram_bot(settings: Settings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        settings.telegram_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode="HTML"),
    )


def create_app(
    settings: Settings, *, bot: Bot | None = None, broker: BaseBroker | None = None
) -> web.Application:
    """The whole product on one aiohttp app. `bot` and `broker` replace the ones the settings
    would build (tests pass a Bot pointed at a fake Bot API, or a broker that is slow)."""
    app = web.Application(client_max_size=1024 * 1024)
    metrics = Metrics()
    events = EventBus()
    events.subscribe(metrics)
    broker = broker or create_broker(
        settings.broker,
        ledger=repo.DbPaperLedger(),
        fee_bps=settings.paper_fee_bps,
        slippage_bps=settings.paper_slippage_bps,
        initial_balance=settings.paper_balance,
    )
    trading = TradingService(broker, events)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[EVENTS] = events
    app[BROKER] = broker
    app[TRADING] = trading
    app[INTAKE] = WebhookIntake(trading, events, answer_timeout=settings.webhook_answer_timeout)
    app[STATUS] = Status()
    if bot is not None:
        app[TELEGRAM_BOT] = bot

    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_broker)
    app.cleanup_ctx.append(_telegram)
    app.cleanup_ctx.append(_background_alerts)
    app.add_routes(tradingview.routes)
    app.add_routes(api.routes)
    app.add_routes(health.routes)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    await Tortoise.init(config=tortoise_config(app[SETTINGS].database_url))
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def _broker(app: web.Application) -> AsyncIterator[None]:
    broker = app[BROKER]
    await broker.start()
    try:
        yield
    finally:
        await broker.close()


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


async def _background_alerts(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[INTAKE].drain()
