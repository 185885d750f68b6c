"""Account figures (SPEC §6a), pure: `ReportService` (trading/reports.py) reads the stores and
hands the rows here; the chat (/pnl, /daily, /weekly, /performance), `GET /stats` and `tradebot
pnl` all show what these compute.

Per quote currency (never mixed), over calendar periods in UTC that start at the account's
`daily_reset_hour` h (`period_start`): `day` from the latest h:00, `week` from Monday's h:00,
`month` from the 1st's h:00, and `all`.

* **realized** of a period: the exact sum of `trade_history.pnl` (after every fee) of the trades
  closed in it (`closed_at` at or after its start). A position still open is in no period's
  realized, even when partly closed: its realized part is the currency's `open_realized`, and it
  joins the period's realized when the position closes (its trade's PnL holds it).
* **unrealized**: the open positions' unrealized PnL now, at their valuation prices (the same
  figure in every period: it is what is open now).
* **equity change** of a period: equity now − the equity of the last snapshot at or before the
  period's start (None when there is none); for `all`: equity now − the starting balance.
* **equity** = starting balance + realized (all) + open_realized + unrealized
  (`trading.equity`); **peak** = the highest equity sampled, or the equity now when higher;
  **drawdown** = peak − equity, also as a percentage of the peak.
* Per bot and symbol (and quote currency): trades, wins (PnL > 0), losses (PnL < 0), win rate,
  profit factor (gross profit / gross loss; None without a loss), average win and loss, best and
  worst, average duration (open to close), PnL and fees.

Sums are exact (`trading.money`); ratios are rounded only where they are shown (`Stats.to_json`).
"""

from __future__ import annotations

import bisect
import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args

from trading import money
from trading.equity import AccountRows, Equity, EquitySnapshot, peak_of
from trading.records import ClosedTradeRow
from trading.risk import day_start, drawdown

ZERO = Decimal(0)
Period = Literal["day", "week", "month", "all"]
PERIODS: tuple[Period, ...] = get_args(Period)
PERCENT_PLACES = Decimal("0.01")  # win rate, drawdown %, in JSON
RATIO_PLACES = Decimal("0.0001")  # profit factor, in JSON


def parse_period(text: str) -> Period:
    """`day`, `week`, `month` or `all` (any case); ValueError naming the choices otherwise."""
    value = text.strip().lower()
    for period in PERIODS:
        if value == period:
            return period
    raise ValueError(f"must be one of {', '.join(PERIODS)} (got {text[:20]!r})")


def period_start(period: Period, now: datetime, reset_hour: int = 0) -> datetime | None:
    """When the period holding `now` started (UTC, at `reset_hour`); None for `all`."""
    if period == "all":
        return None
    if period == "week":
        return week_start(now, reset_hour)
    start = day_start(now, reset_hour)
    return start.replace(day=1) if period == "month" else start


def week_start(moment: datetime, reset_hour: int = 0) -> datetime:
    """Monday's `reset_hour`:00 UTC of the week holding `moment`."""
    start = day_start(moment, reset_hour)
    return start - timedelta(days=start.weekday())


def period_starts(now: datetime, reset_hour: int = 0) -> dict[Period, datetime | None]:
    return {period: period_start(period, now, reset_hour) for period in PERIODS}


# ---------------------------------------------------------------- closed trades by period


@dataclass
class Totals:
    """Closed trades of a period: counts, and PnL and fees per quote currency."""

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


def by_day(
    trades: Iterable[ClosedTradeRow], days: int, now: datetime, reset_hour: int = 0
) -> list[PeriodTotals]:
    """The last `days` days (each from `reset_hour` UTC), newest first, empty days included."""
    return _periods(
        trades, days, now, lambda t: day_start(t, reset_hour), timedelta(days=1), "%a %d %b"
    )


def by_week(
    trades: Iterable[ClosedTradeRow], weeks: int, now: datetime, reset_hour: int = 0
) -> list[PeriodTotals]:
    """The last `weeks` weeks (from Monday at `reset_hour` UTC), newest first."""
    return _periods(
        trades, weeks, now, lambda t: week_start(t, reset_hour), timedelta(weeks=1), "W%V %d %b"
    )


def _periods(
    trades: Iterable[ClosedTradeRow],
    count: int,
    now: datetime,
    start_of: Callable[[datetime], datetime],
    length: timedelta,
    label: str,
) -> list[PeriodTotals]:
    """The last `count` periods of `length` (each from `start_of` its moments), newest first,
    empty ones included; `label` is the strftime form of a period's start."""
    current = start_of(now)
    buckets: dict[date, Totals] = defaultdict(Totals)
    for trade in trades:
        buckets[start_of(trade.closed_at).date()].add(trade)
    starts = [current - length * back for back in range(count)]
    return [PeriodTotals(start.strftime(label), start, buckets[start.date()]) for start in starts]


# ---------------------------------------------------------------- per bot and symbol


