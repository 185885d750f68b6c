"""The paper broker's account (`trading.brokers.paper.PaperLedger`), derived from stored rows."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from db import sql
from db.models import CurrentPosition, TradeHistory
from db.tally import Tally, add_up
from trading import money


class SqlPaperLedger:
    """Paper account figures derived from stored rows (see `trading.brokers.paper`).

    Realized PnL is the sum of closed trades (`trade_history`, rows written once and never
    changed) plus the realized part of open positions. The closed part of one currency is a
    `db.tally.Tally`: the check before an opening order reads only the trades closed since (one
    small query, not the whole history), exact across processes. What one fill adds to both
    figures, before it is stored: `trading.accounting`.
    """

    def __init__(self) -> None:
        self._closed = Tally("trade_history", "pnl", "quote", add_up)  # per quote currency

    async def account(self, quote: str) -> tuple[Decimal, Decimal]:
        """(realized PnL, exposure) of one currency: before every opening order, so one trip
        of lean SQL reads the trades closed since last time (`db.tally`) and the open
        positions."""
        batch = sql.Batch()
        closed = self._closed.plan(batch, quote)
        positions = batch.fetch(
            'SELECT "realized_pnl", "qty", "avg_price" FROM "current_positions" WHERE "quote" = ?',
            quote,
        )
        results = await sql.run(batch)
        realized = await self._closed.value(closed, results) or Decimal(0)
        exposure = Decimal(0)
        stored = money.from_column
        with money.wide():  # exact sums of any stored values (`trading.money`)
            for pnl, qty, price in results[positions]:
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
