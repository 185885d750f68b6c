"""What the dashboard's live stream tells its pages (SPEC §10): the open positions with their
unrealized PnL whenever they or their prices change, and which other parts to read again.

One loop per process, running only while at least one page watches. It reads the positions, the
latest trade, the latest alert and the bots' switches at most every `refresh` seconds and tells
the pages what changed; an event of this process (a fill, a pause) wakes it at once. Reading
instead of only listening is what makes a page connected to one process see what another process
did (SPEC §11) and prices move; the browser itself never polls.

Each watcher keeps only the latest positions and the set of changed topics, so a slow page costs
a bounded amount of memory, never a queue of stale updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from trading.control import ControlService
from trading.events import Event
from trading.reports import ReportService

log = logging.getLogger(__name__)

TOPICS = ("overview", "trades", "bots", "alerts", "equity")
# Which topics an event of this process changes (other events change none; the loop's own reads
# would find any change they made anyway).
EVENT_TOPICS: dict[str, frozenset[str]] = {
    "opened": frozenset({"overview", "equity", "alerts"}),
    "added": frozenset({"overview", "equity", "alerts"}),
    "reduced": frozenset({"overview", "equity", "trades", "alerts"}),
    "closed": frozenset({"overview", "equity", "trades", "alerts"}),
    "refused": frozenset({"alerts"}),
    "webhook_refused": frozenset({"alerts"}),
    "approval": frozenset({"alerts"}),
    "late": frozenset({"alerts"}),
    "order": frozenset({"alerts"}),
    "approval_resolved": frozenset({"alerts"}),
    "control": frozenset({"bots", "overview"}),
}
POSITION_KINDS = frozenset({"opened", "added", "reduced", "closed"})


@dataclass(slots=True, eq=False)  # compared and hashed by identity
class Watcher:
    """One page's pending updates: the latest positions (None: unchanged) and changed topics."""

    positions: list[dict[str, Any]] | None = None
    topics: set[str] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False  # the server is shutting down: end the stream

    async def next(self) -> list[tuple[str, Any]]:
        """Wait for something to tell, then take it: `("positions", [...])` and/or
        `("changed", {"topics": [...]})`."""
        await self.ready.wait()
        self.ready.clear()
        updates: list[tuple[str, Any]] = []
        if self.positions is not None:
            updates.append(("positions", self.positions))
            self.positions = None
        if self.topics:
            updates.append(("changed", {"topics": sorted(self.topics)}))
            self.topics = set()
        return updates

    def tell(self, positions: list[dict[str, Any]] | None, topics: set[str]) -> None:
        if positions is not None:
            self.positions = positions
        self.topics |= topics
        if self.positions is not None or self.topics:
            self.ready.set()


class DashboardFeed:
    """Subscribed to the event bus (`publish`); pages `watch()`."""

    def __init__(
        self, control: ControlService, reports: ReportService, *, refresh: float = 2.0
    ) -> None:
        self.control = control
        self.reports = reports
        self.refresh = refresh
        self._watchers: set[Watcher] = set()
        self._wake = asyncio.Event()
        self._dirty: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[str, Any] = {}

    # ------------------------------------------------------------ the event bus

    def publish(self, event: Event) -> None:
        """Wake the loop for an event that changes what pages show (errors, start-up and other
        notices change nothing there)."""
        topics = EVENT_TOPICS.get(event.kind)
        if not self._watchers or topics is None:
            return
        self._dirty |= topics
        self._wake.set()

    # ------------------------------------------------------------ pages

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncIterator[Watcher]:
        """A watcher told the current positions at once, then every change until the block
        ends."""
        watcher = Watcher()
        positions = await self._positions()
        watcher.tell(positions, set())
        self._watchers.add(watcher)
        if self._task is None or self._task.done():
            self._seen = {"positions": positions}  # the rest is read on the first tick
            self._task = asyncio.create_task(self._run(), name="dashboard feed")
        try:
            yield watcher
        finally:
            self._watchers.discard(watcher)
            if not self._watchers and self._task is not None:
                # Taken before any await: a page arriving meanwhile starts a loop of its own.
                task, self._task = self._task, None
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    @property
    def watching(self) -> int:
        return len(self._watchers)

    @property
    def running(self) -> bool:
        """The loop is alive (it is only while a page watches)."""
        return self._task is not None and not self._task.done()

    @property
    def pending(self) -> frozenset[str]:
        """The topics events have marked for the loop's next pass."""
        return frozenset(self._dirty)

    async def close(self) -> None:
        """At shutdown: every watcher is told to end (a stream must not hold the server up)."""
        for watcher in self._watchers:
            watcher.closed = True
            watcher.ready.set()
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------ the loop

    async def _run(self) -> None:
        failing = False
        while self._watchers:
            try:
                await self._tick()
                failing = False
            except Exception as exc:  # storage away: the pages keep what they have
                if not failing:  # once per outage, not every tick
                    log.warning("dashboard feed cannot read (%s); retrying", type(exc).__name__)
                failing = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh)
            self._wake.clear()

    async def _tick(self) -> None:
        topics, self._dirty = self._dirty, set()
        positions = await self._positions()
        now = {
            "positions": positions,
            "trades": [t.id for t in await self.reports.trades(1)],
            "alerts": [(a.id, a.status, a.repeats) for a in await self.control.recent_alerts(1)],
            "bots": [(b.id, b.name, b.paused) for b in await self.control.bots()],
        }
        seen, self._seen = self._seen, now
        if "trades" in seen and now["trades"] != seen["trades"]:
            topics |= {"trades", "overview", "equity"}
        if "alerts" in seen and now["alerts"] != seen["alerts"]:
            topics.add("alerts")
        if "bots" in seen and now["bots"] != seen["bots"]:
            topics |= {"bots", "overview"}
        changed = positions != seen["positions"]
        if changed:
            topics |= {"overview", "equity"}
        for watcher in list(self._watchers):
            watcher.tell(positions if changed else None, topics)

    async def _positions(self) -> list[dict[str, Any]]:
        return [p.model_dump(mode="json") for p in await self.control.positions()]
