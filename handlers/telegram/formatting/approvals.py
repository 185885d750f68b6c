"""Approval cards, their outcome, out-of-sync warnings and the result of an approved alert."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from html import escape

from handlers.telegram.formatting.figures import duration, price, qty, signed_position
from trading.control_events import ApprovalRequested, ApprovalResolved, OutOfSync
from trading.views import ExecutionResult


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
    if event.risk:
        lines.append(f"⚖️ {escape(event.risk)}")
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
