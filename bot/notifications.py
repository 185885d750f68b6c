"""How a process's events reach its Telegram notifier (SPEC §8, §11).

On SQLite (one process, or `serve --no-monitor` with `tradebot monitor` beside it) the notifier is
subscribed to the process's own bus, as ever: each process tells what it did. On PostgreSQL,
where several processes trade, each notification is sent once: every process writes what is worth
a message to the `notifications` outbox, and the leader's "notification relay" duty sends the rows
in order (`trading.outbox`). Either way, approval cards are kept in the database, so whichever
process resolves an approval edits every copy of its card.

`install_notifications(app, notifier)` is called while the app is built (by the Telegram runtime
of `serve` and by `tradebot monitor`), before the leadership starts.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from bot.leadership_runtime import LEADERSHIP
from bot.resources import ASSEMBLY
from db.config import dialect
from db.notifications import SqlApprovalCards, SqlOutbox
from trading.outbox import NotificationRelay, OutboxWriter

if TYPE_CHECKING:  # aiogram only where Telegram is on
    from handlers.telegram.notifier import TelegramNotifier

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Relaying:
    """The outbox's two ends in this process (PostgreSQL)."""

    writer: OutboxWriter
    relay: NotificationRelay


RELAYING = web.AppKey("notification_relaying", Relaying)


def process_name() -> str:
    """host:pid, in the outbox rows a process writes and in the leader's notice."""
    return f"{socket.gethostname()}:{os.getpid()}"


def install_notifications(app: web.Application, notifier: TelegramNotifier) -> None:
    assembly = app[ASSEMBLY]
    settings = assembly.settings
    notifier.cards = SqlApprovalCards()
    if dialect(settings.database_url) == "sqlite":
        assembly.events.subscribe(notifier)
        return
    origin = process_name()
    outbox = SqlOutbox()
    relay = NotificationRelay(
        outbox, notifier, origin=origin, cards=notifier.cards, detail=f"broker {settings.broker}"
    )
    writer = OutboxWriter(outbox, origin=origin, written=relay.wake)
    assembly.events.subscribe(writer)
    app[RELAYING] = Relaying(writer=writer, relay=relay)
    app[LEADERSHIP].add(relay)
    app.cleanup_ctx.append(_outbox_writer)


async def _outbox_writer(app: web.Application) -> AsyncIterator[None]:
    """Up while anything may publish; what is queued is written before the database closes."""
    writer = app[RELAYING].writer
    await writer.start()
    try:
        yield
    finally:
        await writer.stop(timeout=5.0)
        log.info("notification outbox writer stopped stored=%d", writer.stored)
