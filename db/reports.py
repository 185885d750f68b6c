"""Closed trades as the reports read them (PnL per day, week, bot)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from db.models import TradeHistory, TradingBot


@dataclass(frozen=True, slots=True)
class ClosedTradeRow:
    bot: str
    symbol: str
    quote: str
    side: str
    qty: Decimal
    pnl: Decimal
    fees: Decimal
    opened_at: datetime
    closed_at: datetime
    reason: str


async def closed_trades(since: datetime | None = None) -> list[ClosedTradeRow]:
    """Trades closed at or after `since` (all when None), oldest first."""
    query = TradeHistory.all().order_by("closed_at", "id")
    if since is not None:
        query = query.filter(closed_at__gte=since)
    rows = await query.values(
        "bot_id", "symbol", "quote", "side", "qty", "pnl", "fees", "opened_at", "closed_at",
        "reason",
    )  # fmt: skip
    names = dict(
        await TradingBot.filter(id__in={row["bot_id"] for row in rows}).values_list("id", "name")
    )
    return [
        ClosedTradeRow(
            bot=str(names.get(row["bot_id"], "?")),
            symbol=row["symbol"],
            quote=row["quote"],
            side=row["side"],
            qty=row["qty"],
            pnl=row["pnl"],
            fees=row["fees"],
            opened_at=row["opened_at"],
            closed_at=row["closed_at"],
            reason=row["reason"],
        )
        for row in rows
    ]
