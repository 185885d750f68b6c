"""The dashboard's live feed (`trading.dashboard_feed`): pages joining and leaving at any moment
each keep a loop that tells them changes; a change made by another process (seen only by
reading) reaches them; events that change nothing on the page wake nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from trading.control import ControlService
from trading.dashboard_feed import DashboardFeed
from trading.events import ErrorEvent, PositionClosed
from trading.reports import ReportService


class Storage:
    """What the feed reads, as another process would change it (plain lists; each read yields
    to the loop, as a database read does)."""

    def __init__(self) -> None:
        self.open: list[dict[str, Any]] = []
        self.reads = 0

    async def positions(self) -> list[Any]:
        self.reads += 1
        await asyncio.sleep(0)
        return [Row(p) for p in self.open]

    async def bots(self) -> list[Any]:
        return []

    async def recent_alerts(self, limit: int) -> list[Any]:
        return []

    async def trades(self, limit: int) -> list[Any]:
        return []


class Row:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def model_dump(self, mode: str) -> dict[str, Any]:
        return dict(self.data)


def closed_event() -> PositionClosed:
    now = datetime.now(UTC)
    one = Decimal(1)
    return PositionClosed(
        bot="demo", symbol="BTCUSDT", quote="USDT", side="long", qty=one, entry_price=one,
        exit_price=one, pnl=Decimal(0), fees=Decimal(0), entries=1, opened_at=now,
        closed_at=now, reason="signal",
    )  # fmt: skip


def feed_on(storage: Storage) -> DashboardFeed:
    return DashboardFeed(cast(ControlService, storage), cast(ReportService, storage), refresh=0.05)


async def next_positions(watcher: Any) -> list[dict[str, Any]]:
    async with asyncio.timeout(5):
        while True:
            for name, data in await watcher.next():
                if name == "positions":
                    return data


async def test_a_page_arriving_as_the_last_one_leaves_still_gets_changes() -> None:
    storage = Storage()
    feed = feed_on(storage)

    async def glance() -> None:
        async with feed.watch():
            pass

    async def watch() -> list[dict[str, Any]]:
        async with feed.watch() as watcher:
            assert await next_positions(watcher) == []
            storage.open = [{"id": 1}]  # another process opened a position
            return await next_positions(watcher)

    _, told = await asyncio.gather(glance(), watch())
    assert told == [{"id": 1}]
    assert feed.watching == 0


async def test_many_pages_share_one_loop_and_it_stops_with_the_last() -> None:
    storage = Storage()
    feed = feed_on(storage)
    async with feed.watch() as first, feed.watch() as second:
        await next_positions(first)
        await next_positions(second)
        storage.open = [{"id": 7}]
        assert await next_positions(first) == await next_positions(second) == [{"id": 7}]
        assert feed.running
    assert not feed.running  # nobody watches: nothing is read


async def test_an_error_event_wakes_nothing_and_close_ends_every_watcher() -> None:
    storage = Storage()
    feed = feed_on(storage)
    async with feed.watch() as watcher:
        await next_positions(watcher)
        feed.publish(ErrorEvent(where="test", message="boom"))
        assert feed.pending == frozenset()  # nothing on the page to read again
        feed.publish(closed_event())
        assert {"trades", "overview", "equity"} <= feed.pending
        await feed.close()
        assert watcher.closed and await watcher.next() == []
