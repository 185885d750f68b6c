"""The chat message for each core event: fills, refusals, errors, monitor warnings."""

from __future__ import annotations

from decimal import Decimal
from html import escape

from handlers.telegram.formatting.approvals import (
    format_approval,
    format_approval_resolved,
    format_out_of_sync,
)
from handlers.telegram.formatting.figures import age, duration, money, price, qty, share
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
from trading.money import wide
from trading.risk_gate import KillSwitchTripped, RiskRefused


def _stops(sl: Decimal | None, tp: Decimal | None, entry: Decimal) -> str:
    parts = []
    with wide():
        if sl is not None:
            parts.append(f"SL {price(sl)}{share(sl - entry, entry)}")
        if tp is not None:
            parts.append(f"TP {price(tp)}{share(tp - entry, entry)}")
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
            pct = share(event.pnl, event.entry_price * event.qty)
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
    if isinstance(event, RiskRefused):
        return f"⛔ Risk rule · {escape(event.bot)} {escape(event.symbol)}\n{escape(event.reason)}"
    if isinstance(event, KillSwitchTripped):
        return (
            f"🛑 Kill switch tripped: {escape(event.reason.removeprefix('risk: '))}. "
            "Entries stop until an owner sends /resume."
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
