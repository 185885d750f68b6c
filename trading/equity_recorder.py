"""`equity_snapshots` on every fill and every hour (SPEC §6a), off the alert's path.

Every stored fill publishes its position events (opened, added, reduced, closed) with its quote
currency; the recorder samples that currency's equity right after, in the background, at most
five times a second per currency: fills that land while a sample is written, or less than 0.2 s
after the last one, are covered by one more sample when that time is up (a burst of fills gives
one sample after the last of them, not one per fill, which a busy account cannot afford). The
entry check never waits for a sample: it takes the equity now, and the peak as the highest of
the samples and of that. Every hour, at the top of the hour (so a snapshot falls on
`daily_reset_hour` and the day's starting equity is exact), every currency is sampled; a
`max_drawdown` reached then trips the kill switch even when no entry comes to find it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from trading.account_book import AccountBook
from trading.events import Event, PositionAdded, PositionClosed, PositionOpened, PositionReduced
from trading.risk import Amount, drawdown_refusal

log = logging.getLogger(__name__)

FILL_EVENTS = (PositionOpened, PositionAdded, PositionReduced, PositionClosed)
# Fill samples of one currency are at least this many seconds apart; the fills of a burst are
# covered by one sample after the last of them.
MIN_INTERVAL = 0.2


class EquityRecorder:
    """An event subscriber (`EventBus.subscribe`) and the hourly sampler."""

    def __init__(
        self,
        book: AccountBook,
        *,
        trip: Callable[[str, datetime], Awaitable[None]] | None = None,
        min_interval: float = MIN_INTERVAL,
    ) -> None:
        self.book = book
        self.trip = trip  # RiskGate.trip (async (reason, now)); None: no kill switch here
        self.min_interval = min_interval
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._last: dict[str, float] = {}  # quote -> loop time of its last fill sample
        self._hurry = asyncio.Event()  # set by `drain`: samples waiting their turn go now

    def publish(self, event: Event) -> None:
        if not isinstance(event, FILL_EVENTS):
            return
        quote = event.quote
        if quote in self._running:
            self._again.add(quote)
            return
        self._running[quote] = asyncio.get_running_loop().create_task(
            self._sample(quote), name=f"equity-snapshot-{quote}"
        )

    async def _sample(self, quote: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                wait = self._last.get(quote, -1e18) + self.min_interval - loop.time()
                if wait > 0 and not self._hurry.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._hurry.wait(), wait)
                self._again.discard(quote)
                self._last[quote] = loop.time()
                try:
                    await self.book.snapshot(quote, datetime.now(UTC), "fill")
                except Exception as exc:  # the next fill or hour samples again
                    log.warning("equity snapshot failed quote=%s: %s", quote, type(exc).__name__)
                if quote not in self._again:
                    return
        finally:
            self._running.pop(quote, None)

    async def drain(self) -> None:
        """Take the samples due now, without waiting their turn (shutdown, tests)."""
        self._hurry.set()
        try:
            while self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)
        finally:
            self._hurry.clear()

    async def hourly(self, now: datetime | None = None) -> int:
        """Sample every currency; trip the kill switch where `max_drawdown` is reached."""
        now = now or datetime.now(UTC)
        state = await self.book.stores.account_state()
        limit = state.rules.max_drawdown
        trip = self.trip if isinstance(limit, Amount) and not state.kill_switch.on else None
        quotes = await self.book.stores.quotes()
        for quote in quotes:
            snapshot, peak = await self.book.sample(quote, now, "hourly")
            if trip is not None and (
                found := drawdown_refusal(limit, snapshot.equity, peak, quote)
            ):
                await trip(found.reason, now)
                trip = None  # once
        return len(quotes)

    async def run_hourly(self) -> None:
        """Forever: a sample at start, then at the top of every hour."""
        while True:
            try:
                await self.hourly()
            except Exception as exc:
                log.warning("hourly equity snapshot failed: %s", type(exc).__name__)
            now = datetime.now(UTC)
            top = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            await asyncio.sleep((top - now).total_seconds())
