"""Numbers, ages and event messages as a trader reads them on a phone (HTML parse mode).

Any stored value can be shown (`trading.money`): figures of 10^15 and more are written short
(`6.50e+18`), a value saturated at the storage limit reads `≥1.00e+26` / `≤−1.00e+26`, a
percentage of a zero amount is left out, and a row of a list that cannot be shown anyway reads
as such (logged) without failing the list.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from html import escape

from db.repo import RecentRequest
from trading.access import NOTIFY_KINDS, Member
from trading.bots import BotConfig
from trading.brokers.base import Balance
from trading.control import Closed, Health, Overview
from trading.control_events import ApprovalRequested, ApprovalResolved, ControlAction, OutOfSync
from trading.events import (
    AlertRefused,
    AlertsCapped,
    ErrorEvent,
    Event,
    HeartbeatMissed,
    HeartbeatResumed,
    LateExecution,
    Lifecycle,
    PositionAdded,
    PositionClosed,
    PositionOpened,
    PositionReduced,
    PricesFresh,
    PricesStale,
    TriggerFailed,
    WebhookRefused,
)
from trading.money import CONTEXT, at_limit, plain, total, wide
from trading.money import percent as percent_of
from trading.reports import BotPerformance, PeriodTotals, PnlSummary
from trading.views import BotView, ExecutionResult, PositionView, TradeView

log = logging.getLogger(__name__)

MINUS = "−"
HUGE = Decimal("1e15")  # from here on a figure is written short: 6.50e+18
QTY_STEP = Decimal("1e-8")


def money(value: Decimal, places: int = 2, signed: bool = False) -> str:
    """`1,234.50`; `+12.41` / `−27.53` when signed; `6.50e+18` from 10^15 on; a value
    saturated at the storage limit (`trading.money.fit`) as `≥1.00e+26` / `≤−1.00e+26`."""
    if not value.is_finite():
        return "?"
    if value.copy_abs() >= HUGE:
        text = f"{value.copy_abs():.2e}"
        if at_limit(value):
            return f"≥{text}" if value > 0 else f"≤{MINUS}{text}"
        return f"{MINUS}{text}" if value < 0 else (f"+{text}" if signed else text)
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=CONTEXT)
    text = f"{rounded.copy_abs():,.{places}f}"
    if rounded < 0:
        return f"{MINUS}{text}"
    return f"+{text}" if signed else text


def price(value: Decimal) -> str:
    """Two decimals for ordinary prices, more for small ones (0.00001234)."""
    if value.copy_abs() >= 1:
        return money(value, 2)
    return plain(value)


def qty(value: Decimal) -> str:
    """`1,234.5`: up to 8 decimals (all of a smaller quantity), short from 10^15 on."""
    magnitude = value.copy_abs()
    if not value.is_finite() or magnitude >= HUGE:
        return money(value, 0)
    if 0 < magnitude < QTY_STEP:
        return plain(value)
    text = plain(value.quantize(QTY_STEP, context=CONTEXT))
    whole, _, frac = text.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "") if whole.lstrip("-").isdigit() else text


def percent(value: Decimal, signed: bool = True) -> str:
    return money(value, 2, signed=signed) + "%"


def _share(part: Decimal, whole: Decimal) -> str:
    """` (+12.34%)`: `part` as a percentage of `whole`, or nothing when `whole` is zero."""
    with wide():
        share = percent_of(part, whole)
    return f" ({percent(share)})" if share is not None else ""


def _row(render: Callable[[], str], what: str) -> str:
    """One row of a list, or a line saying it cannot be shown (logged): one bad row never
    fails the whole list."""
    try:
        return render()
    except Exception:
        log.exception("cannot format %s", what)
        return f"⚠️ {escape(what)}: cannot be shown (logged)"


def _sum(values: dict[str, Decimal], quote: str, value: Decimal) -> None:
    """Add `value` to `values[quote]`, exactly."""
    values[quote] = total((values.get(quote, Decimal(0)), value))


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


def age(moment: datetime, now: datetime | None = None) -> str:
    """`3m ago`."""
    now = now or datetime.now(UTC)
    return f"{duration((now - moment).total_seconds())} ago"


def _stops(sl: Decimal | None, tp: Decimal | None, entry: Decimal) -> str:
    parts = []
    with wide():
        if sl is not None:
            parts.append(f"SL {price(sl)}{_share(sl - entry, entry)}")
        if tp is not None:
            parts.append(f"TP {price(tp)}{_share(tp - entry, entry)}")
    return " · ".join(parts)


REASONS = {
    "signal": "Closed",
    "manual": "Closed manually",
    "stop_loss": "🔴 Stop-loss hit",
    "take_profit": "🎯 Take-profit hit",
    "trailing_stop": "🟠 Trailing stop hit",
}


def format_event(event: Event) -> str | None:
    """The chat message for an event, or None for events not worth a message."""
    if isinstance(event, PositionOpened):
        lines = [
            f"🟢 Opened {event.side} {escape(event.symbol)} · {escape(event.bot)}",
            f"<code>{qty(event.qty)} @ {price(event.price)} {event.quote}</code>"
            f" · fee {money(event.fee)}",
        ]
        stops = _stops(event.sl, event.tp, event.price)
        if stops:
            lines.append(stops)
        return "\n".join(lines)
    if isinstance(event, PositionAdded):
        return (
            f"➕ Added to {event.side} {escape(event.symbol)} · {escape(event.bot)}\n"
            f"<code>+{qty(event.qty)} @ {price(event.price)}</code> · fee {money(event.fee)}\n"
            f"Now {qty(event.total_qty)} @ {price(event.avg_price)} {event.quote} "
            f"· entry {event.entries}"
        )
    if isinstance(event, PositionReduced):
        with wide():
            net = event.gross_pnl - event.fee
        return (
            f"➖ Reduced {event.side} {escape(event.symbol)} · {escape(event.bot)}\n"
            f"<code>{qty(event.qty)} @ {price(event.price)}</code> · "
            f"PnL {money(net, signed=True)} {event.quote} after fee\n"
            f"Left {qty(event.remaining_qty)}"
        )
    if isinstance(event, PositionClosed):
        head = REASONS.get(event.reason, f"Closed ({escape(event.reason)})")
        marker = "" if head.startswith(("🔴", "🎯", "🟠")) else ("✅ " if event.pnl >= 0 else "🔻 ")
        with wide():
            pct = _share(event.pnl, event.entry_price * event.qty)
        held = duration((event.closed_at - event.opened_at).total_seconds())
        return (
            f"{marker}{head} · {escape(event.symbol)} {event.side} · {escape(event.bot)}\n"
            f"<code>{qty(event.qty)} @ {price(event.exit_price)}</code> · "
            f"PnL <b>{money(event.pnl, signed=True)} {event.quote}</b>{pct} "
            f"after {money(event.fees)} fees · held {held}"
        )
    if isinstance(event, AlertRefused):
        return (
            f"⛔ Refused · {escape(event.bot)} {escape(event.symbol or '')}\n{escape(event.reason)}"
        )
    if isinstance(event, AlertsCapped):
        return (
            f"🚦 Alerts dropped · {escape(event.bot)}\n"
            f"Over its cap of {event.per_minute} alerts a minute: TradingView does not resend "
            f"them, so they are lost. Raise the cap (max_alerts_per_minute) if they are real."
        )
    if isinstance(event, WebhookRefused):
        who = escape(event.bot) if event.bot else "unknown key"
        return f"⚠️ Webhook refused ({event.http_status}) · {who}\n{escape(event.reason)}"
    if isinstance(event, LateExecution):
        return (
            f"⏱ Alert #{event.webhook_log_id} finished in the background · {escape(event.bot)} "
            f"{escape(event.symbol)}\n{event.status}: {escape(event.reason)}"
        )
    if isinstance(event, ErrorEvent):
        return f"❗ Error in {escape(event.where)}: {escape(event.message)}"
    if isinstance(event, ApprovalRequested):
        return format_approval(event)
    if isinstance(event, ApprovalResolved):
        return format_approval_resolved(event)
    if isinstance(event, OutOfSync):
        return format_out_of_sync(event)
    if isinstance(event, ControlAction):
        return f"{escape(event.what)} · by {escape(event.by)}" + (
            f"\n{escape(event.detail)}" if event.detail else ""
        )
    if isinstance(event, Lifecycle):
        icon = "▶️" if event.what == "started" else "⏹"
        return f"{icon} Tradebot {event.what}" + (
            f" · {escape(event.detail)}" if event.detail else ""
        )
    return format_monitor_event(event)


def format_monitor_event(event: Event) -> str | None:
    """Warnings of the position monitor and their all-clears."""
    if isinstance(event, PricesStale):
        age_text = (
            "no price yet" if event.oldest_age is None else f"{duration(event.oldest_age)} old"
        )
        return (
            f"⚠️ Stale prices · {escape(', '.join(event.symbols))}\n"
            f"Last price {age_text} (max {duration(event.max_age)}): "
            f"stops and targets wait for a fresh price"
        )
    if isinstance(event, PricesFresh):
        return f"✅ Prices fresh again · {escape(', '.join(event.symbols))}"
    if isinstance(event, HeartbeatMissed):
        last = f"last alert {age(event.last_alert_at)}" if event.last_alert_at else "no alert yet"
        return (
            f"⚠️ No alerts · {escape(event.bot)}\n"
            f"Expected one every {duration(event.minutes * 60)}; {last}. Check TradingView."
        )
    if isinstance(event, HeartbeatResumed):
        return f"✅ Alerts resumed · {escape(event.bot)} after {duration(event.silent_seconds)}"
    if isinstance(event, TriggerFailed):
        what = REASONS.get(event.reason, event.reason).removeprefix("🔴 ").removeprefix("🎯 ")
        what = what.removeprefix("🟠 ")
        then = (
            f"retrying in {duration(event.retry_in)}"
            if event.retry_in is not None
            else "gave up for now; it fires again on the next price"
        )
        return (
            f"❗ {escape(what)} · {escape(event.symbol)} · {escape(event.bot)}: close failed "
            f"(attempt {event.attempt})\n{escape(event.error)}\nPosition still open; {then}"
        )
    return None


# ---------------------------------------------------------------- chat views (commands)


def signed_position(signed: Decimal) -> str:
    if signed > 0:
        return f"long {qty(signed)}"
    if signed < 0:
        return f"short {qty(-signed)}"
    return "flat"


def table(rows: list[list[str]], right: frozenset[int] = frozenset()) -> str:
    """A <pre> block with padded columns (`right` = indexes of right-aligned columns)."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "<pre>" + escape("\n".join(lines)) + "</pre>"


