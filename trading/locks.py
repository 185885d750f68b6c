"""Per-key mutual exclusion for trade decisions (one bot and symbol at a time).

In one process an asyncio lock per key; across processes the database's conditional updates
and unique constraints keep positions right (see `trading.ports.OrderStore.record_fill`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class ArrivalOrder:
    """Alerts on one key are planned in the order they arrived, also when some must be planned
    again (their position was busy): once an alert has had to wait, the alerts that came after
    it on the same key plan only after it is final. Without it a later alert whose retry pause
    was shorter could overtake an earlier one (a `close` sent after a `buy` executing first).
    Alerts that never wait keep pipelining: nobody waits for an alert that has not failed."""

    def __init__(self) -> None:
        self._waiting: dict[str, dict[int, bool]] = {}  # key -> {ticket: has had to wait}
        self._next = 0
        self._changed = asyncio.Condition()

    def enter(self, key: str) -> int:
        self._next += 1
        self._waiting.setdefault(key, {})[self._next] = False
        return self._next

    def delayed(self, key: str, ticket: int) -> None:
        tickets = self._waiting.get(key)
        if tickets is not None and ticket in tickets:
            tickets[ticket] = True

    async def turn(self, key: str, ticket: int, timeout: float) -> bool:
        """Wait until no alert that arrived before `ticket` on `key` is waiting to plan again;
        False when that takes more than `timeout` seconds."""

        def clear() -> bool:
            tickets = self._waiting.get(key, {})
            return not any(delayed for t, delayed in tickets.items() if t < ticket)

        if clear():
            return True
        try:
            async with asyncio.timeout(max(0.0, timeout)), self._changed:
                await self._changed.wait_for(clear)
        except TimeoutError:
            return False
        return True

    async def leave(self, key: str, ticket: int) -> None:
        tickets = self._waiting.get(key)
        if tickets is None:
            return
        was_delayed = tickets.pop(ticket, False)
        if not tickets:
            del self._waiting[key]
        if was_delayed:
            async with self._changed:
                self._changed.notify_all()
