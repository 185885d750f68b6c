"""What every app of this product holds, whichever process it is (`tradebot serve` or `tradebot
monitor`): its `Assembly` under typed app keys, and the database and broker as cleanup contexts
(set up in order, torn down in reverse)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web
from tortoise import Tortoise

from bot.assembly import Assembly
from db.config import tortoise_config
from handlers.status import Status
from handlers.web.keys import (
    BROKER,
    CONTROL,
    EVENTS,
    INTAKE,
    METRICS,
    REPORTS,
    RISK,
    STATUS,
    STORAGE_UNAVAILABLE,
    TRADING,
    WEB,
)

ASSEMBLY = web.AppKey("assembly", Assembly)


def install(app: web.Application, assembly: Assembly) -> None:
    """The assembly under its own key (for `bot/`), and the parts HTTP handlers read under
    theirs (handlers never see the settings or the stores)."""
    app[ASSEMBLY] = assembly
    app[WEB] = assembly.web
    app[METRICS] = assembly.metrics
    app[EVENTS] = assembly.events
    app[BROKER] = assembly.broker
    app[TRADING] = assembly.trading
    app[CONTROL] = assembly.control
    app[REPORTS] = assembly.reports
    app[RISK] = assembly.risk
    app[STORAGE_UNAVAILABLE] = assembly.stores.unavailable
    app[STATUS] = Status()
    if assembly.intake is not None:
        app[INTAKE] = assembly.intake


async def database_context(app: web.Application) -> AsyncIterator[None]:
    assembly = app[ASSEMBLY]
    await Tortoise.init(config=tortoise_config(assembly.settings.database_url))
    # Tortoise keeps connections in context variables, and shutdown may run in another task's
    # context: hold the client opened here and close that very one.
    connection = Tortoise.get_connection("default")
    await assembly.stores.health.ping()
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