CRYPTO_QUOTES = frozenset({"BTC", "ETH", "BNB"})


def amounts(values: dict[str, Decimal], signed: bool = True) -> str:
    """`+12.41 USDT · −0.0001 BTC`, or `0.00` when empty."""
    if not values:
        return money(Decimal(0), signed=False)
    return " · ".join(
        f"{money(v, 6 if c in CRYPTO_QUOTES else 2, signed=signed)} {escape(c)}"
        for c, v in sorted(values.items())
    )


MAX_ROWS = 25


def _more(total: int, shown: int) -> list[str]:
    return [f"… and {total - shown} more"] if total > shown else []


def _unrealized(positions: list[PositionView]) -> dict[str, Decimal]:
    unrealized: dict[str, Decimal] = {}
    for p in positions:
        if p.unrealized_pnl is not None:
            _sum(unrealized, p.quote, p.unrealized_pnl)
    return unrealized


def _position_line(p: PositionView, now: datetime) -> str:
    held = duration((now - p.opened_at).total_seconds())
    figures = f"{qty(p.qty)} @ {price(p.avg_price)}"
    tail = ""
    if p.last_price is not None and p.unrealized_pnl is not None:
        figures += f" → {price(p.last_price)}"
        with wide():
            pct = _share(p.unrealized_pnl, p.avg_price * p.qty)
        tail = f"  {money(p.unrealized_pnl, signed=True)}{pct}"
    return (
        f"<b>{escape(p.symbol)}</b> {p.side} · {escape(p.bot)} · #{p.id}\n"
        f"<code>{figures}</code>{tail} · {held}"
    )


