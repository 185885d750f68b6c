"""PnL by period (`trading.figures`), performance by bot and symbol, balances and the webhook
request log."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from html import escape

from handlers.telegram.formatting.figures import (
    CRYPTO_QUOTES,
    add_to,
    age,
    amounts,
    duration,
    money,
)
from handlers.telegram.formatting.lists import more, safe_row, table
from trading.brokers.base import Balance
from trading.figures import CurrencyFigures, Performance, Period, PeriodTotals, Stats
from trading.records import RecentRequest

PERIOD_LABELS: dict[Period, str] = {
    "day": "Today",
    "week": "Week",
    "month": "Month",
    "all": "All time",
}
NOTHING_YET = (
    "💰 No PnL yet: equity and PnL show here once a bot has traded "
    "(send it an alert, or see /bots)."
)


def _places(quote: str) -> int:
    return 6 if quote in CRYPTO_QUOTES else 2


def _since(reset_hour: int) -> str:
    return f"from {reset_hour:02d}:00 UTC"


def _period_rows(periods: list[PeriodTotals]) -> list[list[str]]:
    rows = []
    for period in periods:
        t = period.totals
        win = f"{t.win_rate:.0f}%" if t.win_rate is not None else "–"
        rows.append([period.label, f"{t.trades} tr", win, amounts(t.pnl) if t.trades else "–"])
    return rows


def format_pnl(stats: Stats) -> str:
    """/pnl: per currency, equity, peak and drawdown, then realized, unrealized and the change
    of equity for today, the week, the month and all time."""
    if stats.empty:
        return NOTHING_YET
    lines = [f"💰 <b>PnL after fees</b> · days {_since(stats.reset_hour)}, weeks from Monday"]
    for quote, figures in stats.currencies.items():
        lines.append(safe_row(partial(_currency_lines, figures), f"PnL {quote}"))
    lines += [f"⚠️ {escape(quote)}: cannot be shown (logged)" for quote in stats.failed]
    return "\n".join(lines)


def _currency_lines(c: CurrencyFigures) -> str:
    places = _places(c.quote)
    head = (
        f"<b>{escape(c.quote)}</b> equity {money(c.now, places)} · peak {money(c.peak, places)}"
        f" · drawdown {money(c.drawdown_pct.copy_negate())}%"
    )
    rows = [["", "realized", "unrealized", "equity Δ", "trades"]]
    for period, f in c.periods.items():
        change = money(f.equity_change, places, signed=True) if f.equity_change is not None else "–"
        rows.append(
            [
                PERIOD_LABELS[period],
                money(f.realized, places, signed=True),
                money(f.unrealized, places, signed=True),
                change,
                str(f.trades),
            ]
        )
    lines = [head, table(rows, frozenset({1, 2, 3, 4}))]
    if c.equity.open_positions:
        lines.append(
            f"Open: {c.equity.open_positions} position(s) · realized on them "
            f"{money(c.open_realized, places, signed=True)} (counted when they close)"
        )
    return "\n".join(lines)


def format_periods(title: str, periods: list[PeriodTotals]) -> str:
    pnl: dict[str, Decimal] = {}
    trades = 0
    for period in periods:
        trades += period.totals.trades
        for quote, value in period.totals.pnl.items():
            add_to(pnl, quote, value)
    hour = periods[0].start.hour if periods else 0
    note = f" · {_since(hour)}" if hour else ""
    return f"{title} · {trades} trade(s) · {amounts(pnl)}{note}\n" + table(
        _period_rows(periods), frozenset({1, 2, 3})
    )


def format_performance(items: list[Performance], period: Period = "all") -> str:
    if not items:
        when = {"all": "", "day": " today"}.get(period, f" this {period}")
        return f"🏆 No closed trades{when} yet: performance shows once positions have closed."
    scope = "all time" if period == "all" else PERIOD_LABELS[period].lower()
    lines = [f"🏆 <b>Performance by bot and symbol</b> (after fees, {scope})"]
    for p in items[:12]:
        lines.append(safe_row(partial(_performance_lines, p), f"{p.bot} {p.symbol}"))
    lines += more(len(items), 12)
    return "\n".join(lines)


def _performance_lines(p: Performance) -> str:
    places = _places(p.quote)

    def signed(value: Decimal | None) -> str:
        return "–" if value is None else money(value, places, signed=True)

    factor = p.profit_factor
    pf = money(factor) if factor is not None else ("∞" if p.wins else "–")
    return (
        f"<b>{escape(p.bot)}</b> {escape(p.symbol)} {signed(p.pnl)} {escape(p.quote)} · "
        f"{p.trades} trades · {p.win_rate:.0f}% won\n"
        f"<code>avg win {signed(p.avg_win)} · avg loss {signed(p.avg_loss)} · PF {pf}</code>\n"
        f"<code>best {signed(p.best)} · worst {signed(p.worst)} · fees {money(p.fees, places)}"
        f" · held {duration(p.avg_duration_seconds)}</code>"
    )


def format_balances(balances: list[Balance], broker: str) -> str:
    if not balances:
        return f"💼 No balances at {escape(broker)}."
    rows = [["", "total", "available"]] + [
        [b.currency, money(b.total), money(b.available)] for b in balances
    ]
    return f"💼 <b>Balance</b> · {escape(broker)}\n" + table(rows, frozenset({1, 2}))


ALERT_MARKS = {
    "executed": "✅",
    "ignored": "➖",
    "rejected": "⛔",
    "refused": "🚫",
    "duplicate": "♻️",
    "accepted": "⏳",
    "received": "⏳",
    "pending_approval": "🟡",
    "approved": "✅",
    "expired": "⌛",
}


def format_alerts(logs: list[RecentRequest], now: datetime | None = None) -> str:
    if not logs:
        return "📨 No webhook requests yet."
    now = now or datetime.now(UTC)
    lines = [f"📨 <b>Last {len(logs)} webhook request(s)</b>"]
    for row in logs:
        mark = ALERT_MARKS.get(row.status, "•")
        what = " ".join(x for x in (row.action, row.symbol) if x)
        reason = f" · {escape(row.reason[:80])}" if row.reason else ""
        repeats = f" ×{row.repeats}" if row.repeats > 1 else ""
        lines.append(
            f"{mark} #{row.id} {escape(row.bot or '?')} {escape(what)} · {row.status}{repeats}"
            f"{reason} · {age(row.received_at, now)}"
        )
    return "\n".join(lines)
