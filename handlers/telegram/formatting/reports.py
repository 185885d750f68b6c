"""PnL by period, performance by bot, balances and the webhook request log."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from html import escape

from handlers.telegram.formatting.figures import add_to, age, amounts, duration, money
from handlers.telegram.formatting.lists import more, safe_row, table
from trading.brokers.base import Balance
from trading.records import RecentRequest
from trading.reports import BotPerformance, PeriodTotals, PnlSummary


def _period_rows(periods: list[PeriodTotals]) -> list[list[str]]:
    rows = []
    for period in periods:
        t = period.totals
        win = f"{t.win_rate:.0f}%" if t.win_rate is not None else "–"
        rows.append([period.label, f"{t.trades} tr", win, amounts(t.pnl) if t.trades else "–"])
    return rows


def format_pnl(summary: PnlSummary) -> str:
    lines = ["💰 <b>PnL after fees</b> (closed trades, UTC)"]
    lines.append(table(_period_rows(summary.periods), frozenset({1, 2, 3})))
    if summary.open_positions:
        lines.append(
            f"Open: {summary.open_positions} position(s) · unrealized {amounts(summary.unrealized)}"
        )
    return "\n".join(lines)


def format_periods(title: str, periods: list[PeriodTotals]) -> str:
    pnl: dict[str, Decimal] = {}
    trades = 0
    for period in periods:
        trades += period.totals.trades
        for quote, value in period.totals.pnl.items():
            add_to(pnl, quote, value)
    return f"{title} · {trades} trade(s) · {amounts(pnl)}\n" + table(
        _period_rows(periods), frozenset({1, 2, 3})
    )


def format_performance(items: list[BotPerformance]) -> str:
    if not items:
        return "🏆 No closed trades yet."
    lines = ["🏆 <b>Performance by bot</b> (after fees)"]
    for p in items[:12]:
        lines.append(safe_row(partial(_performance_lines, p), f"{p.bot} {p.quote}"))
    lines += more(len(items), 12)
    return "\n".join(lines)


def _performance_lines(p: BotPerformance) -> str:
    factor = money(p.profit_factor) if p.profit_factor is not None else "∞"
    return (
        f"<b>{escape(p.bot)}</b> {money(p.pnl, signed=True)} {escape(p.quote)} · "
        f"{p.trades} trades · {p.win_rate:.0f}% won\n"
        f"<code>avg {money(p.average, signed=True)} · best {money(p.best, signed=True)} · "
        f"worst {money(p.worst, signed=True)}</code>\n"
        f"<code>PF {factor} · max DD {money(p.max_drawdown)} · "
        f"fees {money(p.fees)} · hold {duration(p.avg_hold_seconds)}</code>"
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