def format_positions(positions: list[PositionView], now: datetime | None = None) -> str:
    if not positions:
        return "📊 No open positions."
    now = now or datetime.now(UTC)
    unrealized = _unrealized(positions)
    lines = [f"📊 <b>Open positions ({len(positions)})</b> · unrealized {amounts(unrealized)}"]
    for p in positions[:MAX_ROWS]:
        lines.append(_row(partial(_position_line, p, now), f"{p.symbol} · {p.bot} · #{p.id}"))
    lines += _more(len(positions), MAX_ROWS)
    return "\n".join(lines)


def format_close_question(p: PositionView) -> str:
    figures = f"{qty(p.qty)} @ {price(p.avg_price)} {escape(p.quote)}"
    pnl = ""
    if p.unrealized_pnl is not None:
        pnl = f"\nUnrealized {money(p.unrealized_pnl, signed=True)} {escape(p.quote)}"
    return (
        f"❓ Close <b>{escape(p.symbol)}</b> {p.side} · {escape(p.bot)} at market?\n"
        f"<code>{figures}</code>{pnl}"
    )


def format_closed(closed: Closed) -> str:
    p, result = closed.position, closed.result
    order = result.order or {}
    if result.status != "executed":
        return f"⚠️ {escape(p.symbol)} · {escape(p.bot)} not closed: {escape(result.reason)}"
    fill_qty = Decimal(order.get("qty") or 0)
    fill_price = Decimal(order.get("price") or 0)
    fee = Decimal(order.get("fee") or 0)
    lines = [
        f"✅ Closed <b>{escape(p.symbol)}</b> {p.side} · {escape(p.bot)}",
        f"<code>{qty(fill_qty)} @ {price(fill_price)} {escape(p.quote)}</code> · fee {money(fee)}",
    ]
    if order.get("trade_pnl") is not None:
        pnl = Decimal(order["trade_pnl"])
        with wide():
            pct = _share(pnl, p.avg_price * p.qty)
        held = duration((datetime.now(UTC) - p.opened_at).total_seconds())
        lines.append(
            f"PnL <b>{money(pnl, signed=True)} {escape(p.quote)}</b>{pct} after fees · held {held}"
        )
    elif result.position:
        lines.append(f"Reduced; {qty(Decimal(result.position['qty']))} left")
    return "\n".join(lines)


