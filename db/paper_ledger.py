"""The paper broker's account (`trading.brokers.paper.PaperLedger`), derived from stored rows."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from db import sql
from db.models import CurrentPosition, TradeHistory
from trading import money


class SqlPaperLedger:
    """Paper account figures derived from stored rows (see `trading.brokers.paper`).

    Realized PnL is the sum of closed trades (`trade_history`, rows written once and never
    changed) plus the realized part of open positions. The closed part of one currency is kept
    with the count and highest id it covers, so the check before an opening order reads only the
    trades closed since (one small query, not the whole history); a count that does not add up
    (rows committed out of id order by another process) recomputes it from all rows. What one
    fill adds to both figures, before it is stored: `trading.accounting`.
    """

    def __init__(self) -> None:
        self._closed: dict[str, tuple[int, int, Decimal]] = {}  # quote -> (count, max id, sum)

    async def account(self, quote: str) -> tuple[Decimal, Decimal]:
        """(realized PnL, exposure) of one currency: before every opening order, so one trip
        of lean SQL reads the trades closed since last time and the open positions.

        On SQLite ids are handed out under the single writer's lock, so they grow in commit
        order and "id above the last one seen" is exact. Elsewhere a transaction can commit a
        lower id after a higher one, so the count is checked as well (and everything added up
        again when it does not match)."""
        seen = self._closed.get(quote)
        top = seen[1] if seen else 0
        batch = sql.Batch()
        batch.fetch(
            'SELECT "id", "pnl" FROM "trade_history" WHERE "quote" = ? AND "id" > ?', quote, top
        )
        batch.fetch(
            'SELECT "realized_pnl", "qty", "avg_price" FROM "current_positions" WHERE "quote" = ?',
            quote,
        )
        in_order = sql.ids_in_commit_order()
        if not in_order:
            batch.fetch('SELECT COUNT("id") FROM "trade_history" WHERE "quote" = ?', quote)
        new_rows, positions, *counted = await sql.run(batch)
        stored = money.from_column
        count = (seen[0] if seen else 0) + len(new_rows)
        closed = money.total(
            [seen[2] if seen else Decimal(0), *(stored(row[1]) for row in new_rows)]
        )
        if new_rows:
            top = max(int(row[0]) for row in new_rows)
        if counted and int(counted[0][0][0] or 0) != count:
            # rows committed out of id order by another process: add them all up again
            rows = await TradeHistory.filter(quote=quote).values_list("id", "pnl")
            count, closed = len(rows), money.total(pnl for _id, pnl in rows)
            top = max((int(row_id) for row_id, _pnl in rows), default=0)
        self._closed[quote] = (count, top, closed)
        realized, exposure = closed, Decimal(0)
        with money.wide():  # exact sums of any stored values (`trading.money`)
            for pnl, qty, price in positions:
                realized += stored(pnl)
                exposure += stored(qty) * stored(price)
        return realized, exposure

    async def realized(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        trades = await TradeHistory.all().values_list("quote", "pnl")
        positions = await CurrentPosition.all().values_list("quote", "realized_pnl")
        with money.wide():
            for currency, pnl in [*trades, *positions]:
                totals[currency] += pnl
        return dict(totals)

    async def exposure(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        rows = await CurrentPosition.all().values_list("quote", "qty", "avg_price")
        with money.wide():
            for currency, qty, price in rows:
                totals[currency] += qty * price
        return dict(totals)
