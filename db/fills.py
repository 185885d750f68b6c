"""The statements that store a fill (`trading.records.FillRecord`) in one commit: the order, the
position, its entries, the closed trade and the alert's webhook log row. The hot path of every
alert: one lean batch, one trip to the database (`db.sql`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from db import sql
from db.alert_log import ALERT_IS_RUNNING, answer_unless_accepted_set
from db.models import CurrentPosition, Order, PositionEntry, TradeHistory, WebhookLog
from trading.accounting import account_moves
from trading.records import (
    ALERT_RUNNING,
    AlertTaken,
    ConcurrentUpdate,
    FillRecord,
    NewOrder,
    OrderSettled,
    PendingId,
    StoredPosition,
)


def order_columns(order: NewOrder) -> dict[str, Any]:
    """An order row's columns (`OrderStore.create_order`, or a new order with its fill)."""
    return {
        "client_order_id": order.client_order_id,
        "bot_id": order.bot_id,
        "symbol": order.symbol,
        "side": order.side,
        "qty": order.qty,
        "price": order.price,
        "broker": order.broker,
        "intent": order.intent,
        "reason": order.reason,
        "webhook_log_id": order.webhook_log_id,
    }


@dataclass(frozen=True, slots=True)
class InFlightId(PendingId):
    """An in-flight position's id here (`trading.records.PendingId`): the id inserted by a
    batch submitted earlier (`ref`, owned by that batch), usable in a batch that follows it."""

    ref: sql.Ref


def row_id(position_id: int | PendingId) -> int | sql.Ref:
    """A position's id as a statement's parameter (an in-flight one: its `sql.Ref`)."""
    if isinstance(position_id, InFlightId):
        return position_id.ref
    if isinstance(position_id, int):
        return position_id
    raise TypeError(f"not a position id of this store: {position_id!r}")


@dataclass(frozen=True, slots=True)
class FillWrite:
    """A fill's statements, and the ids they store: the open position afterwards (None when
    flat) and the order, each a `sql.Ref` while the batch has not run."""

    batch: sql.Batch
    position: int | sql.Ref | None
    order: int | sql.Ref
    after: StoredPosition | None  # the position as this batch leaves it (None: flat)
    # what it adds to its currency's realized PnL and exposure (see `SqlPaperLedger`)
    account_moves: tuple[Decimal, Decimal]

    async def ids(self, results: Awaitable[list[Any]]) -> tuple[int | None, int]:
        """(open position id or None, order id) once `results` (the batch's) are in;
        ConcurrentUpdate if the batch was not stored because one it followed was not."""
        try:
            stored = await results
        except sql.DependencyFailed:
            raise ConcurrentUpdate("the fill it followed was not stored") from None
        position, order = self.position, self.order
        return (
            int(position.value(stored)) if isinstance(position, sql.Ref) else position,
            int(order.value(stored)) if isinstance(order, sql.Ref) else order,
        )


@dataclass(frozen=True, slots=True)
class SqlPendingFill:
    """A fill submitted to the writer (`trading.records.PendingFill`): `stored()` waits for its
    commit."""

    write: FillWrite
    future: asyncio.Future[list[Any]]

    @property
    def after(self) -> StoredPosition | None:
        return self.write.after

    @property
    def account_moves(self) -> tuple[Decimal, Decimal]:
        return self.write.account_moves

    async def stored(self) -> tuple[int | None, int]:
        """(open position id or None, order id) once committed; ConcurrentUpdate if it was not
        stored because the position changed. Shielded: a caller giving up (cancelled) must not
        cancel the commit's outcome for the orders planned on it."""
        return await self.write.ids(asyncio.shield(self.future))


