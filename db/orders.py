"""Orders and the fills that settle them (the `OrderStore`), and the closed trades' view. A
fill's statements, and an order row's columns (`order_columns`), are built in `db.fills`."""

from __future__ import annotations

import logging

from db import sql
from db.alert_log import still_running
from db.fills import SqlPendingFill, fill_write, order_columns
from db.models import Order, TradeHistory
from db.positions import take_claim
from db.rows import bot_names, decoded, filters
from trading.records import Claim, FillRecord, NewOrder, OrderRecord
from trading.views import TradeView

log = logging.getLogger(__name__)


def _order(row: Order) -> OrderRecord:
    return OrderRecord(
        id=row.id,
        client_order_id=row.client_order_id,
        bot_id=row.bot_id,  # type: ignore[attr-defined]
        symbol=row.symbol,
        side=row.side,
        order_type=row.order_type,
        qty=row.qty,
        price=row.price,
        status=row.status,
        filled_qty=row.filled_qty,
        avg_fill_price=row.avg_fill_price,
        fee=row.fee,
        fee_currency=row.fee_currency,
        broker=row.broker,
        broker_order_id=row.broker_order_id,
        intent=row.intent,
        reason=row.reason,
        webhook_log_id=row.webhook_log_id,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlOrderStore:
    """`trading.ports.OrderStore` on Tortoise (the fill pipeline in lean SQL, `db.sql`)."""

    async def create_order(
        self,
        order: NewOrder,
        *,
        claim: Claim | None = None,
        refused: str | None = None,
        running_alert: int | None = None,
    ) -> int:
        """Write the order row before the broker is called. With `claim`, the position is
        claimed in the same transaction (PositionClaimed if someone else holds it): no closing
        order is ever sent by two closers. With `refused` (the reason), the row of an order an
        instant broker refused, stored as rejected. With `running_alert` (its log id), only
        while the intake still runs that alert (AlertTaken once another process's recovery
        claimed it)."""
        fields = order_columns(order)
        if refused is not None:
            fields.update(status="rejected", error=refused[:2000])
        batch = sql.Batch()
        if running_alert is not None:
            still_running(batch, running_alert)
        if claim is not None:
            take_claim(batch, claim)
        row = batch.insert(Order, fields)
        results = await sql.run(batch)
        return int(results[row.index])

    async def finish_order(self, order_id: int, status: str, error: str) -> None:
        await Order.filter(id=order_id, status="pending").update(status=status, error=error[:2000])

    async def pending_order(self, client_order_id: str) -> OrderRecord | None:
        row = await Order.get_or_none(client_order_id=client_order_id, status="pending")
        return _order(row) if row is not None else None

    async def pending_orders(self) -> list[OrderRecord]:
        return [_order(row) for row in await Order.filter(status="pending").order_by("id")]

    async def order_by_id(self, order_id: int) -> OrderRecord:
        return _order(await Order.get(id=order_id))

    async def record_fill(self, fill: FillRecord) -> tuple[int | None, int]:
        """The fill's statements (`db.fills.fill_write`), run: (the id of the open position
        afterwards, None when flat; the order's id) once committed."""
        write = fill_write(fill)
        return await write.ids(sql.run(write.batch))

    async def submit_fill(self, fill: FillRecord) -> SqlPendingFill:
        """The fill's statements, queued to the writer: their place is fixed now, their commit
        awaited later (see `sql.submit`), so the next order on the position can be planned
        meanwhile."""
        write = fill_write(fill)
        return SqlPendingFill(write, await sql.submit(write.batch))

    async def list_trades(self, bot_name: str | None = None, limit: int = 50) -> list[TradeView]:
        """Closed trades, newest first; rows read one by one (a bad row is left out, logged)."""
        names, select = sql.select_all(TradeHistory)
        where, params = filters(bot_name)
        batch = sql.Batch()
        batch.fetch(f'{select}{where} ORDER BY "closed_at" DESC, "id" DESC LIMIT ?', *params, limit)
        (raw,) = await sql.run(batch)
        rows = decoded(TradeHistory, raw, names)
        bots = await bot_names({row.bot_id for row in rows})
        views = []
        for row in rows:
            try:
                views.append(
                    TradeView(
                        id=row.id,
                        bot=bots.get(row.bot_id, "?"),
                        symbol=row.symbol,
                        side=row.side,
                        qty=row.qty,
                        entry_price=row.entry_price,
                        exit_price=row.exit_price,
                        pnl=row.pnl,
                        fees=row.fees,
                        entries=row.entries,
                        opened_at=row.opened_at,
                        closed_at=row.closed_at,
                        reason=row.reason,
                        quote=row.quote,
                    )
                )
            except Exception:
                log.exception("trade #%s cannot be shown: left out", row.id)
        return views
