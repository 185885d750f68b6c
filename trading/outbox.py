"""Notifications sent once, whichever process published the event (SPEC §11).

On PostgreSQL several processes trade, but one sends to Telegram: every process writes the events
worth a message to an outbox table (`OutboxWriter`, an `EventBus` subscriber: `publish` is sync,
so it queues and a task writes batches), and the leader's duty `NotificationRelay` reads the rows
in id order, hands each to its sender (the Telegram notifier: grouping and flood control as in
one process) and marks it sent once the sender is done with it. A new leader continues from the
first unsent row. Delivery is exactly once while the leader lives; a leader that dies between
sending a message and marking its row makes the next leader send that one message again.

Approval cards are remembered in the database too (`ApprovalCardStore`), so whichever process
resolves an approval, the copies of its card are edited once, by the process that sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from trading import event_codec
from trading.access import notify_kind
from trading.control_events import ApprovalResolved
from trading.events import Event, Lifecycle
from trading.tasks import finish_task

log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5  # seconds between the relay's looks at the outbox when nothing wakes it
BATCH = 50  # rows read at a time
KEEP_SENT = timedelta(days=1)  # sent rows kept this long (what went out, for an operator)
KEEP_CARDS = timedelta(days=7)  # approval cards never resolved are forgotten after this
MAX_AGE = timedelta(days=1)  # unsent rows older than this are dropped, not sent late
PRUNE_EVERY = 3600.0  # seconds between the relay's retention passes
MAX_PENDING = 10_000  # events a writer holds while the database does not answer


# ---------------------------------------------------------------- ports


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One stored notification: the event's class name and fields (`trading.event_codec`)."""

    id: int
    type: str
    payload: dict[str, Any]
    created_at: datetime
    origin: str = ""


