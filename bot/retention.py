"""Retention of `webhook_logs` (SPEC §3 `TRADEBOT_WEBHOOK_LOG_RETENTION_DAYS`): rows older than
the setting are deleted at start-up and then every hour, so the log cannot grow without bound.
Rows of alerts still running or awaiting approval are kept. An alert id older than the retention
is forgotten with its row: the same id sent again after that long trades again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.resources import ASSEMBLY
from trading.ports import AlertLogStore, Stores

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0


async def prune_once(alerts: AlertLogStore, days: int) -> int:
    removed = await alerts.prune_webhook_logs(datetime.now(UTC) - timedelta(days=days))
    if removed:
        log.info("webhook log retention removed=%d older_than_days=%d", removed, days)
    return removed


async def _prune(stores: Stores, days: int) -> None:
    try:
        await prune_once(stores.alerts, days)
    except stores.unavailable as exc:  # the next hour tries again
        log.warning("webhook log retention skipped: %s", type(exc).__name__)


async def _prune_hourly(stores: Stores, days: int) -> None:
    while True:
        await asyncio.sleep(PRUNE_EVERY)
        await _prune(stores, days)


async def retention_context(app: web.Application) -> AsyncIterator[None]:
    """The first pass before the first request is served (one DELETE), then one an hour."""
    assembly = app[ASSEMBLY]
    days = assembly.settings.webhook_log_retention_days
    if not days:
        yield
        return
    await _prune(assembly.stores, days)
    task = asyncio.create_task(_prune_hourly(assembly.stores, days), name="webhook-log-retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def equity_context(app: web.Application) -> AsyncIterator[None]:
    """`equity_snapshots` every hour (SPEC §6a), at the top of the hour, where the monitor runs
    (periodic jobs run there); fills sample their currency themselves in every process
    (`trading.equity_recorder`), and the samples still running finish before the database
    closes at shutdown."""
    assembly = app[ASSEMBLY]
    recorder = assembly.equity
    task = None
    if assembly.settings.monitor_enabled:
        task = asyncio.create_task(recorder.run_hourly(), name="equity-hourly")
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await recorder.drain()