def fill_write(record: FillRecord) -> FillWrite:
    """The statements that store `record` atomically (see `FillRecord` for what they check).

    `record.before.id` may be an `InFlightId` of a fill submitted earlier (its `after`); with
    `record.follows` (that fill, a `SqlPendingFill` not committed when this was planned), the
    batch is not stored unless that one was."""
    fill, stops, before, outcome = record.fill, record.stops, record.before, record.outcome
    bot_id, symbol, quote, reason = record.bot_id, record.symbol, record.quote, record.reason
    claim, new_order, order_id = record.claim, record.new_order, record.order_id
    levels: dict[str, Any] = {
        "sl": stops.sl,
        "tp": stops.tp,
        "trail": stops.trail,
        "take_profits": [level.to_json() for level in stops.take_profits],
    }
    if stops.sets_trail_peak or stops.trail is None:
        levels.update(trail_peak=stops.trail_peak, trail_stop=stops.trail_stop)
    batch = sql.Batch()  # one transaction, one trip to the database
    follows = record.follows
    if follows is not None:
        if not isinstance(follows, SqlPendingFill):
            raise TypeError(f"a fill of this store can follow only one of its own: {follows!r}")
        batch.follows = follows.write.batch
    filled = {
        "status": "filled",
        "filled_qty": fill.qty,
        "avg_fill_price": fill.price,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "broker_order_id": fill.broker_order_id,
    }
    order: int | sql.Ref
    if new_order is not None:
        columns = order_columns(new_order)
        columns.update(filled)
        order = batch.insert(Order, columns)
    elif order_id is not None:
        order = order_id
        batch.update(
            Order,
            {**filled, "updated_at": datetime.now(UTC)},
            '"id" = ? AND "status" = ?',
            order_id,
            "pending",
            require=OrderSettled(f"order {order_id} is no longer pending"),
        )
    else:
        raise ValueError("fill_write needs the pending order's id or a new order's fields")
    old_id: int | sql.Ref | None = row_id(before.id) if before else None
    new_id: int | sql.Ref | None = None
    # the id of the position as this batch leaves it, for a later batch (`after`)
    after_id: int | PendingId | None = None
    kept = False  # the position `before` is updated, not deleted (nor a new one inserted)
    if before is not None:
        moved = ConcurrentUpdate(f"position {old_id} changed")
        if outcome.position is None or outcome.reopened:
            batch.execute(
                'DELETE FROM "current_positions" WHERE "id" = ? AND "version" = ?',
                old_id,
                before.version,
                require=moved,
            )
        else:
            state = outcome.position
            batch.update(
                CurrentPosition,
                {
                    "qty": state.qty,
                    "avg_price": state.avg_price,
                    "entries": state.entries,
                    "opened_qty": state.opened_qty,
                    "exit_qty": state.exit_qty,
                    "exit_value": state.exit_value,
                    "realized_pnl": state.realized_pnl,
                    "fees": state.fees,
                    **levels,
                    "version": before.version + 1,
                    "updated_at": fill.time,
                },
                '"id" = ? AND "version" = ?',
                old_id,
                before.version,
                require=moved,
            )
            new_id, after_id, kept = old_id, before.id, True
            if claim is not None:
                batch.update(
                    CurrentPosition,
                    {"closing_token": None, "closing_at": None},
                    '"id" = ? AND "closing_token" = ?',
                    old_id,
                    claim,
                )
    if outcome.position is not None and new_id is None:
        state = outcome.position
        inserted = batch.insert(
            CurrentPosition,
            {
                "bot_id": bot_id,
                "symbol": symbol,
                "quote": quote,
                "side": state.side,
                "qty": state.qty,
                "avg_price": state.avg_price,
                "entries": state.entries,
                "opened_qty": state.opened_qty,
                "realized_pnl": state.realized_pnl,
                "fees": state.fees,
                **levels,
                "opened_at": state.opened_at,
            },
            on_conflict=ConcurrentUpdate(f"a position for {symbol} was opened meanwhile"),
        )
        # in flight until this batch is committed
        new_id, after_id = inserted, InFlightId(batch.ref(inserted))
    if outcome.closed is not None and old_id is not None:
        batch.insert(
            TradeHistory,
            {
                "position_id": old_id,
                "bot_id": bot_id,
                "symbol": symbol,
                "quote": quote,
                "reason": reason,
                **outcome.closed.fields(),  # side, qty, prices, pnl, fees, entries, times
            },
        )
    for leg in outcome.legs:
        batch.insert(
            PositionEntry,
            {
                "position_id": new_id if leg.kind == "open" or old_id is None else old_id,
                "bot_id": bot_id,
                "order_id": order,
                "symbol": symbol,
                "kind": leg.kind,
                "side": record.side,
                "qty": leg.qty,
                "price": leg.price,
                "fee": leg.fee,
                "gross_pnl": leg.gross_pnl,
                "reason": reason,
                "created_at": fill.time,
            },
        )
    finish = record.finish_log
    if finish is not None:
        log_id = finish.log_id
        outcome_fields = {
            "status": finish.status,
            "reason": finish.reason,
            "finished_at": finish.finished_at,
            "order_id": order,
        }
        # the answer code too, unless the sender was answered 202 meanwhile (in the same
        # statement: the row is updated whenever the answer would be)
        answer = None if finish.http_status is None else answer_unless_accepted_set(
            finish.http_status
        )  # fmt: skip
        if new_order is not None:  # nothing was sent anywhere: stored only if still running
            batch.update(
                WebhookLog,
                outcome_fields,
                ALERT_IS_RUNNING,
                log_id,
                *ALERT_RUNNING,
                require=AlertTaken(f"webhook log {log_id} is no longer running here"),
                also=answer,
            )
        else:
            batch.update(WebhookLog, outcome_fields, '"id" = ?', log_id, also=answer)
    after = None
    if outcome.position is not None and after_id is not None:
        peak = (
            (stops.trail_peak, stops.trail_stop)
            if "trail_peak" in levels
            else (before.trail_peak, before.trail_stop)
            if kept and before is not None
            else (None, None)
        )
        after = StoredPosition(
            after_id,
            before.version + 1 if kept and before is not None else 0,
            outcome.position,
            stops.sl,
            stops.tp,
            stops.trail,
            take_profits=stops.take_profits,
            trail_peak=peak[0],
            trail_stop=peak[1],
            closing_token=before.closing_token if kept and before and claim is None else None,
            closing_at=before.closing_at if kept and before and claim is None else None,
            bot_id=bot_id,
            symbol=symbol,
        )
    moves = account_moves(before.state if before else None, outcome)
    return FillWrite(batch, new_id, order, after, moves)
