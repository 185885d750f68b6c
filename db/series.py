"""Price bars in `price_bars`: the stored form of `trading.series.PriceSeries`, and the fills a
chart marks on them.

The table is the source of truth for price series: a process rebuilds its in-memory series from
it after a restart, and several processes stay in agreement by reading each other's bars here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tortoise.exceptions import IntegrityError

from db.models import PositionEntry, PriceBar
from trading.series import Bar


def _bar(row: PriceBar) -> Bar:
    return Bar(
        open_time=row.open_time,
        open=row.open,
        high=row.high,
        low=row.low,
        close=row.close,
        volume=row.volume,
        closed=row.closed,
    )


async def save_bar(symbol: str, interval: str, bar: Bar, source: str = "alert") -> None:
    """Insert or update the bar of (symbol, interval, open time); safe against a concurrent
    writer of the same bar (the unique index decides, the second writer updates)."""
    values = {
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "closed": bar.closed,
        "source": source,
    }
    key = {"symbol": symbol, "interval": interval, "open_time": bar.open_time}
    if await PriceBar.filter(**key).update(**values):
        return
    try:
        await PriceBar.create(**key, **values)
    except IntegrityError:
        await PriceBar.filter(**key).update(**values)


async def load_bars(symbol: str, interval: str, limit: int) -> list[Bar]:
    """The newest `limit` closed bars, oldest first, then the forming bar if it is newer."""
    rows = (
        await PriceBar.filter(symbol=symbol, interval=interval, closed=True)
        .order_by("-open_time")
        .limit(limit)
    )
    bars = [_bar(row) for row in reversed(rows)]
    forming = (
        await PriceBar.filter(symbol=symbol, interval=interval, closed=False)
        .order_by("-open_time")
        .first()
    )
    if forming is not None and (not bars or forming.open_time > bars[-1].open_time):
        bars.append(_bar(forming))
    return bars


async def closed_bars_after(symbol: str, interval: str, after: datetime | None) -> list[Bar]:
    """Closed bars newer than `after`, oldest first (what another process stored meanwhile)."""
    query = PriceBar.filter(symbol=symbol, interval=interval, closed=True)
    if after is not None:
        query = query.filter(open_time__gt=after)
    return [_bar(row) for row in await query.order_by("open_time")]


async def prune_bars(symbol: str, interval: str, keep: int) -> int:
    """Delete all but the newest `keep` bars of a series; return how many went."""
    cutoff = (
        await PriceBar.filter(symbol=symbol, interval=interval)
        .order_by("-open_time")
        .offset(keep)
        .first()
        .values_list("open_time", flat=True)
    )
    if cutoff is None:
        return 0
    return await PriceBar.filter(symbol=symbol, interval=interval, open_time__lte=cutoff).delete()


async def intervals_of(symbol: str) -> list[tuple[str, int]]:
    """Intervals stored for a symbol with their number of closed bars, most bars first."""
    rows = await PriceBar.filter(symbol=symbol, closed=True).values_list("interval", flat=True)
    counts: dict[str, int] = {}
    for interval in rows:
        counts[interval] = counts.get(interval, 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


@dataclass(frozen=True, slots=True)
class ChartFill:
    """One fill on a position, as a chart marks it."""

    time: datetime
    kind: str  # open | add | reduce | close
    side: str  # buy | sell
    qty: Decimal
    price: Decimal
    bot: str
    reason: str


async def fills_between(
    symbol: str, start: datetime, end: datetime | None = None, bot: str | None = None
) -> list[ChartFill]:
    """Entries and exits of `symbol` (of one bot, or all) from `start` on, oldest first."""
    query = PositionEntry.filter(symbol=symbol, created_at__gte=start)
    if end is not None:
        query = query.filter(created_at__lte=end)
    if bot is not None:
        query = query.filter(bot__name=bot)
    rows = await query.order_by("created_at", "id").prefetch_related("bot")
    return [
        ChartFill(
            time=row.created_at,
            kind=row.kind,
            side=row.side,
            qty=row.qty,
            price=row.price,
            bot=row.bot.name,
            reason=row.reason,
        )
        for row in rows
    ]