@dataclass(frozen=True, slots=True)
class Performance:
    """One bot's closed trades on one symbol (in its quote currency)."""

    bot: str
    symbol: str
    quote: str
    trades: int
    wins: int
    losses: int
    pnl: Decimal  # after fees
    fees: Decimal
    gross_profit: Decimal  # sum of the winning trades' PnL
    gross_loss: Decimal  # minus the sum of the losing trades' PnL (>= 0)
    best: Decimal
    worst: Decimal
    max_drawdown: Decimal  # largest fall of the cumulative PnL from a peak, >= 0
    avg_duration_seconds: float

    @property
    def win_rate(self) -> Decimal:
        """Winning trades as a percentage of all (0 to 100)."""
        return money.percent(Decimal(self.wins), Decimal(self.trades)) or ZERO

    @property
    def profit_factor(self) -> Decimal | None:
        """Gross profit / gross loss; None without a losing trade."""
        return money.ratio(self.gross_profit, self.gross_loss)

    @property
    def avg_win(self) -> Decimal | None:
        return money.ratio(self.gross_profit, Decimal(self.wins))

    @property
    def avg_loss(self) -> Decimal | None:
        """The average losing trade (negative); None without one."""
        loss = money.ratio(self.gross_loss, Decimal(self.losses))
        return None if loss is None else loss.copy_negate()

    @property
    def average(self) -> Decimal:
        return money.ratio(self.pnl, Decimal(self.trades)) or ZERO


def performance(trades: Iterable[ClosedTradeRow]) -> list[Performance]:
    """Per bot, symbol and quote currency; best PnL first."""
    groups: dict[tuple[str, str, str], list[ClosedTradeRow]] = defaultdict(list)
    for trade in trades:
        groups[(trade.bot, trade.symbol, trade.quote)].append(trade)
    result = [_performance(key, rows) for key, rows in groups.items()]
    result.sort(key=lambda p: (-p.pnl, p.bot, p.symbol, p.quote))
    return result


def _performance(key: tuple[str, str, str], rows: list[ClosedTradeRow]) -> Performance:
    rows.sort(key=lambda t: t.closed_at)
    with money.wide():
        gains = sum((t.pnl for t in rows if t.pnl > 0), ZERO)
        losses = -sum((t.pnl for t in rows if t.pnl < 0), ZERO)
        peak = cumulative = fall = ZERO
        for trade in rows:
            cumulative += trade.pnl
            peak = max(peak, cumulative)
            fall = max(fall, peak - cumulative)
        fees = sum((t.fees for t in rows), ZERO)
    held = sum((t.closed_at - t.opened_at).total_seconds() for t in rows)
    bot, symbol, quote = key
    return Performance(
        bot=bot,
        symbol=symbol,
        quote=quote,
        trades=len(rows),
        wins=sum(1 for t in rows if t.pnl > 0),
        losses=sum(1 for t in rows if t.pnl < 0),
        pnl=cumulative,
        fees=fees,
        gross_profit=gains,
        gross_loss=losses,
        best=max(t.pnl for t in rows),
        worst=min(t.pnl for t in rows),
        max_drawdown=fall,
        avg_duration_seconds=held / len(rows),
    )


# ---------------------------------------------------------------- per currency


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    period: Period
    start: datetime | None  # None: all
    realized: Decimal  # closed trades' PnL in the period, after fees
    unrealized: Decimal  # open positions now
    equity_change: Decimal | None  # equity now − equity at the start (None: unknown)
    trades: int
    wins: int
    fees: Decimal


@dataclass(frozen=True, slots=True)
class CurrencyFigures:
    quote: str
    equity: Equity  # now: balance, realized (closed + open), unrealized, open positions
    open_realized: Decimal  # the realized part of the positions still open
    peak: Decimal
    periods: dict[Period, PeriodFigures]

    @property
    def now(self) -> Decimal:
        return self.equity.equity

    @property
    def drawdown(self) -> Decimal:
        """Peak − equity (>= 0)."""
        return max(ZERO, money.CONTEXT.subtract(self.peak, self.now))

    @property
    def drawdown_pct(self) -> Decimal:
        """The drawdown as a percentage of the peak (0 without a positive peak)."""
        return money.CONTEXT.multiply(drawdown(self.now, self.peak), money.HUNDRED)


def equity_at(snapshots: Sequence[EquitySnapshot], moment: datetime) -> Decimal | None:
    """Equity of the last snapshot at or before `moment` (oldest first); None when none."""
    index = bisect.bisect_right([s.at for s in snapshots], moment)
    return snapshots[index - 1].equity if index else None