class Outbox(Protocol):
    """The `notifications` table."""

    async def append(self, origin: str, records: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Store events (class name, fields) in this order, unsent, in one statement."""
        ...

    async def unsent(self, limit: int) -> list[OutboxRow]:
        """The oldest unsent rows, in id order."""
        ...

    async def mark_sent(self, ids: Sequence[int]) -> None: ...

    async def forget_sent(self, before: datetime) -> int:
        """Delete rows sent before `before`; how many."""
        ...


class ApprovalCardStore(Protocol):
    """Where each approval card was sent (chat, message), by the alert's webhook log id."""

    async def remember(self, webhook_log_id: int, messages: Sequence[tuple[int, int]]) -> None: ...

    async def take(self, webhook_log_id: int) -> list[tuple[int, int]]:
        """The card's copies, forgotten as they are returned (each is edited once)."""
        ...

    async def forget_before(self, before: datetime) -> int: ...


class MemoryApprovalCards:
    """`ApprovalCardStore` in this process's memory (a notifier built without the database)."""

    def __init__(self) -> None:
        self._cards: dict[int, list[tuple[int, int]]] = {}

    async def remember(self, webhook_log_id: int, messages: Sequence[tuple[int, int]]) -> None:
        self._cards.setdefault(webhook_log_id, []).extend(messages)

    async def take(self, webhook_log_id: int) -> list[tuple[int, int]]:
        return self._cards.pop(webhook_log_id, [])

    async def forget_before(self, before: datetime) -> int:
        return 0


class Sender(Protocol):
    """What the relay hands events to (the Telegram notifier)."""

    async def deliver(self, event: Event) -> bool:
        """Send (or group) the event and return once done with it; False when the sender is
        not running, so the event was not handled."""
        ...


def worth_relaying(event: Event) -> bool:
    """Whether the event goes to the outbox: those that make a message (or edit one), except a
    process's own start and stop (the relay tells which process leads instead)."""
    if isinstance(event, Lifecycle):
        return False
    return notify_kind(event) is not None or isinstance(event, ApprovalResolved)


# ---------------------------------------------------------------- every process: the writer


class OutboxWriter:
    """Subscribed to a process's bus: events worth a message go to the outbox, in batches, in
    the order they were published. `written` is called after each batch (the relay of this very
    process is woken by it, instead of waiting for its next look)."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        origin: str,
        written: Callable[[], None] | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.outbox = outbox
        self.origin = origin
        self.written = written
        self.max_pending = max_pending
        self.stored = 0
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0
        self._closing = False

    def publish(self, event: Event) -> None:
        if not worth_relaying(event):
            return
        if len(self._pending) >= self.max_pending:
            self._pending.pop(0)
            self._dropped += 1
        self._pending.append(event)
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notification-outbox-writer")

    async def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued (bounded by `timeout`), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        self._wake.set()
        await finish_task(task, timeout)
        if self._pending:
            log.warning("notification outbox: %d events not stored at shutdown", len(self._pending))

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._write_pending()
            if self._closing:
                return

    async def _write_pending(self) -> None:
        delay = 0.5
        while self._pending:
            if self._dropped:
                log.error("notification outbox full: %d oldest events dropped", self._dropped)
                self._dropped = 0
            # Taken out while written: what `publish` drops when full is never one in flight.
            batch, self._pending[:200] = self._pending[:200], []
            records = []
            for event in batch:
                try:
                    records.append(event_codec.to_record(event))
                except Exception:
                    log.exception("notification not encodable kind=%s", event.kind)
            try:
                if records:
                    await self.outbox.append(self.origin, records)
            except BaseException as exc:
                self._pending[:0] = batch  # first again, in order
                if not isinstance(exc, Exception):
                    raise
                log.warning(
                    "notification outbox write failed (%d queued), retrying in %.1f s: %s",
                    len(self._pending),
                    delay,
                    type(exc).__name__,
                )
                await asyncio.sleep(delay)
                delay = min(10.0, delay * 2)
                continue
            self.stored += len(records)
            delay = 0.5
            if self.written is not None:
                self.written()


# ---------------------------------------------------------------- the leader: the relay


class NotificationRelay:
    """The leader's duty: the outbox's unsent rows, in id order, to the sender; each marked sent
    once the sender is done with it. Tells when it starts and stops leading (one message per
    hand-over, where each process used to say it started)."""

    name = "notification relay"

    def __init__(
        self,
        outbox: Outbox,
        sender: Sender,
        *,
        origin: str,
        cards: ApprovalCardStore | None = None,
        detail: str = "",
        poll: float = POLL_INTERVAL,
        batch: int = BATCH,
        keep_sent: timedelta = KEEP_SENT,
        max_age: timedelta = MAX_AGE,
    ) -> None:
        self.outbox = outbox
        self.sender = sender
        self.origin = origin
        self.cards = cards
        self.detail = detail
        self.poll = poll
        self.batch = batch
        self.keep_sent = keep_sent
        self.max_age = max_age
        self.relayed = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._pruned_at = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="notification-relay")

    async def stop(self, timeout: float = 5.0) -> None:
        """Finish the row being sent (bounded by `timeout`), then say this process stops
        leading."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        await finish_task(task, timeout)
        await self._announce("stopping", f"{self.origin} stops leading")

    async def _announce(self, what: str, detail: str) -> None:
        try:
            await asyncio.wait_for(self.sender.deliver(Lifecycle(what=what, detail=detail)), 5.0)
        except Exception as exc:
            log.warning("notification relay: %s notice not sent: %s", what, type(exc).__name__)

    async def _run(self) -> None:
        log.info("notification relay started origin=%s", self.origin)
        await self._announce(
            "started", " · ".join(part for part in (f"{self.origin} leads", self.detail) if part)
        )
        failures = 0
        while not self._stopping:
            try:
                await self._prune_now_and_then()
                rows = await self.outbox.unsent(self.batch)
                failures = 0
            except Exception as exc:  # the database is away: look again later
                failures += 1
                if failures == 1:
                    log.warning("notification relay cannot read the outbox: %s", exc)
                await self._sleep(min(10.0, self.poll * 2**failures))
                continue
            if not rows:
                await self._sleep(self.poll)
                continue
            for row in rows:
                try:
                    if self._stopping or not await self._relay(row):
                        break
                except Exception:  # never let one row stop the relay for good
                    log.exception("notification relay failed id=%d type=%s", row.id, row.type)
                    await self._sleep(self.poll)
                    break

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _relay(self, row: OutboxRow) -> bool:
        """One row to the sender, then marked; False to read the outbox again later."""
        age = datetime.now(UTC) - row.created_at
        event: Event | None = None
        if age > self.max_age:
            log.warning("notification dropped id=%d type=%s: %s old", row.id, row.type, age)
        else:
            try:
                event = event_codec.from_record(row.type, row.payload)
            except Exception as exc:
                log.error("notification unreadable id=%d type=%s: %s", row.id, row.type, exc)
        if event is not None and not await self.sender.deliver(event):
            await self._sleep(self.poll)  # the sender is not running (yet, or any more)
            return False
        delay = self.poll
        while True:  # sent: mark it, or the next leader sends it again
            try:
                await self.outbox.mark_sent([row.id])
                break
            except Exception as exc:
                log.warning("notification id=%d not marked sent: %s", row.id, type(exc).__name__)
                if self._stopping:
                    return False
                await self._sleep(delay)
                delay = min(10.0, delay * 2)
        self.relayed += 1
        return True

    async def _prune_now_and_then(self) -> None:
        now = time.monotonic()
        if self._pruned_at and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        removed = await self.outbox.forget_sent(datetime.now(UTC) - self.keep_sent)
        cards = 0
        if self.cards is not None:
            cards = await self.cards.forget_before(datetime.now(UTC) - KEEP_CARDS)
        if removed or cards:
            log.info("notification retention removed=%d cards=%d", removed, cards)
