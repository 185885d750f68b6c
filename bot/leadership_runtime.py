"""Leadership in a `serve` or `monitor` app (SPEC §11, `trading.leadership`).

`setup_leadership(app, can_lead=...)` is called first when an app is built; the parts that only
the leader may run register their duties with `app[LEADERSHIP].add(...)` while the app is built,
and `leadership_context`, appended after every other cleanup context, starts the election once
everything it may start is up (and, at shutdown, stops the duties first, while the database and
Telegram are still there for their last words).

Who takes part: on PostgreSQL, `serve` and `tradebot monitor` (`can_lead`); `serve
--no-monitor` never leads. On SQLite there is no election: each process leads in what it runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot.config import Settings
from db.config import dialect
from handlers.web.keys import EVENTS, STATUS
from trading.events import EventBus
from trading.leadership import LeaderLock, Leadership, SoleLock

log = logging.getLogger(__name__)

LEADERSHIP = web.AppKey("leadership", Leadership)


def make_leadership(settings: Settings, events: EventBus, *, can_lead: bool) -> Leadership:
    lock: LeaderLock | None
    why_not = ""
    if dialect(settings.database_url) == "sqlite":
        lock = SoleLock()
    elif can_lead:
        from db.leader_lock import AdvisoryLock

        lock = AdvisoryLock(settings.database_url, interval=settings.leader_interval)
    else:
        lock = None
        why_not = "serve --no-monitor (TRADEBOT_MONITOR_ENABLED=false)"
    return Leadership(lock, events=events, interval=settings.leader_interval, why_not=why_not)


def setup_leadership(app: web.Application, settings: Settings, *, can_lead: bool) -> Leadership:
    leadership = make_leadership(settings, app[EVENTS], can_lead=can_lead)
    app[LEADERSHIP] = leadership
    app[STATUS].leader_probe = leadership.health
    return leadership


async def leadership_context(app: web.Application) -> AsyncIterator[None]:
    """Append after every other cleanup context."""
    leadership = app[LEADERSHIP]
    await leadership.start()
    try:
        yield
    finally:
        await leadership.stop()


def while_leading(leadership: Leadership, probe: Any, standby: dict[str, Any]) -> Any:
    """A `/health` probe that reads `probe()` while this process leads and says `standby`
    (healthy: status ok) while another process does the work."""

    def read() -> dict[str, Any]:
        return probe() if leadership.leading else dict(standby)

    return read
