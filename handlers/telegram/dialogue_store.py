"""Dialogues (aiogram FSM state) whose store may stop answering (Redis down or unreachable).

aiogram's FSM middleware reads the chat's state before every update, so a store that raises
would turn every message into an error. `GuardedStorage` keeps the chat answering instead:
reading the state gives `UNAVAILABLE` (a state no handler waits for), so commands that need
no dialogue still work; anything that must read or write a dialogue raises
`DialoguesUnavailable`, which the chat's error handler turns into a polite reply (no parked
action runs without its state: a second factor that cannot be asked for is refused). After a
failure the store is left alone for `cool_off` seconds, so one update waits at most one store
timeout, and the outage is logged once, as is the recovery.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.types import CallbackQuery, Message

from handlers.telegram.callbacks import NewBotCb
from trading.errors import TradingError

log = logging.getLogger(__name__)

T = TypeVar("T")

UNAVAILABLE = "tradebot:dialogues-unavailable"
COOL_OFF = 2.0  # seconds without trying a store that just failed
DOWN = (
    "Dialogues are unavailable right now (Redis is not answering). "
    "Commands without questions, like /positions or /status, still work; try again in a minute."
)
ANSWER_NOT_TAKEN = (
    "⚠️ I cannot read where your dialogue is (Redis is not answering), so that answer was not "
    "taken.\nCommands without questions, like /positions or /status, still work; send it again "
    "in a minute."
)


class DialoguesUnavailable(TradingError):
    """The dialogue store did not answer: nothing of the dialogue was read or changed."""

    def __init__(self) -> None:
        super().__init__(DOWN)


class GuardedStorage(BaseStorage):
    """`inner`, with its `failures` (e.g. RedisError, OSError) turned into the behaviour above."""

    def __init__(
        self,
        inner: BaseStorage,
        failures: tuple[type[BaseException], ...],
        *,
        cool_off: float = COOL_OFF,
    ) -> None:
        self.inner = inner
        self.failures = failures
        self.cool_off = cool_off
        self._retry_at = 0.0
        self._down_since: float | None = None
        self._down_at = datetime.now(UTC)

    async def _guard(self, call: Callable[[], Awaitable[T]]) -> T:
        if time.monotonic() < self._retry_at:
            raise DialoguesUnavailable
        try:
            result = await call()
        except self.failures as exc:
            now = time.monotonic()
            self._retry_at = now + self.cool_off
            if self._down_since is None:
                self._down_since, self._down_at = now, datetime.now(UTC)
                log.warning(
                    "dialogue store unavailable (%s): dialogues paused, other commands answered",
                    type(exc).__name__,
                )
            raise DialoguesUnavailable from exc
        if self._down_since is not None:
            log.info(
                "dialogue store answers again after %.0f s", time.monotonic() - self._down_since
            )
            self._down_since = None
        return result

    def health(self) -> dict[str, str]:
        """A `/health` check: how the store answered when last used (not pinged for it)."""
        if self._down_since is None:
            return {"status": "ok", "detail": "dialogues kept"}
        return {
            "status": "down",
            "detail": f"not answering since {self._down_at:%H:%M} UTC; dialogues paused",
        }

    async def get_state(self, key: StorageKey) -> str | None:
        try:
            return await self._guard(lambda: self.inner.get_state(key))
        except DialoguesUnavailable:
            return UNAVAILABLE

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._guard(lambda: self.inner.set_state(key, state))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return await self._guard(lambda: self.inner.get_data(key))

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._guard(lambda: self.inner.set_data(key, data))

    async def close(self) -> None:
        await self.inner.close()


async def answer_not_taken(message: Message, addressed_elsewhere: bool = False) -> None:
    """Plain text while the state cannot be read: it may be a dialogue's answer; say it was
    not taken rather than "send a command" (group talk not meant for us stays unanswered)."""
    if not addressed_elsewhere:
        await message.answer(ANSWER_NOT_TAKEN)


async def choice_not_taken(query: CallbackQuery) -> None:
    """A /newbot choice button while the state cannot be read: the question is not over."""
    await query.answer(DOWN[:200], show_alert=True)


def router() -> Router:
    """Before the features' routers: in the UNAVAILABLE state these answers come first."""
    r = Router(name=__name__)
    unreadable = StateFilter(UNAVAILABLE)
    r.message.register(answer_not_taken, unreadable, F.text, ~F.text.startswith("/"))
    r.callback_query.register(choice_not_taken, unreadable, NewBotCb.filter())
    return r
