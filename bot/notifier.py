"""Events to Telegram: a queue and one sender task, so sending never blocks trading.

Flood control (`TelegramRetryAfter`) waits as told and sends the same message again; network
errors back off and retry; a chat that blocked the bot is skipped. Refusals are grouped: at most
one message per bot per minute, the rest counted into the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.formatting import format_event
from trading.events import AlertRefused, Event, WebhookRefused

log = logging.getLogger(__name__)

GROUP_WINDOW = 60.0
MAX_NETWORK_RETRIES = 8


@dataclass(slots=True)
class _Outgoing:
    chat_id: int
    text: str


class TelegramNotifier:
    def __init__(
        self,
        bot: Bot,
        recipients: Callable[[Event], Awaitable[list[int]]],
        *,
        group_window: float = GROUP_WINDOW,
    ) -> None:
        self.bot = bot
        self.recipients = recipients
        self.group_window = group_window
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._last_refusal: dict[str, float] = {}
        self._held_back: dict[str, int] = {}
        self.sent = 0
        self.failed = 0

    def publish(self, event: Event) -> None:
        self._events.put_nowait(event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="telegram-notifier")

    async def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (bounded by `timeout`), then stop."""
        if self._task is None:
            return
        self._events.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def _group(self, event: Event) -> tuple[bool, int]:
        """(send now?, refusals held back since the last message) for refusal events."""
        if not isinstance(event, AlertRefused | WebhookRefused):
            return True, 0
        key = event.bot or "?"
        now = time.monotonic()
        last = self._last_refusal.get(key)
        if last is not None and now - last < self.group_window:
            self._held_back[key] = self._held_back.get(key, 0) + 1
            return False, 0
        self._last_refusal[key] = now
        return True, self._held_back.pop(key, 0)

    async def _run(self) -> None:
        while True:
            event = await self._events.get()
            if event is None:
                return
            try:
                send, held = self._group(event)
                text = format_event(event) if send else None
                if not text:
                    continue
                if held:
                    text += f"\n(+{held} more refused in the last minute)"
                for chat_id in await self.recipients(event):
                    await self._deliver(_Outgoing(chat_id, text))
            except Exception:
                log.exception("notification failed kind=%s", event.kind)

    async def _deliver(self, message: _Outgoing) -> None:
        attempt = 0
        while True:
            try:
                await self.bot.send_message(message.chat_id, message.text)
                self.sent += 1
                return
            except TelegramRetryAfter as exc:
                log.warning(
                    "telegram flood control chat=%s retry_after=%s",
                    message.chat_id,
                    exc.retry_after,
                )
                await asyncio.sleep(exc.retry_after)
            except (TelegramNetworkError, TelegramServerError) as exc:
                attempt += 1
                if attempt > MAX_NETWORK_RETRIES:
                    self.failed += 1
                    log.error(
                        "telegram send gave up chat=%s: %s", message.chat_id, type(exc).__name__
                    )
                    return
                await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
            except (TelegramForbiddenError, TelegramBadRequest) as exc:
                self.failed += 1
                log.warning("telegram refused message chat=%s: %s", message.chat_id, exc.message)
                return
