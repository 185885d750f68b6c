"""Numbers, ages and event messages as a trader reads them on a phone (HTML parse mode)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape

from trading.events import (
    AlertRefused,
    ErrorEvent,
    Event,
    LateExecution,
    Lifecycle,
    PositionAdded,
    PositionClosed,
    PositionOpened,
    PositionReduced,
    WebhookRefused,
)

MINUS = "−"


def money(value: Decimal, places: int = 2, signed: bool = False) -> str:
    """`1,234.50`; `+12.41` / `−27.53` when signed."""
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    text = f"{abs(rounded):,.{places}f}"
    if rounded < 0:
        return f"{MINUS}{text}"
    return f"+{text}" if signed else text


def price(value: Decimal) -> str:
    """Two decimals for ordinary prices, more for small ones (0.00001234)."""
    if abs(value) >= 1:
        return money(value, 2)
    return f"{value.normalize():f}"


def qty(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('1e-8')).normalize():f}"
    whole, _, frac = text.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "") if whole.lstrip("-").isdigit() else text


def percent(value: Decimal, signed: bool = True) -> str:
    return money(value, 2, signed=signed) + "%"


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
    if sl is not None:
        parts.append(f"SL {price(sl)} ({percent((sl - entry) / entry * 100)})")
    if tp is not None:
        parts.append(f"TP {price(tp)} ({percent((tp - entry) / entry * 100)})")
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
        return (
            f"➖ Reduced {event.side} {escape(event.symbol)} · {escape(event.bot)}\n"
            f"<code>{qty(event.qty)} @ {price(event.price)}</code> · "
            f"PnL {money(event.gross_pnl - event.fee, signed=True)} {event.quote} after fee\n"
            f"Left {qty(event.remaining_qty)}"
        )
    if isinstance(event, PositionClosed):
        head = REASONS.get(event.reason, f"Closed ({escape(event.reason)})")
        marker = "" if head.startswith(("🔴", "🎯", "🟠")) else ("✅ " if event.pnl >= 0 else "🔻 ")
        cost = event.entry_price * event.qty
        pct = (event.pnl / cost * 100) if cost else Decimal(0)
        held = duration((event.closed_at - event.opened_at).total_seconds())
        return (
            f"{marker}{head} · {escape(event.symbol)} {event.side} · {escape(event.bot)}\n"
            f"<code>{qty(event.qty)} @ {price(event.exit_price)}</code> · "
            f"PnL <b>{money(event.pnl, signed=True)} {event.quote}</b> ({percent(pct)}) "
            f"after {money(event.fees)} fees · held {held}"
        )
    if isinstance(event, AlertRefused):
        return (
            f"⛔ Refused · {escape(event.bot)} {escape(event.symbol or '')}\n{escape(event.reason)}"
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
    if isinstance(event, Lifecycle):
        icon = "▶️" if event.what == "started" else "⏹"
        return f"{icon} Tradebot {event.what}" + (
            f" · {escape(event.detail)}" if event.detail else ""
        )
    return None
