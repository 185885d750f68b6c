"""The position monitor in the web server's process, or alone (`tradebot monitor`).

In the server (`setup_monitor`, called by `create_app`) the monitor is a cleanup context: its
index is loaded from the database before the first request is served, its loop runs as a task
(restarted with backoff when it crashes, each crash published as an ErrorEvent), and on shutdown
it lets running closes finish and stores the trailing peaks before Telegram and the database go.

Alone (`create_monitor_app`, run by `tradebot monitor`) it is the same monitor on a small aiohttp
app that serves only `/health` and `/metrics`, with a send-only Telegram notifier. Alerts then
go to another process (run it with `tradebot serve --no-monitor`), so prices come from the
`instruments` table those processes write, polled every TRADEBOT_MONITOR_INTERVAL, and from the
broker's tickers when it has them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiogram import Bot
from aiohttp import web

from bot.config import Settings
from handlers.status import Status
from handlers.web.keys import BROKER, EVENTS, METRICS, SETTINGS, STATUS, TRADING
from handlers.web.metrics import Metrics
from trading.brokers.base import BaseBroker
from trading.events import EventBus, EventSink
from trading.monitor import Monitor, MonitorConfig, TickerSource, TickerStream
from trading.service import TradingService

log = logging.getLogger(__name__)

MONITOR = web.AppKey("monitor", Monitor)
NOTIFIER_BOT = web.AppKey("monitor_notifier_bot", Bot)


def monitor_config(settings: Settings) -> MonitorConfig:
    return MonitorConfig(
        price_max_age=settings.price_max_age,
        interval=settings.monitor_interval,
        resync_interval=settings.monitor_resync_interval,
        heartbeat_interval=settings.monitor_heartbeat_interval,
        retry_backoff=settings.monitor_retry_backoff,
        max_attempts=settings.monitor_max_attempts,
    )


def build_monitor(
    settings: Settings, trading: TradingService, events: EventSink, broker: BaseBroker
) -> Monitor:
    """A monitor wired to the service: alert prices and position changes reach it."""
    tickers = broker if isinstance(broker, TickerSource | TickerStream) else None
    monitor = Monitor(trading, events, monitor_config(settings), tickers=tickers)
    trading.watcher = monitor
    return monitor


def setup_monitor(app: web.Application) -> None:
    settings = app[SETTINGS]
    status = app[STATUS]
    if not settings.monitor_enabled:
        status.monitor = {
            "status": "off",
            "detail": "not in this process (TRADEBOT_MONITOR_ENABLED=false or serve "
            "--no-monitor): run `tradebot monitor` as its own service",
        }
        log.info("position monitor off in this process")
        return
    monitor = build_monitor(settings, app[TRADING], app[EVENTS], app[BROKER])
    app[MONITOR] = monitor
    status.monitor_probe = monitor.health
    app.cleanup_ctx.append(_monitor)


async def _monitor(app: web.Application) -> AsyncIterator[None]:
    monitor = app[MONITOR]
    try:
        await monitor.load()
    except Exception:
        # The loop loads it again (with backoff) and reports; start-up is not held.
        log.exception("monitor could not load its positions at start-up")
    task = asyncio.create_task(monitor.run(), name="position-monitor")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await monitor.close()


# ---------------------------------------------------------------- `tradebot monitor`


def create_monitor_app(
    settings: Settings, *, broker: BaseBroker | None = None, bot: Bot | None = None
) -> web.Application:
    """The monitor alone: `/health` and `/metrics`, closes reported in Telegram."""
    from bot.app import broker_context, build_broker, database_context
    from handlers.web import health

    app = web.Application()
    metrics = Metrics()
    events = EventBus()
    events.subscribe(metrics)
    broker = broker or build_broker(settings)
    trading = TradingService(broker, events, claim_ttl=settings.monitor_claim_ttl)
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[EVENTS] = events
    app[BROKER] = broker
    app[TRADING] = trading
    app[STATUS] = Status()
    if bot is not None:
        app[NOTIFIER_BOT] = bot
    app.cleanup_ctx.append(database_context)
    app.cleanup_ctx.append(broker_context)
    app.cleanup_ctx.append(_notifications)
    setup_monitor(app)
    app.add_routes(health.routes)
    return app


async def _notifications(app: web.Application) -> AsyncIterator[None]:
    """Send-only Telegram: the web process runs the chat; this one only reports."""
    settings = app[SETTINGS]
    status = app[STATUS]
    bot = app.get(NOTIFIER_BOT)
    own = bot is None
    if bot is None and not settings.telegram_enabled:
        status.telegram = {"status": "off", "detail": "TRADEBOT_TELEGRAM_TOKEN is empty"}
        yield
        return
    from bot.telegram_runtime import make_telegram_bot
    from handlers.telegram.notifier import TelegramNotifier
    from trading.access import AccessService

    bot = bot or make_telegram_bot(settings)
    notifier = TelegramNotifier(bot, AccessService(settings.telegram_admins).recipients)
    await notifier.start()
    app[EVENTS].subscribe(notifier)
    status.telegram = {"status": "ok", "detail": "notifications only (monitor process)"}
    try:
        yield
    finally:
        await notifier.stop(timeout=5.0)
        if own:
            await bot.session.close()


def run_monitor(settings: Settings) -> None:
    """`tradebot monitor`: serve /health on TRADEBOT_HOST:TRADEBOT_PORT until interrupted."""
    web.run_app(
        create_monitor_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
    )
