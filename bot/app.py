"""The app factory used by `tradebot serve` and by the tests alike.

Resources are `cleanup_ctx` entries, set up in order and torn down in reverse: the database is up
before anything that trades, and closed after background executions have drained.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from importlib import metadata
from typing import TYPE_CHECKING

from aiohttp import web

from bot.assembly import assemble
from bot.config import Settings
from bot.leadership_runtime import leadership_context, setup_leadership
from bot.logs import install_redaction, settings_secrets
from bot.monitor_runtime import setup_monitor
from bot.resources import ASSEMBLY, broker_context, database_context, install
from bot.retention import setup_periodic_jobs
from handlers.web import api, health, tradingview
from handlers.web.dashboard import setup_dashboard
from handlers.web.dashboard.keys import DashboardConfig
from handlers.web.inputs import add_routes, add_unmatched
from handlers.web.keys import EVENTS, INTAKE, STATUS, TRADING
from trading.brokers.base import BaseBroker
from trading.dashboard_feed import DashboardFeed
from trading.errors import TradingError
from trading.events import ErrorEvent

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)
VERSION = metadata.version("tradebot")


def create_app(
    settings: Settings,
    *,
    telegram: Bot | None = None,
    broker: BaseBroker | None = None,
    poll_always: bool = False,
) -> web.Application:
    """The whole product on one aiohttp app. `telegram` (aiogram's Bot) and `broker` replace the
    ones the settings would build (tests pass a Bot pointed at a fake Bot API, or a broker that
    is slow). `poll_always`: poll Telegram whether or not this process leads (`tradebot chat`
    polls a Bot API of its own)."""
    # Secrets never reach a log whole, whoever logs them and however logging is set up.
    install_redaction(settings_secrets(settings))
    app = web.Application(client_max_size=1024 * 1024)
    install(
        app,
        assemble(settings, broker=broker, webhooks=True, monitor=settings.monitor_enabled),
    )
    # On PostgreSQL, `serve --no-monitor` never leads (SPEC §11).
    setup_leadership(app, settings, can_lead=settings.monitor_enabled)

    app.cleanup_ctx.append(database_context)
    app.cleanup_ctx.append(broker_context)
    setup_chat(app, telegram, poll_always=poll_always)
    setup_monitor(app)
    app.cleanup_ctx.append(reconcile_context)
    app.cleanup_ctx.append(recovery_context)
    app.cleanup_ctx.append(_background_alerts)
    setup_periodic_jobs(app)
    app.cleanup_ctx.append(leadership_context)  # last: its duties stop first at shutdown
    add_routes(app, tradingview.routes)
    add_routes(app, api.routes)
    add_routes(app, health.routes)
    install_dashboard(app)
    add_unmatched(app)  # last: whatever no route above serves
    return app


def install_dashboard(app: web.Application) -> None:
    """`/app` (SPEC §10): the page, its JSON and its live stream, on the services of this
    process; the stream's feed hears this process's events."""
    assembly = app[ASSEMBLY]
    settings = assembly.settings
    feed = DashboardFeed(assembly.control, assembly.reports)
    assembly.events.subscribe(feed)
    setup_dashboard(
        app,
        assembly.dashboard_auth,
        feed,
        DashboardConfig(
            public_url=settings.public_url,
            telegram_token=settings.telegram_token.get_secret_value(),
            version=VERSION,
        ),
    )


def setup_chat(app: web.Application, telegram: Bot | None, *, poll_always: bool = False) -> None:
    """Telegram when a token is set (or a Bot is given). aiogram and the chat's handlers are
    imported only then: they add ~120 MB resident (aiogram's Bot API types), more than the rest
    of an idle server (`docs/benchmarks.md`, "Idle memory")."""
    settings = app[ASSEMBLY].settings
    if telegram is None and not settings.telegram_enabled:
        app[STATUS].telegram = {"status": "off", "detail": "TRADEBOT_TELEGRAM_TOKEN is empty"}
        log.info("telegram off: TRADEBOT_TELEGRAM_TOKEN is empty")
        return
    from bot.telegram_runtime import TELEGRAM_BOT, setup_telegram

    if telegram is not None:
        app[TELEGRAM_BOT] = telegram
    setup_telegram(app, poll_always=poll_always)


async def reconcile_context(app: web.Application) -> AsyncIterator[None]:
    """Orders a previous run left pending, and holdings, against the broker (SPEC §6). After
    Telegram and the monitor are up, so owners hear of it and the monitor sees the fills."""
    try:
        report, holdings = await app[TRADING].reconcile()
    except TradingError as exc:
        log.warning("start-up reconciliation skipped: %s", exc.user_message)
    else:
        findings = report.lines() + holdings.lines()
        if findings:
            log.warning("start-up reconciliation: %s", "; ".join(findings))
            app[EVENTS].publish(ErrorEvent(where="reconciliation", message="\n".join(findings)))
    yield


async def recovery_context(app: web.Application) -> AsyncIterator[None]:
    """Alerts a previous run stored but never finished: settled from their order, executed if
    still fresh, else rejected and reported (trading/recovery.py). After reconciliation, so
    pending orders it could settle are settled; before the first request is served."""
    recovery = app[ASSEMBLY].recovery
    assert recovery is not None  # built with the intake (`assemble(webhooks=True)`)
    try:
        await recovery.start()
    except Exception as exc:  # never keep the server down for it; the next start tries again
        log.exception("start-up alert recovery failed")
        app[EVENTS].publish(ErrorEvent(where="alert recovery", message=type(exc).__name__))
    yield
    await recovery.stop()


async def _background_alerts(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[INTAKE].drain()
    await app[INTAKE].close()
