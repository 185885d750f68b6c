"""The app factory used by `tradebot serve` and by the tests alike.

Resources are `cleanup_ctx` entries, set up in order and torn down in reverse: the database is up
before anything that trades, and closed after background executions have drained.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator

from aiogram import Bot
from aiohttp import web
from tortoise import Tortoise

from bot.config import Settings
from bot.logs import install_redaction, settings_secrets
from bot.monitor_runtime import setup_monitor
from bot.retention import retention_context
from bot.telegram_runtime import TELEGRAM_BOT, setup_telegram
from db import repo
from db.config import tortoise_config
from handlers.status import Status
from handlers.web import api, health, tradingview
from handlers.web.keys import BROKER, EVENTS, INTAKE, METRICS, SETTINGS, STATUS, TRADING
from handlers.web.metrics import Metrics
from trading.brokers.base import BaseBroker
from trading.brokers.ccxt_config import CcxtConfig
from trading.brokers.factory import create_broker
from trading.errors import TradingError
from trading.events import ErrorEvent, EventBus
from trading.intake import RateLimits, WebhookIntake
from trading.ratelimit import Limiter, TokenBuckets
from trading.recovery import AlertRecovery
from trading.service import TradingService
from trading.strategy_runner import StrategyRunner

log = logging.getLogger(__name__)


def create_app(
    settings: Settings, *, bot: Bot | None = None, broker: BaseBroker | None = None
) -> web.Application:
    """The whole product on one aiohttp app. `bot` and `broker` replace the ones the settings
    would build (tests pass a Bot pointed at a fake Bot API, or a broker that is slow)."""
    # Secrets never reach a log whole, whoever logs them and however logging is set up.
    install_redaction(settings_secrets(settings))
    app = web.Application(client_max_size=1024 * 1024)
    metrics = Metrics()
    events = EventBus()
    events.subscribe(metrics)
    broker = broker or build_broker(settings)
    # With an exchange behind it, a price series starts from the exchange's candles.
    candles = broker if hasattr(broker, "fetch_candles") else None
    trading = TradingService(
        broker,
        events,
        claim_ttl=settings.monitor_claim_ttl,
        strategies=StrategyRunner(candles=candles),  # type: ignore[arg-type]
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[EVENTS] = events
    app[BROKER] = broker
    app[TRADING] = trading
    app[INTAKE] = WebhookIntake(
        trading,
        events,
        answer_timeout=settings.webhook_answer_timeout,
        limiter=build_limiter(settings, metrics),
        limits=RateLimits(
            key_rate=settings.webhook_rate_per_key,
            key_burst=settings.webhook_burst_per_key,
            ip_rate=settings.webhook_rate_per_ip,
            ip_burst=settings.webhook_burst_per_ip,
        ),
        trusted_proxies=settings.trusted_proxies,
        ip_allowlist=settings.webhook_ip_allowlist,
        require_client_cert=settings.webhook_require_client_cert,
    )
    app[STATUS] = Status()
    if bot is not None:
        app[TELEGRAM_BOT] = bot

    app.cleanup_ctx.append(database_context)
    app.cleanup_ctx.append(broker_context)
    setup_telegram(app)
    # After Telegram: on shutdown the monitor stops (its last closes reported) before Telegram.
    setup_monitor(app)
    app.cleanup_ctx.append(reconcile_context)
    app.cleanup_ctx.append(recovery_context)
    app.cleanup_ctx.append(_background_alerts)
    app.cleanup_ctx.append(retention_context)
    app.add_routes(tradingview.routes)
    app.add_routes(api.routes)
    app.add_routes(health.routes)
    return app


def build_limiter(settings: Settings, metrics: Metrics) -> Limiter:
    """Rate-limit buckets in Redis when it is configured (one budget for every process), else in
    this process."""
    if not settings.redis_url:
        return TokenBuckets()
    from redis.asyncio import Redis

    from db.limits import RedisBuckets

    client = Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
    # One namespace per database: processes of one deployment share buckets, others do not.
    namespace = hashlib.sha256(settings.database_url.encode()).hexdigest()[:12]
    return RedisBuckets(
        client, on_error=metrics.errors.labels("ratelimit_store").inc, namespace=namespace
    )


def build_broker(settings: Settings) -> BaseBroker:
    return create_broker(
        settings.broker,
        ledger=repo.DbPaperLedger(),
        fee_bps=settings.paper_fee_bps,
        slippage_bps=settings.paper_slippage_bps,
        initial_balance=settings.paper_balance,
        ccxt=CcxtConfig(
            exchange=settings.ccxt_exchange,
            api_key=settings.ccxt_api_key.get_secret_value(),
            secret=settings.ccxt_secret.get_secret_value(),
            password=settings.ccxt_password.get_secret_value(),
            sandbox=settings.ccxt_sandbox,
            api_url=settings.ccxt_api_url,
            options=settings.ccxt_options,
        ),
    )


async def database_context(app: web.Application) -> AsyncIterator[None]:
    await Tortoise.init(config=tortoise_config(app[SETTINGS].database_url))
    # Tortoise keeps connections in context variables, and shutdown may run in another task's
    # context: hold the client opened here and close that very one.
    connection = Tortoise.get_connection("default")
    await repo.ping()
    try:
        yield
    finally:
        await connection.close()
        await Tortoise.close_connections()


async def broker_context(app: web.Application) -> AsyncIterator[None]:
    broker = app[BROKER]
    await broker.start()
    try:
        yield
    finally:
        await broker.close()


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
    recovery = AlertRecovery(app[TRADING], app[EVENTS])
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
