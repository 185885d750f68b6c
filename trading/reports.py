"""PnL reports computed from `trade_history` (closed trades, PnL after all fees): totals for
today / 7 / 30 days / all time, per UTC day, per ISO week, and per bot. Money stays Decimal and
is kept per quote currency: USDT and BTC profits are never added together. Sums are exact and
ratios never divide by zero, whatever was stored (`trading.money`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from trading import money
from trading.ports import Stores
from trading.records import ClosedTradeRow
from trading.views import TradeView

ZERO = Decimal(0)


@dataclass
class Totals:
    trades: int = 0
    wins: int = 0
    pnl: dict[str, Decimal] = field(default_factory=dict)
    fees: dict[str, Decimal] = field(default_factory=dict)

    def add(self, trade: ClosedTradeRow) -> None:
        self.trades += 1
        self.wins += trade.pnl > 0
        self.pnl[trade.quote] = money.total((self.pnl.get(trade.quote, ZERO), trade.pnl))
        self.fees[trade.quote] = money.total((self.fees.get(trade.quote, ZERO), trade.fees))

    @property
    def win_rate(self) -> Decimal | None:
        return money.percent(Decimal(self.wins), Decimal(self.trades))


def totals(trades: Iterable[ClosedTradeRow]) -> Totals:
    result = Totals()
    for trade in trades:
        result.add(trade)
    return result


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    label: str
    start: datetime
    totals: Totals


@dataclass(frozen=True, slots=True)
class PnlSummary:
    periods: list[PeriodTotals]  # today, 7 days, 30 days, all time
    unrealized: dict[str, Decimal]
    open_positions: int


@dataclass(frozen=True, slots=True)
class BotPerformance:
    bot: str
    quote: str
    trades: int
    wins: int
    pnl: Decimal
    fees: Decimal
    best: Decimal
    worst: Decimal
    profit_factor: Decimal | None  # gross wins / gross losses; None without losses
    max_drawdown: Decimal  # largest fall of cumulative PnL from a peak, >= 0
    avg_hold_seconds: float

    @property
    def win_rate(self) -> Decimal:
        return money.percent(Decimal(self.wins), Decimal(self.trades)) or ZERO

    @property
    def average(self) -> Decimal:
        return money.ratio(self.pnl, Decimal(self.trades)) or ZERO


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def by_day(trades: Iterable[ClosedTradeRow], days: int, now: datetime) -> list[PeriodTotals]:
    """The last `days` UTC days, newest first, days without trades included."""
    today = _midnight(now)
    buckets: dict[date, Totals] = defaultdict(Totals)
    for trade in trades:
        buckets[trade.closed_at.astimezone(UTC).date()].add(trade)
    result = []
    for back in range(days):
        start = today - timedelta(days=back)
        result.append(PeriodTotals(start.strftime("%a %d %b"), start, buckets[start.date()]))
    return result


def by_week(trades: Iterable[ClosedTradeRow], weeks: int, now: datetime) -> list[PeriodTotals]:
    """The last `weeks` ISO weeks (Monday 00:00 UTC), newest first."""
    this_monday = _midnight(now) - timedelta(days=now.astimezone(UTC).weekday())
    buckets: dict[date, Totals] = defaultdict(Totals)
    for trade in trades:
        closed = trade.closed_at.astimezone(UTC)
        monday = (closed - timedelta(days=closed.weekday())).date()
        buckets[monday].add(trade)
    result = []
    for back in range(weeks):
        start = this_monday - timedelta(weeks=back)
        label = f"W{start.isocalendar().week:02d} {start.strftime('%d %b')}"
        result.append(PeriodTotals(label, start, buckets[start.date()]))
    return result


def performance(trades: Iterable[ClosedTradeRow]) -> list[BotPerformance]:
    """Per bot (and quote currency), best PnL first."""
    groups: dict[tuple[str, str], list[ClosedTradeRow]] = defaultdict(list)
    for trade in trades:
        groups[(trade.bot, trade.quote)].append(trade)
    result = []
    for (bot, quote), rows in groups.items():
        rows.sort(key=lambda t: t.closed_at)
        with money.wide():
            gains = sum((t.pnl for t in rows if t.pnl > 0), ZERO)
            losses = -sum((t.pnl for t in rows if t.pnl < 0), ZERO)
            peak = cumulative = drawdown = ZERO
            for trade in rows:
                cumulative += trade.pnl
                peak = max(peak, cumulative)
                drawdown = max(drawdown, peak - cumulative)
            pnl = sum((t.pnl for t in rows), ZERO)
            fees = sum((t.fees for t in rows), ZERO)
        held = sum((t.closed_at - t.opened_at).total_seconds() for t in rows)
        result.append(
            BotPerformance(
                bot=bot,
                quote=quote,
                trades=len(rows),
                wins=sum(1 for t in rows if t.pnl > 0),
                pnl=pnl,
                fees=fees,
                best=max(t.pnl for t in rows),
                worst=min(t.pnl for t in rows),
                profit_factor=money.ratio(gains, losses),  # None without losses
                max_drawdown=drawdown,
                avg_hold_seconds=held / len(rows),
            )
        )
    result.sort(key=lambda p: p.pnl, reverse=True)
    return result


class ReportService:
    """Closed trades and PnL figures, for the chat, the read API and the CLI alike."""

    def __init__(self, *, stores: Stores) -> None:
        self.stores = stores

    async def trades(self, limit: int = 10, bot_name: str | None = None) -> list[TradeView]:
        """Closed trades, newest first (of one bot when named)."""
        return await self.stores.orders.list_trades(bot_name, limit)

    async def pnl(self, now: datetime | None = None) -> PnlSummary:
        now = now or datetime.now(UTC)
        trades = await self.stores.reports.closed_trades()
        starts = [
            ("Today", _midnight(now)),
            ("7 days", now - timedelta(days=7)),
            ("30 days", now - timedelta(days=30)),
        ]
        periods = [
            PeriodTotals(label, start, totals(t for t in trades if t.closed_at >= start))
            for label, start in starts
        ]
        periods.append(PeriodTotals("All time", datetime.min.replace(tzinfo=UTC), totals(trades)))
        unrealized: dict[str, Decimal] = defaultdict(Decimal)
        positions = await self.stores.positions.list_positions()
        with money.wide():
            for position in positions:
                if position.unrealized_pnl is not None:
                    unrealized[position.quote] += position.unrealized_pnl
        return PnlSummary(periods, dict(unrealized), len(positions))

    async def daily(self, days: int = 7, now: datetime | None = None) -> list[PeriodTotals]:
        now = now or datetime.now(UTC)
        since = _midnight(now) - timedelta(days=days - 1)
        return by_day(await self.stores.reports.closed_trades(since), days, now)

    async def weekly(self, weeks: int = 4, now: datetime | None = None) -> list[PeriodTotals]:
        now = now or datetime.now(UTC)
        since = _midnight(now) - timedelta(days=now.astimezone(UTC).weekday(), weeks=weeks - 1)
        return by_week(await self.stores.reports.closed_trades(since), weeks, now)

    async def performance(self) -> list[BotPerformance]:
        return performance(await self.stores.reports.closed_trades())
