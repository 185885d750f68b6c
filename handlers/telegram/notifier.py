"""Events to Telegram: a queue and one sender task, so sending never blocks trading.

Flood control (`TelegramRetryAfter`) waits as told and sends the same message again; network
and server errors back off and retry; a chat that has blocked us is skipped. Refusals are
grouped: at most one message per bot per minute; those held back are counted into one summary
when the minute is over (or at shutdown), so none is lost and none is spammed.

Approval cards are remembered (chat, message) in a card store (the database's, so that whichever
process sends the resolution edits them: `trading.outbox`) so that when the alert is approved,
rejected or expires every copy of the card is edited to say so and loses its buttons.

Events come either straight from the bus (`publish`, one process on SQLite) or from the leader's
notification relay (`deliver`, which returns once the event is sent, grouped or given up on).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup
from aiogram.types import Message as TgMessage

from handlers.telegram.formatting.events import format_event
from handlers.telegram.keyboards import approval_keyboard, sync_keyboard
from trading.access import Destination
from trading.control_events import ApprovalRequested, ApprovalResolved, OutOfSync
from trading.events import AlertRefused, Event, WebhookRefused
from trading.outbox import ApprovalCardStore, MemoryApprovalCards
from trading.tasks import finish_task

log = logging.getLogger(__name__)

GROUP_WINDOW = 60.0
MAX_NETWORK_RETRIES = 8
RETRY_BASE = 0.2  # seconds; doubled at each retry, at most 30 (about 50 s for all 8)
MAX_RETRY_AFTER = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalSummary(Event):
    """Refusals held back by grouping, told in one message."""

    bot: str
    count: int
    last_reason: str

    @property
    def kind(self) -> str:
        return "refused"


@dataclass(frozen=True, slots=True)
class Card:
    text: str
    markup: InlineKeyboardMarkup | None = None


def render_event(event: Event) -> Card | None:
    if isinstance(event, RefusalSummary):
        return Card(
            f"⛔ {event.count} more refused · {escape(event.bot)} in the last minute\n"
            f"Last: {escape(event.last_reason)} · /alerts"
        )
    text = format_event(event)
    if text is None:
        return None
    if isinstance(event, ApprovalRequested):
        return Card(text, approval_keyboard(event.webhook_log_id))
    if isinstance(event, OutOfSync):
        return Card(text, sync_keyboard(event.bot_id, event.symbol, event.expected))
    return Card(text)


@dataclass(slots=True)
class _Outgoing:
    chat_id: int
    text: str
    thread_id: int | None = None
    markup: InlineKeyboardMarkup | None = None
    edit_message_id: int | None = None


@dataclass(slots=True)
class _Queued:
    event: Event
    done: asyncio.Future[bool] | None = None


def _settle(queued: _Queued, handled: bool) -> None:
    if queued.done is not None and not queued.done.done():
        queued.done.set_result(handled)


@dataclass(slots=True)
class _Held:
    count: int = 0
    last_reason: str = ""
    timer: asyncio.TimerHandle | None = None
    window_start: float = field(default_factory=time.monotonic)


class TelegramNotifier:
    def __init__(
        self,
        telegram: Bot,
        recipients: Callable[[Event], Awaitable[list[Destination]]],
        *,
        render: Callable[[Event], Card | None] = render_event,
        group_window: float = GROUP_WINDOW,
        cards: ApprovalCardStore | None = None,
        retry_base: float = RETRY_BASE,
    ) -> None:
        self.telegram = telegram
        self.retry_base = retry_base  # seconds before the first retry after a network error
        self.recipients = recipients
        self.render = render
        self.group_window = group_window
        # Where approval cards were sent; the composition root gives the database's.
        self.cards: ApprovalCardStore = cards or MemoryApprovalCards()
        self._events: asyncio.Queue[_Queued | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self._refusals: dict[str, _Held] = {}
        self._gave_up = False  # the event being handled could not reach Telegram

    def publish(self, event: Event) -> None:
        if self._admit(event):
            self._events.put_nowait(_Queued(event))

    async def deliver(self, event: Event) -> bool:
        """Send the event (or count it into a refusal summary) and return once done with it:
        True, or False when it was not handled: the notifier is not running, or Telegram could
        not be reached after every retry (the outbox keeps the row for a later try; a chat that
        refused it is done with it)."""
        if not self._accepting:
            return False
        if not self._admit(event):
            return True
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._events.put_nowait(_Queued(event, done))
        return await done

    async def start(self) -> None:
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="telegram-notifier")

    async def stop(self, timeout: float = 5.0) -> None:
        """Tell what grouping held back, send what is queued (bounded by `timeout`), stop."""
        if self._task is None:
            return
        self._accepting = False
        for key in list(self._refusals):
            self._flush(key)
        self._events.put_nowait(None)
        await finish_task(self._task, timeout)
        self._task = None
        while not self._events.empty():  # not sent in time: whoever waits hears so
            queued = self._events.get_nowait()
            if queued is not None:
                _settle(queued, False)

    # ------------------------------------------------------------ grouping of refusals

    def _admit(self, event: Event) -> bool:
        """Whether to send a refusal now; at most one per bot per window, the rest counted."""
        if not isinstance(event, AlertRefused | WebhookRefused):
            return True
        key = event.bot or "unknown key"
        now = time.monotonic()
        held = self._refusals.get(key)
        if held is None or now - held.window_start >= self.group_window:
            if held is not None:
                self._flush(key)
            self._refusals[key] = _Held(window_start=now)
            return True
        held.count += 1
        held.last_reason = event.reason
        if held.timer is None:
            delay = max(0.0, held.window_start + self.group_window - now)
            held.timer = asyncio.get_running_loop().call_later(delay, self._flush, key)
        return False

    def _flush(self, key: str) -> None:
        held = self._refusals.get(key)
        if held is None or not held.count:
            return
        if held.timer is not None:
            held.timer.cancel()
        self._events.put_nowait(
            _Queued(RefusalSummary(bot=key, count=held.count, last_reason=held.last_reason))
        )
        # The summary opens a new window: the next refusal waits for it to pass.
        self._refusals[key] = _Held(window_start=time.monotonic())

    # ------------------------------------------------------------ sending

    async def _run(self) -> None:
        while True:
            queued = await self._events.get()
            if queued is None:
                return
            self._gave_up = False
            try:
                await self._handle(queued.event)
            except asyncio.CancelledError:
                _settle(queued, False)
                raise
            except Exception:
                log.exception("notification failed kind=%s", queued.event.kind)
            _settle(queued, not self._gave_up)

    async def _handle(self, event: Event) -> None:
        if isinstance(event, ApprovalResolved):
            await self._close_cards(event)
        card = self.render(event)
        if card is None or isinstance(event, ApprovalResolved):
            return
        sent: list[tuple[int, int]] = []
        for destination in await self.recipients(event):
            message = await self._deliver(
                _Outgoing(destination.chat_id, card.text, destination.thread_id, card.markup)
            )
            if message is not None:
                sent.append((message.chat.id, message.message_id))
        if isinstance(event, ApprovalRequested) and sent:
            await self.cards.remember(event.webhook_log_id, sent)

    async def _close_cards(self, event: ApprovalResolved) -> None:
        card = self.render(event)
        for chat_id, message_id in await self.cards.take(event.webhook_log_id):
            if card is not None:
                await self._deliver(_Outgoing(chat_id, card.text, edit_message_id=message_id))

    async def _deliver(self, message: _Outgoing) -> TgMessage | None:
        attempt = 0
        while True:
            try:
                if message.edit_message_id is not None:
                    result = await self.telegram.edit_message_text(
                        text=message.text,
                        chat_id=message.chat_id,
                        message_id=message.edit_message_id,
                    )
                    return result if isinstance(result, TgMessage) else None
                sent = await self.telegram.send_message(
                    message.chat_id,
                    message.text,
                    message_thread_id=message.thread_id,
                    reply_markup=message.markup,
                )
                return sent
            except TelegramRetryAfter as exc:
                log.warning(
                    "telegram flood control chat=%s retry_after=%s",
                    message.chat_id,
                    exc.retry_after,
                )
                await asyncio.sleep(min(float(exc.retry_after), MAX_RETRY_AFTER))
            except (TelegramNetworkError, TelegramServerError) as exc:
                attempt += 1
                if attempt > MAX_NETWORK_RETRIES:
                    log.error(
                        "telegram send gave up chat=%s: %s", message.chat_id, type(exc).__name__
                    )
                    self._gave_up = True
                    return None
                await asyncio.sleep(min(30.0, self.retry_base * 2 ** (attempt - 1)))
            except (TelegramForbiddenError, TelegramBadRequest) as exc:
                if "not modified" in exc.message:
                    return None
                log.warning("telegram refused message chat=%s: %s", message.chat_id, exc.message)
                return None