def format_close_all(items: list[Closed]) -> str:
    if not items:
        return "📊 No open positions to close."
    closed = [c for c in items if c.result.status == "executed"]
    pnl: dict[str, Decimal] = {}
    for c in closed:
        trade_pnl = (c.result.order or {}).get("trade_pnl")
        if trade_pnl is not None:
            _sum(pnl, c.position.quote, Decimal(trade_pnl))
    lines = [f"✅ Closed {len(closed)} of {len(items)} position(s) · PnL {amounts(pnl)}"]
    for c in items:
        what = f"{c.position.symbol} · {c.position.bot}"
        lines.append(_row(partial(_closed_line, c), what))
    return "\n".join(lines)


def _closed_line(c: Closed) -> str:
    trade_pnl = (c.result.order or {}).get("trade_pnl")
    if c.result.status == "executed":
        figure = money(Decimal(trade_pnl), signed=True) if trade_pnl is not None else "reduced"
        return (
            f"{escape(c.position.symbol)} {c.position.side} · {escape(c.position.bot)} "
            f"<code>{figure}</code>"
        )
    return f"⚠️ {escape(c.position.symbol)} · {escape(c.position.bot)}: {escape(c.result.reason)}"


def format_bot_line(bot: BotConfig, open_count: int) -> str:
    state = "⏸" if bot.paused else "▶️"
    extra = f" · {open_count} open" if open_count else ""
    manual = " · manual" if bot.approval == "manual" else ""
    return (
        f"{state} <b>{escape(bot.name)}</b> · {escape(', '.join(bot.symbols))} · "
        f"{escape(bot.strategy)} · {bot.direction}{manual}{extra}"
    )


def format_bots(bots: list[BotConfig], open_counts: dict[int, int]) -> str:
    if not bots:
        return "🤖 No bots yet. Create one with /newbot."
    lines = [f"🤖 <b>Bots ({len(bots)})</b>"]
    lines += [format_bot_line(bot, open_counts.get(bot.id, 0)) for bot in bots[: 2 * MAX_ROWS]]
    lines += _more(len(bots), 2 * MAX_ROWS)
    lines.append("Tap one for its card, or /bot NAME.")
    return "\n".join(lines)