def currency_figures(
    equity: Equity,
    rows: AccountRows,
    trades: Sequence[ClosedTradeRow],
    snapshots: Sequence[EquitySnapshot],
    starts: dict[Period, datetime | None],
) -> CurrencyFigures:
    """One currency's figures: `trades` and `snapshots` (oldest first) are of this currency."""
    now = equity.equity
    with money.wide():
        open_realized = sum((p.realized_pnl for p in rows.positions), ZERO)
    peak = peak_of(rows, equity)
    periods: dict[Period, PeriodFigures] = {}
    for period, start in starts.items():
        inside = [t for t in trades if start is None or t.closed_at >= start]
        if start is None:
            change: Decimal | None = money.CONTEXT.subtract(now, equity.balance)
        else:
            before = equity_at(snapshots, start)
            change = None if before is None else money.CONTEXT.subtract(now, before)
        periods[period] = PeriodFigures(
            period=period,
            start=start,
            realized=money.total(t.pnl for t in inside),
            unrealized=equity.unrealized,
            equity_change=change,
            trades=len(inside),
            wins=sum(1 for t in inside if t.pnl > 0),
            fees=money.total(t.fees for t in inside),
        )
    return CurrencyFigures(equity.quote, equity, open_realized, peak, periods)


@dataclass(frozen=True, slots=True)
class Stats:
    """Everything `/pnl`, `GET /stats` and `tradebot pnl` show."""

    at: datetime
    reset_hour: int
    currencies: dict[str, CurrencyFigures]  # by quote currency, sorted
    performance: list[Performance]  # of the trades closed in `scope`
    scope: Period = "all"
    failed: tuple[str, ...] = ()  # currencies whose figures could not be computed (logged)

    @property
    def empty(self) -> bool:
        return not self.currencies and not self.performance and not self.failed

    def to_json(self) -> dict[str, Any]:
        """The JSON of `GET /stats` and `tradebot pnl --json`: money as decimal strings."""
        return {
            "at": self.at.isoformat(),
            "reset_hour": self.reset_hour,
            "currencies": {q: _currency_json(c) for q, c in self.currencies.items()},
            "unavailable": list(self.failed),
            "performance_period": self.scope,
            "performance": [_performance_json(p) for p in self.performance],
        }


def _dec(value: Decimal | None, places: Decimal | None = None) -> str | None:
    if value is None:
        return None
    if places is not None:
        with contextlib.suppress(InvalidOperation):  # too large to round: kept whole
            value = value.quantize(places, context=money.CONTEXT)
    return money.plain(money.q12(value))


def _currency_json(c: CurrencyFigures) -> dict[str, Any]:
    return {
        "equity": _dec(c.now),
        "balance": _dec(c.equity.balance),
        "peak": _dec(c.peak),
        "drawdown": _dec(c.drawdown_pct, PERCENT_PLACES),
        "drawdown_amount": _dec(c.drawdown),
        "unrealized": _dec(c.equity.unrealized),
        "open_realized": _dec(c.open_realized),
        "open_positions": c.equity.open_positions,
        "open_notional": _dec(c.equity.open_notional),
        "periods": {
            period: {
                "start": f.start.isoformat() if f.start else None,
                "realized": _dec(f.realized),
                "unrealized": _dec(f.unrealized),
                "equity_change": _dec(f.equity_change),
                "trades": f.trades,
                "wins": f.wins,
                "fees": _dec(f.fees),
            }
            for period, f in c.periods.items()
        },
    }


def _performance_json(p: Performance) -> dict[str, Any]:
    return {
        "bot": p.bot,
        "symbol": p.symbol,
        "quote": p.quote,
        "trades": p.trades,
        "wins": p.wins,
        "losses": p.losses,
        "win_rate": _dec(p.win_rate, PERCENT_PLACES),
        "profit_factor": _dec(p.profit_factor, RATIO_PLACES),
        "avg_win": _dec(p.avg_win),
        "avg_loss": _dec(p.avg_loss),
        "best": _dec(p.best),
        "worst": _dec(p.worst),
        "avg_duration_seconds": round(p.avg_duration_seconds),
        "pnl": _dec(p.pnl),
        "fees": _dec(p.fees),
        "max_drawdown": _dec(p.max_drawdown),
    }


# ---------------------------------------------------------------- the equity curve


@dataclass(frozen=True, slots=True)
class CurvePoint:
    at: datetime
    equity: Decimal
    peak: Decimal  # the highest equity so far (all snapshots before, not only those shown)

    @property
    def drawdown_pct(self) -> Decimal:
        return money.CONTEXT.multiply(drawdown(self.equity, self.peak), money.HUNDRED)


@dataclass(frozen=True, slots=True)
class EquityCurve:
    quote: str
    points: list[CurvePoint]


def equity_curve(
    quote: str,
    snapshots: Sequence[EquitySnapshot],
    now: tuple[datetime, Decimal] | None = None,
    since: datetime | None = None,
) -> EquityCurve:
    """The snapshots (oldest first) and, when given, the equity `now` as the last point; each
    with the running peak, so the drawdown series is the one the risk rules see."""
    samples = [(s.at, s.equity) for s in snapshots]
    if now is not None and (not samples or now[0] >= samples[-1][0]):
        samples.append(now)
    points = []
    peak: Decimal | None = None
    for at, value in samples:
        peak = value if peak is None else max(peak, value)
        if since is None or at >= since:
            points.append(CurvePoint(at, value, peak))
    return EquityCurve(quote, points)
