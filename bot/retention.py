"""Retention of `webhook_logs` (SPEC §3 `TRADEBOT_WEBHOOK_LOG_RETENTION_DAYS`): rows older than
the setting are deleted at start-up and then every hour, so the log cannot grow without bound.
Rows of alerts still running or awaiting approval are kept. An alert id older than the retention
is forgotten with its row: the same id sent again after that long trades again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.leadership_runtime import LEADERSHIP
from bot.resources import ASSEMBLY
from trading.approvals import ApprovalService
from trading.dashboard_auth import DashboardAuth
from trading.leadership import TaskDuty
from trading.ports import AlertLogStore, Stores

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0
APPROVAL_SWEEP = 30.0  # seconds between the leader's sweeps of overdue approvals


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
    """The first pass before the first request is served (one DELETE, in every process), then
    one an hour on the leader (`bot.leadership_runtime`)."""
    assembly = app[ASSEMBLY]
    days = assembly.settings.webhook_log_retention_days
    if days:
        await _prune(assembly.stores, days)
    yield


async def _forget_expired_sessions(auth: DashboardAuth) -> None:
    """Dashboard sign-in links and sessions past their expiry are deleted (they are refused
    anyway; this keeps the tables small)."""
    while True:
        try:
            await auth.forget_expired()
        except Exception as exc:  # the next hour tries again
            log.warning("dashboard session clean-up skipped: %s", type(exc).__name__)
        await asyncio.sleep(PRUNE_EVERY)


async def expire_approvals(approvals: ApprovalService, every: float = APPROVAL_SWEEP) -> None:
    """Approval cards whose alert is past its bot's max_lag expire even when the process that
    asked for the approval is gone (that process also expires its own on time)."""
    while True:
        await asyncio.sleep(every)
        try:
            await approvals.expire_overdue()
        except Exception as exc:
            log.warning("approval expiry sweep failed: %s", type(exc).__name__)


def setup_periodic_jobs(app: web.Application) -> None:
    """The leader's periodic jobs: the sweep of overdue approvals, log retention, and the equity
    sample where the monitor runs (SPEC §6a); every process's own fills still sample their
    currency, and the samples still running finish before the database closes at shutdown
    (`equity_context`)."""
    assembly = app[ASSEMBLY]
    leadership = app[LEADERSHIP]
    leadership.add(TaskDuty("approval expiry", lambda: expire_approvals(assembly.approvals)))
    days = assembly.settings.webhook_log_retention_days
    if days:
        leadership.add(
            TaskDuty("webhook log retention", lambda: _prune_hourly(assembly.stores, days))
        )
    leadership.add(
        TaskDuty("dashboard sessions", lambda: _forget_expired_sessions(assembly.dashboard_auth))
    )
    if assembly.settings.monitor_enabled:
        leadership.add(TaskDuty("equity hourly", assembly.equity.run_hourly))
    app.cleanup_ctx.append(retention_context)
    app.cleanup_ctx.append(equity_context)


async def equity_context(app: web.Application) -> AsyncIterator[None]:
    """The equity samples of fills still running finish before the database closes."""
    yield
    await app[ASSEMBLY].equity.drain()
