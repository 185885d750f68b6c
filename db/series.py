"""Price bars in `price_bars`: the stored form of `trading.series.PriceSeries`, and the fills a
chart marks on them.

The table is the source of truth for price series: a process rebuilds its in-memory series from
it after a restart, and several processes stay in agreement by reading each other's bars here.

A series belongs to one bot (SPEC §5: an alert's price moves the strategy of its own bot only):
rows are keyed (bot_id, symbol, interval, open_time). Rows with bot_id NULL were stored before
series were per bot; they are history for `/chart` and `/backtest`, never a strategy's input.

No reader returns a bar opening after now + `MAX_FUTURE`: such a row (stored by an older
version, before alerts' times were bounded) cannot poison a series, and `drop_future_bars`
deletes them when a series is loaded.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.functions import Count

from db.models import PositionEntry, PriceBar, TradingBot
from trading.records import ChartFill
from trading.series import Bar, future_limit, is_interval


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


def _owner(bot_id: int | None) -> dict[str, object]:
    return {"bot_id": bot_id} if bot_id is not None else {"bot_id__isnull": True}


class SqlSeriesStore:
    """`trading.ports.SeriesStore` on Tortoise."""

    async def save_bar(
        self, bot_id: int, symbol: str, interval: str, bar: Bar, source: str = "alert"
    ) -> None:
        """Insert or update the bar of (bot, symbol, interval, open time); safe against a concurrent
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
        key = {"bot_id": bot_id, "symbol": symbol, "interval": interval, "open_time": bar.open_time}
        if await PriceBar.filter(**key).update(**values):
            return
        try:
            await PriceBar.create(**key, **values)
        except IntegrityError:
            # A concurrent writer created it first: update that row. No row means the insert
            # failed for another reason, and the bar is not stored: say so.
            if not await PriceBar.filter(**key).update(**values):
                raise

    async def load_bars(
        self,
        bot_id: int | None,
        symbol: str,
        interval: str,
        limit: int,
        *,
        now: datetime | None = None,
    ) -> list[Bar]:
        """The newest `limit` closed bars of a series (bot_id None: the bars stored before series
        were per bot), oldest first, then the forming bar if it is newer. Bars opening after
        now + `MAX_FUTURE` are left out."""
        series = PriceBar.filter(
            **_owner(bot_id), symbol=symbol, interval=interval, open_time__lte=future_limit(now)
        )
        rows = await series.filter(closed=True).order_by("-open_time").limit(limit)
        bars = [_bar(row) for row in reversed(rows)]
        forming = await series.filter(closed=False).order_by("-open_time").first()
        if forming is not None and (not bars or forming.open_time > bars[-1].open_time):
            bars.append(_bar(forming))
        return bars

    async def closed_bars_after(
        self,
        bot_id: int,
        symbol: str,
        interval: str,
        after: datetime | None,
        *,
        now: datetime | None = None,
    ) -> list[Bar]:
        """Closed bars of a bot's series newer than `after`, oldest first (what another process
        stored meanwhile); none opening after now + `MAX_FUTURE`."""
        query = PriceBar.filter(
            bot_id=bot_id,
            symbol=symbol,
            interval=interval,
            closed=True,
            open_time__lte=future_limit(now),
        )
        if after is not None:
            query = query.filter(open_time__gt=after)
        return [_bar(row) for row in await query.order_by("open_time")]

    async def prune_bars(self, bot_id: int, symbol: str, interval: str, keep: int) -> int:
        """Delete all but the newest `keep` bars of a bot's series; return how many went."""
        series = PriceBar.filter(bot_id=bot_id, symbol=symbol, interval=interval)
        cutoff = (
            await series.order_by("-open_time")
            .offset(keep)
            .first()
            .values_list("open_time", flat=True)
        )
        if cutoff is None:
            return 0
        return await series.filter(open_time__lte=cutoff).delete()

    async def drop_future_bars(self, symbol: str, *, now: datetime | None = None) -> int:
        """Delete the bars of `symbol` (every bot's, and the old shared ones) opening after
        now + `MAX_FUTURE`: no real bar does, and one kept would make every later bar late."""
        return await PriceBar.filter(symbol=symbol, open_time__gt=future_limit(now)).delete()

    async def bot_id_of(self, name: str) -> int | None:
        """The id of the bot named `name` (not deleted), if there is one."""
        return (
            await TradingBot.filter(name=name, deleted_at=None).first().values_list("id", flat=True)
        )

    async def series_of(
        self, symbol: str, *, bot_id: int | None = None, interval: str | None = None
    ) -> list[tuple[int | None, str, int]]:
        """The stored series of a symbol (of one bot, or all, the old shared bars included) as
        (bot_id, interval, closed bars), most bars first. Series under a name that is no longer a
        valid interval, and bars opening in the future, are not counted."""
        query = PriceBar.filter(symbol=symbol, closed=True, open_time__lte=future_limit())
        if bot_id is not None:
            query = query.filter(bot_id=bot_id)
        if interval is not None:
            query = query.filter(interval=interval)
        rows = (
            await query.annotate(bars=Count("id"))
            .group_by("bot_id", "interval")
            .values_list("bot_id", "interval", "bars")
        )
        found = [(owner, name, int(bars)) for owner, name, bars in rows if is_interval(name)]
        return sorted(found, key=lambda row: (-row[2], row[0] is None, row[0] or 0, row[1]))

    async def fills_between(
        self, symbol: str, start: datetime, end: datetime | None = None, bot: str | None = None
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
