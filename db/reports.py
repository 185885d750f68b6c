"""Closed trades as the reports read them (PnL per day, week, bot)."""

from __future__ import annotations

import logging
from datetime import datetime

from db import sql
from db.models import TradeHistory, TradingBot
from trading.records import ClosedTradeRow

log = logging.getLogger(__name__)


class SqlReportStore:
    """`trading.ports.ReportStore` on Tortoise."""

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTradeRow]:
        """Trades closed at or after `since` (all when None), oldest first. Rows are read one
        by one: one that cannot be read is left out and logged, never failing the report of
        every bot."""
        names = (
            "id", "bot_id", "symbol", "quote", "side", "qty", "pnl", "fees", "opened_at",
            "closed_at", "reason",
        )  # fmt: skip
        columns = ", ".join(f'"{name}"' for name in names)
        where, params = "", []
        if since is not None:
            where = ' WHERE "closed_at" >= ?'
            params.append(sql.encode(sql.field_of(TradeHistory, "closed_at"), since))
        batch = sql.Batch()
        batch.fetch(
            f'SELECT {columns} FROM "trade_history"{where} ORDER BY "closed_at", "id"', *params
        )
        (raw,) = await sql.run(batch)
        rows = []
        for values in raw:
            try:
                rows.append(sql.decode(TradeHistory, values, names))
            except Exception:
                log.exception("trade row id=%r cannot be read: left out of the reports", values[0])
        bot_ids = {row["bot_id"] for row in rows}
        bots = dict(await TradingBot.filter(id__in=bot_ids).values_list("id", "name"))
        return [
            ClosedTradeRow(
                bot=str(bots.get(row["bot_id"], "?")),
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