def format_bot_card(view: BotView, positions: list[PositionView], chat: str = "") -> str:
    state = "⏸ paused" if view.paused else "▶️ active"
    stops = " · ".join(
        f"{label} {value}"
        for label, value in (("SL", view.sl), ("TP", view.tp), ("trail", view.trail))
        if value
    )
    lines = [
        f"🤖 <b>{escape(view.name)}</b> · {state}",
        f"{escape(', '.join(view.symbols))} · {escape(view.strategy)} · {view.direction}",
        f"Size {escape(view.size)} · max entries {view.max_entries} · approval {view.approval}",
        f"{stops or 'No SL/TP'} · max lag {view.max_lag_seconds}s",
        "Webhook: "
        + (f"{view.max_alerts_per_minute} alerts/min" if view.max_alerts_per_minute else "no cap")
        + (" · passphrase" if view.has_passphrase else "")
        + (" · signed" if view.signed else ""),
    ]
    for p in positions:
        lines.append(
            f"Position: {p.side} <code>{qty(p.qty)} @ {price(p.avg_price)}</code> {p.symbol}"
        )
    if not positions:
        lines.append("No open position")
    if chat:
        lines.append(chat)
    return "\n".join(lines)


def format_webhook(view: BotView, template: str) -> str:
    return (
        f"🔗 <b>{escape(view.name)}</b> webhook URL:\n<code>{escape(view.webhook_url)}</code>\n\n"
        f"📋 TradingView alert message:\n<pre>{escape(template)}</pre>"
    )


def format_trades(trades: list[TradeView], now: datetime | None = None) -> str:
    if not trades:
        return "📜 No closed trades yet."
    now = now or datetime.now(UTC)
    rows = [_trade_row(t, now) for t in trades]
    pnl: dict[str, Decimal] = {}
    for t in trades:
        _sum(pnl, t.quote, t.pnl)
    return f"📜 <b>Last {len(trades)} trade(s)</b> · PnL {amounts(pnl)}\n" + table(
        rows, frozenset({2, 3, 4, 5})
    )


def _trade_row(t: TradeView, now: datetime) -> list[str]:
    try:
        return [
            t.symbol,
            t.side,
            qty(t.qty),
            price(t.entry_price),
            price(t.exit_price),
            money(t.pnl, signed=True),
            age(t.closed_at, now),
        ]
    except Exception:
        log.exception("cannot format trade #%s", t.id)
        return [t.symbol, t.side, "?", "?", "?", "?", f"#{t.id} not shown"]


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
            _sum(pnl, quote, value)
    return f"{title} · {trades} trade(s) · {amounts(pnl)}\n" + table(
        _period_rows(periods), frozenset({1, 2, 3})
    )


def format_performance(items: list[BotPerformance]) -> str:
    if not items:
        return "🏆 No closed trades yet."
    lines = ["🏆 <b>Performance by bot</b> (after fees)"]
    for p in items[:12]:
        lines.append(_row(partial(_performance_lines, p), f"{p.bot} {p.quote}"))
    lines += _more(len(items), 12)
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


def format_risk(bots: list[BotConfig]) -> str:
    lines = ["🛡 <b>Risk limits</b>"]
    for bot in bots[:MAX_ROWS]:
        stops = " · ".join(
            f"{label} {value}"
            for label, value in (("SL", bot.sl), ("TP", bot.tp), ("trail", bot.trail))
            if value
        )
        extra = ", ".join(f"{escape(str(k))} {escape(str(v))}" for k, v in bot.risk.items())
        lines.append(
            f"<b>{escape(bot.name)}</b>{' ⏸' if bot.paused else ''} · {bot.direction} · "
            f"max entries {bot.max_entries} · {stops or 'no SL/TP'} · max lag "
            f"{bot.max_lag_seconds}s" + (f" · {extra}" if extra else "")
        )
    lines += _more(len(bots), MAX_ROWS)
    if not bots:
        lines.append("No bots.")
    lines.append(
        "Daily loss limit, max drawdown and cooldown after a stop: not configured yet.\n"
        "Kill switch: /stopentry pauses every bot, /resume undoes it."
    )
    return "\n".join(lines)


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


def format_members(members: list[Member]) -> str:
    lines = [f"👥 <b>Users ({len(members)})</b>"]
    for m in members[: 2 * MAX_ROWS]:
        name = f" @{escape(m.username)}" if m.username else ""
        source = " (settings)" if m.from_settings else ""
        lines.append(f"<code>{m.user_id}</code>{name} · {m.role.value}{source}")
    lines += _more(len(members), 2 * MAX_ROWS)
    lines.append(
        "Grant: <code>/users grant ID owner|trader|viewer</code>\n"
        "Revoke: <code>/users revoke ID</code>"
    )
    return "\n".join(lines)


