"""`ReportService`: closed trades and the account figures (SPEC §6a), the one service the chat
(/trades, /pnl, /daily, /weekly, /performance), the read API (`GET /trades`, `GET /stats`) and
the CLI (`tradebot trades`, `tradebot pnl`) read. What the figures mean, and how they are
computed from the rows, is in `trading.figures`; equity comes from `AccountBook`, the same place
the risk check before every entry takes it from. Money stays Decimal, per quote currency."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from trading.account_book import AccountBook
from trading.figures import (
    PERIODS,
    EquityCurve,
    Performance,
    Period,
    PeriodTotals,
    Stats,
    by_day,
    by_week,
    currency_figures,
    equity_curve,
    performance,
    period_start,
    period_starts,
    week_start,
)
from trading.ports import Stores
from trading.records import ClosedTradeRow
from trading.risk import day_start
from trading.views import TradeView

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ReportService:
    """Closed trades and account figures, for the chat, the read API and the CLI alike."""

    def __init__(self, *, stores: Stores, book: AccountBook, clock: Clock | None = None) -> None:
        self.stores = stores
        self.book = book
        self.clock = clock or _utc_now

    async def trades(self, limit: int = 10, bot_name: str | None = None) -> list[TradeView]:
        """Closed trades, newest first (of one bot when named)."""
        return await self.stores.orders.list_trades(bot_name, limit)

    async def reset_hour(self) -> int:
        """The account's `daily_reset_hour` (UTC): where days, weeks and months start."""
        return (await self.stores.risk.account_state()).rules.reset_hour

    async def stats(self, now: datetime | None = None) -> Stats:
        """Every currency's equity, peak and drawdown, its figures for day, week, month and
        all, and performance per bot and symbol over all closed trades."""
        return await self._stats(PERIODS, "all", now)

    async def pnl(self, period: Period, now: datetime | None = None) -> Stats:
        """As `stats`, for one period: its figures, and performance over its closed trades."""
        return await self._stats((period,), period, now)

    async def _stats(
        self, periods: tuple[Period, ...], scope: Period, now: datetime | None
    ) -> Stats:
        now = now or self.clock()
        hour = await self.reset_hour()
        starts = {p: s for p, s in period_starts(now, hour).items() if p in periods}
        trades = await self.stores.reports.closed_trades()
        by_quote: dict[str, list[ClosedTradeRow]] = {}
        for trade in trades:
            by_quote.setdefault(trade.quote, []).append(trade)
        quotes = sorted(set(await self.stores.risk.quotes()) | set(by_quote))
        currencies, failed = {}, []
        for quote in quotes:
            try:
                equity, rows = await self.book.equity(quote, now, reset_hour=hour)
                snapshots = await self.stores.risk.snapshots(quote)
                currencies[quote] = currency_figures(
                    equity, rows, by_quote.get(quote, []), snapshots, starts
                )
            except self.stores.unavailable:
                raise  # the front end answers "retry later"
            except Exception:  # a row no column type allows: this currency only, logged
                log.exception("account figures of %s cannot be computed: left out", quote)
                failed.append(quote)
        start = period_start(scope, now, hour)
        scoped = [t for t in trades if start is None or t.closed_at >= start]
        return Stats(now, hour, currencies, performance(scoped), scope, tuple(failed))

    async def performance(
        self, period: Period = "all", now: datetime | None = None
    ) -> list[Performance]:
        """Per bot and symbol, over the trades closed in `period` (best PnL first)."""
        start = period_start(period, now or self.clock(), await self.reset_hour())
        return performance(await self.stores.reports.closed_trades(start))

    async def daily(self, days: int = 7, now: datetime | None = None) -> list[PeriodTotals]:
        """The last `days` days from the reset hour, newest first."""
        now = now or self.clock()
        hour = await self.reset_hour()
        since = day_start(now, hour) - timedelta(days=days - 1)
        return by_day(await self.stores.reports.closed_trades(since), days, now, hour)

    async def weekly(self, weeks: int = 4, now: datetime | None = None) -> list[PeriodTotals]:
        """The last `weeks` weeks from Monday's reset hour, newest first."""
        now = now or self.clock()
        hour = await self.reset_hour()
        since = week_start(now, hour) - timedelta(weeks=weeks - 1)
        return by_week(await self.stores.reports.closed_trades(since), weeks, now, hour)

    async def equity_curve(
        self, quote: str | None = None, since: datetime | None = None, now: datetime | None = None
    ) -> list[EquityCurve]:
        """Each currency's snapshots (one currency when named), from `since` when given, with
        the equity now as the last point, and the running peak for the drawdown."""
        now = now or self.clock()
        hour = await self.reset_hour()
        quotes = [quote] if quote else sorted(await self.stores.risk.quotes())
        curves = []
        for name in quotes:
            equity, _rows = await self.book.equity(name, now, reset_hour=hour)
            snapshots = await self.stores.risk.snapshots(name)
            curves.append(equity_curve(name, snapshots, (now, equity.equity), since))
        return curves
