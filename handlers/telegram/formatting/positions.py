"""Open positions, closing them, and closed trades."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from html import escape

from handlers.telegram.formatting.figures import (
    add_to,
    age,
    amounts,
    duration,
    money,
    price,
    qty,
    share,
)
from handlers.telegram.formatting.lists import MAX_ROWS, more, safe_row, table
from trading.control import Closed
from trading.money import wide
from trading.views import PositionView, TradeView

log = logging.getLogger(__name__)


def unrealized_by_quote(positions: list[PositionView]) -> dict[str, Decimal]:
    unrealized: dict[str, Decimal] = {}
    for p in positions:
        if p.unrealized_pnl is not None:
            add_to(unrealized, p.quote, p.unrealized_pnl)
    return unrealized


def _position_line(p: PositionView, now: datetime) -> str:
    held = duration((now - p.opened_at).total_seconds())
    figures = f"{qty(p.qty)} @ {price(p.avg_price)}"
    tail = ""
    if p.last_price is not None and p.unrealized_pnl is not None:
        figures += f" → {price(p.last_price)}"
        with wide():
            pct = share(p.unrealized_pnl, p.avg_price * p.qty)
        tail = f"  {money(p.unrealized_pnl, signed=True)}{pct}"
    return (
        f"<b>{escape(p.symbol)}</b> {p.side} · {escape(p.bot)} · #{p.id}\n"
        f"<code>{figures}</code>{tail} · {held}"
    )


def format_positions(positions: list[PositionView], now: datetime | None = None) -> str:
    if not positions:
        return "📊 No open positions."
    now = now or datetime.now(UTC)
    unrealized = unrealized_by_quote(positions)
    lines = [f"📊 <b>Open positions ({len(positions)})</b> · unrealized {amounts(unrealized)}"]
    for p in positions[:MAX_ROWS]:
        lines.append(safe_row(partial(_position_line, p, now), f"{p.symbol} · {p.bot} · #{p.id}"))
    lines += more(len(positions), MAX_ROWS)
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
            pct = share(pnl, p.avg_price * p.qty)
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
            add_to(pnl, c.position.quote, Decimal(trade_pnl))
    lines = [f"✅ Closed {len(closed)} of {len(items)} position(s) · PnL {amounts(pnl)}"]
    for c in items:
        what = f"{c.position.symbol} · {c.position.bot}"
        lines.append(safe_row(partial(_closed_line, c), what))
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


def format_trades(trades: list[TradeView], now: datetime | None = None) -> str:
    if not trades:
        return "📜 No closed trades yet."
    now = now or datetime.now(UTC)
    rows = [_trade_row(t, now) for t in trades]
    pnl: dict[str, Decimal] = {}
    for t in trades:
        add_to(pnl, t.quote, t.pnl)
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
