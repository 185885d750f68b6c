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
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.assembly import assemble
from bot.config import Settings
from bot.leadership_runtime import LEADERSHIP, leadership_context, setup_leadership, while_leading
from bot.resources import ASSEMBLY, broker_context, database_context, install
from bot.retention import setup_periodic_jobs
from handlers.web import health
from handlers.web.inputs import add_routes, add_unmatched
from handlers.web.keys import STATUS
from trading.brokers.base import BaseBroker
from trading.monitor import Monitor
from trading.price_feed import feed_source

if TYPE_CHECKING:  # aiogram is imported only where Telegram is on (it costs ~165 MB)
    from aiogram import Bot

    from handlers.telegram.notifier import TelegramNotifier

log = logging.getLogger(__name__)

MONITOR = web.AppKey("monitor", Monitor)
NOTIFIER_TELEGRAM: web.AppKey[Bot] = web.AppKey("monitor_notifier_telegram")


def setup_monitor(app: web.Application) -> None:
    """Run the assembly's monitor, and its price feed (`TRADEBOT_PRICE_FEED=ccxt`) with it, as
    a duty of the leader (`bot.leadership_runtime`); none: say where it runs instead."""
    status = app[STATUS]
    assembly = app[ASSEMBLY]
    monitor = assembly.monitor
    leadership = app[LEADERSHIP]
    status.prices = prices_status(assembly.settings, monitor)
    if assembly.price_feed is not None and monitor is not None:
        status.prices_probe = while_leading(
            leadership, assembly.price_feed.health, {**status.prices, **STANDBY_PRICES}
        )
    if monitor is None:
        status.monitor = {
            "status": "off",
            "detail": "not in this process (TRADEBOT_MONITOR_ENABLED=false or serve "
            "--no-monitor): run `tradebot monitor` as its own service",
        }
        log.info("position monitor off in this process")
        return
    app[MONITOR] = monitor
    status.monitor_probe = while_leading(leadership, monitor.health, STANDBY_MONITOR)
    leadership.add(MonitorDuty(monitor))
    app.cleanup_ctx.append(_price_feed)


STANDBY_MONITOR = {"status": "ok", "detail": "standing by: the leader runs the monitor"}
STANDBY_PRICES = {"status": "ok", "detail": "standing by: the leader polls the price feed"}


class MonitorDuty:
    """The monitor while this process leads: its index loaded from the database (a new leader
    sees every position, whoever opened it), its loop as a task (restarted with backoff when it
    crashes); stopped, it lets running closes finish and stores the trailing peaks."""

    name = "position monitor"

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self.monitor.load()
        except Exception:
            # The loop loads it again (with backoff) and reports; start-up is not held.
            self.monitor.loaded = False
            log.exception("monitor could not load its positions")
        self._task = asyncio.create_task(self.monitor.run(), name="position-monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.monitor.close()


async def _price_feed(app: web.Application) -> AsyncIterator[None]:
    """The feed's client is closed at shutdown only: a leader that stands by and leads again
    polls on the same client."""
    yield
    feed = app[ASSEMBLY].price_feed
    if feed is not None:
        await feed.close()


def prices_status(settings: Settings, monitor: Monitor | None) -> dict[str, Any]:
    """`/health`'s `prices` check where no feed runs in this process: where prices come from."""
    if settings.price_feed == "ccxt":
        return {
            "status": "off",
            "source": feed_source(settings.ccxt_exchange),
            "detail": "the price feed runs with the position monitor, not in this process "
            "(`tradebot monitor`)",
        }
    detail = "prices come with alerts (TRADEBOT_PRICE_FEED=alerts)"
    if monitor is not None and monitor.tickers is not None:
        detail += f" and the {settings.broker} broker's tickers"
    return {"status": "ok", "source": "alerts", "detail": detail}


# ---------------------------------------------------------------- `tradebot monitor`


def create_monitor_app(
    settings: Settings, *, broker: BaseBroker | None = None, telegram: Bot | None = None
) -> web.Application:
    """The monitor alone: `/health` and `/metrics`, closes reported in Telegram (`telegram`, an
    aiogram Bot, replaces the one the settings would build)."""
    app = web.Application()
    install(app, assemble(settings, broker=broker, monitor=True))
    setup_leadership(app, settings, can_lead=True)
    if telegram is not None:
        app[NOTIFIER_TELEGRAM] = telegram
    app.cleanup_ctx.append(database_context)
    app.cleanup_ctx.append(broker_context)
    setup_notifier(app)
    setup_monitor(app)
    setup_periodic_jobs(app)
    app.cleanup_ctx.append(leadership_context)  # last: its duties stop first at shutdown
    add_routes(app, health.routes)
    add_unmatched(app)
    return app


MONITOR_NOTIFIER: web.AppKey[TelegramNotifier] = web.AppKey("monitor_notifier")
OWN_NOTIFIER_TELEGRAM = web.AppKey("monitor_owns_notifier_telegram", bool)


def setup_notifier(app: web.Application) -> None:
    """Send-only Telegram: the web process runs the chat; this one only reports. Built with the
    app, so that on PostgreSQL its relay is one of the leader's duties (`bot.notifications`)."""
    assembly = app[ASSEMBLY]
    telegram = app.get(NOTIFIER_TELEGRAM)
    if telegram is None and not assembly.settings.telegram_enabled:
        app[STATUS].telegram = {"status": "off", "detail": "TRADEBOT_TELEGRAM_TOKEN is empty"}
        return
    from bot.notifications import install_notifications
    from bot.telegram_runtime import make_telegram_bot
    from handlers.telegram.notifier import TelegramNotifier

    if telegram is None:
        app[NOTIFIER_TELEGRAM] = telegram = make_telegram_bot(assembly.settings)
        app[OWN_NOTIFIER_TELEGRAM] = True
    notifier = TelegramNotifier(telegram, assembly.access.recipients)
    app[MONITOR_NOTIFIER] = notifier
    install_notifications(app, notifier)
    app.cleanup_ctx.append(_notifications)


async def _notifications(app: web.Application) -> AsyncIterator[None]:
    notifier = app[MONITOR_NOTIFIER]
    await notifier.start()
    app[STATUS].telegram = {"status": "ok", "detail": "notifications only (monitor process)"}
    try:
        yield
    finally:
        await notifier.stop(timeout=5.0)
        if app.get(OWN_NOTIFIER_TELEGRAM):
            await notifier.telegram.session.close()


def run_monitor(
    settings: Settings,
    app: web.Application | None = None,
    sockets: list[socket.socket] | None = None,
) -> None:
    """`tradebot monitor`: serve /health on TRADEBOT_HOST:TRADEBOT_PORT until interrupted. `app`:
    built beforehand (`create_monitor_app`), so that a bad setting (a TradingError naming it)
    stops the command before anything else is done; `sockets`: already bound (the CLI binds
    first, so a busy port is one line and the banner shows the real address)."""
    app = app or create_monitor_app(settings)
    if sockets:
        web.run_app(app, sock=sockets, print=None, access_log=None)
    else:
        web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