def format_notify(choices: dict[str, bool]) -> str:
    lines = ["🔔 <b>Notifications</b> · tap to switch"]
    for kind, what in NOTIFY_KINDS.items():
        lines.append(f"{'✅' if choices.get(kind) else '▫️'} {kind}: {what}")
    return "\n".join(lines)


def format_status(overview: Overview, telegram: dict[str, str], now: datetime | None = None) -> str:
    unrealized = _unrealized(overview.positions)
    switch = overview.kill_switch
    lines = [
        "🟢 <b>Tradebot</b> running"
        if not switch.on
        else "🛑 <b>Tradebot</b> · kill switch on: no new entries",
        f"Bots {overview.bots} · paused {overview.paused} · broker {escape(overview.broker)}",
        f"Open positions {len(overview.positions)} · unrealized {amounts(unrealized)}",
    ]
    if switch.on:
        since = age(switch.since, now) if switch.since else ""
        lines.append(f"Entries stopped by {escape(switch.by)} {since} · /resume")
    if overview.pending_approvals:
        lines.append(f"🟡 {overview.pending_approvals} alert(s) awaiting approval")
    for finding in overview.reconciliation[:10]:
        lines.append(f"⚠️ {escape(finding)}")
    lines.append(f"Telegram: {escape(telegram.get('detail', telegram.get('status', '')))}")
    return "\n".join(lines)


HEALTH_MARKS = {"ok": "✅", "off": "▫️", "degraded": "🟠", "down": "🔴"}


def format_health(health: Health) -> str:
    lines = [f"{HEALTH_MARKS.get(health.overall, '•')} <b>Health: {health.overall}</b>"]
    for name, check in health.checks.items():
        detail = f" · {escape(check['detail'])}" if check.get("detail") else ""
        lines.append(f"{HEALTH_MARKS.get(check.get('status', ''), '•')} {name}{detail}")
    return "\n".join(lines)


def format_approval(event: ApprovalRequested, now: datetime | None = None) -> str:
    what = f"{event.action} {escape(event.symbol)}"
    if event.qty is not None:
        what += f" · qty {qty(event.qty)}"
    if event.price is not None:
        what += f" @ {price(event.price)}"
    lines = [f"🟡 <b>Approve?</b> · {escape(event.bot)} · alert #{event.webhook_log_id}", what]
    if event.market_position is not None or event.position_size is not None:
        target = event.position_size if event.position_size is not None else Decimal(0)
        side = event.market_position or ("long" if target >= 0 else "short")
        lines.append(f"TradingView position: {side} {qty(abs(target))}")
    left = (event.expires_at - (now or datetime.now(UTC))).total_seconds()
    lines.append(f"Expires {event.expires_at:%H:%M:%S} UTC (in {duration(left)})")
    return "\n".join(lines)


def format_approval_resolved(event: ApprovalResolved) -> str:
    head = f"{escape(event.bot)} · alert #{event.webhook_log_id} · {escape(event.symbol)}"
    if event.outcome == "approved":
        return f"✅ Approved by {escape(event.by)} · {head}\n{event.status}: {escape(event.reason)}"
    if event.outcome == "rejected":
        return f"✖️ Rejected by {escape(event.by)} · {head}"
    return f"⌛ Expired · {head}\nNot approved within the bot's max lag."


def format_out_of_sync(event: OutOfSync) -> str:
    return (
        f"⚠️ <b>Out of sync</b> · {escape(event.bot)} {escape(event.symbol)}\n"
        f"TradingView: {signed_position(event.expected)} · "
        f"bot: {signed_position(event.actual)}"
        + (f"\n{escape(event.reason)}" if event.reason else "")
    )


def format_execution(result: ExecutionResult) -> str:
    order = result.order or {}
    if result.status == "executed":
        return (
            f"✅ Executed · {escape(result.bot or '')}: {escape(str(order.get('intent', '')))} "
            f"{escape(str(order.get('side', '')))} <code>{escape(str(order.get('qty', '')))} @ "
            f"{escape(str(order.get('price', '')))}</code>"
        )
    mark = "➖" if result.status == "ignored" else "⛔"
    return f"{mark} {result.status} · {escape(result.bot or '')}: {escape(result.reason)}"
