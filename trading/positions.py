"""Position arithmetic and order planning, free of storage and transport.

The live service and the backtester both use these two functions, so a backtest and a replay of
the same prices through the webhook trade alike:

* `plan_order` turns a signal (buy / sell / close..., an order quantity or a target position) into
  the one order to send, following TradingView's semantics: `qty` is the size of that order, so
  `sell qty=2` while long 1 closes the long and opens a short of 1 (a long-only bot just closes).
* `apply_fill` turns a fill into the new position, the fill's legs (entry, add, exit) and, when the
  position goes flat, the closed trade. Realized PnL is after all fees; the fee of a fill that both
  closes and opens is split between the two in proportion to quantity.

Both compute in the money context (`trading.money`), exact for any stored value. Every amount
`apply_fill` hands back for storage fits the NUMERIC(38,12) columns: one that would not (the
realized PnL of an absurd position, say) is saturated at the column's limit, never refused, so a
position can always be closed. An order that would make a position's quantity too large to store
is refused when planned (`Skip`): entries may be refused, exits never are.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from trading import money
from trading.money import LIMIT, exact, fit, wide
from trading.money import q12 as q12  # re-exported: rounding to the columns' 12 places

Side = Literal["long", "short"]
OrderSide = Literal["buy", "sell"]
Direction = Literal["long", "short", "both"]
Intent = Literal["open", "add", "reduce", "close", "reverse"]

ZERO = Decimal(0)
Q = money.QUANTUM


def side_of(order_side: OrderSide) -> Side:
    return "long" if order_side == "buy" else "short"


def sign(side: Side) -> int:
    return 1 if side == "long" else -1


@dataclass(frozen=True, slots=True)
class PositionState:
    side: Side
    qty: Decimal
    avg_price: Decimal
    entries: int
    opened_qty: Decimal
    opened_at: datetime
    exit_qty: Decimal = ZERO
    exit_value: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # after every fee paid so far
    fees: Decimal = ZERO

    @property
    def signed_qty(self) -> Decimal:
        # copy_negate is exact: `-qty` would round a 38-digit quantity to the context's 28
        return self.qty if self.side == "long" else self.qty.copy_negate()

    def unrealized_pnl(self, price: Decimal) -> Decimal:
        """The PnL of the open quantity at `price`, exact (not bounded by the columns: it is
        shown, never stored)."""
        with wide():
            # `+ ZERO` turns the -0 of a short at its entry price into 0
            return q12((price - self.avg_price) * self.qty * sign(self.side)) + ZERO


@dataclass(frozen=True, slots=True)
class Fill:
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    time: datetime


@dataclass(frozen=True, slots=True)
class FillLeg:
    kind: Literal["open", "add", "reduce", "close"]
    qty: Decimal
    price: Decimal
    fee: Decimal
    gross_pnl: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    side: Side
    qty: Decimal  # total quantity the position opened
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal  # after all fees
    fees: Decimal
    entries: int
    opened_at: datetime
    closed_at: datetime

    def fields(self) -> dict[str, Any]:
        """The fields by name (a shallow `asdict`: the values are immutable)."""
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FillOutcome:
    legs: tuple[FillLeg, ...]
    position: PositionState | None  # after the fill; None when flat
    closed: ClosedTrade | None  # the trade this fill ended, if any

    @property
    def reopened(self) -> bool:
        return self.closed is not None and self.position is not None


def _open(fill: Fill, qty: Decimal, fee: Decimal) -> PositionState:
    return PositionState(
        side=side_of(fill.side),
        qty=fit(qty, "position qty"),
        avg_price=fit(fill.price, "entry price"),
        entries=1,
        opened_qty=fit(qty, "opened qty"),
        opened_at=fill.time,
        realized_pnl=fit(-fee, "realized pnl"),
        fees=fit(fee, "fees"),
    )


@exact
def apply_fill(position: PositionState | None, fill: Fill) -> FillOutcome:
    """The position after `fill`, its legs, and the trade it closed (if it went flat).

    Computed exactly in the money context; every amount it gives back fits the columns
    (`money.fit`: saturated at their limit, never refused, so any stored position closes)."""
    if fill.qty <= 0:
        raise ValueError("fill quantity must be positive")
    if position is None:
        opened = _open(fill, fill.qty, fill.fee)
        leg = FillLeg("open", opened.qty, opened.avg_price, opened.fees)
        return FillOutcome((leg,), opened, None)

    if side_of(fill.side) == position.side:
        qty = position.qty + fill.qty
        avg = q12((position.avg_price * position.qty + fill.price * fill.qty) / qty)
        added = replace(
            position,
            qty=fit(qty, "position qty"),
            avg_price=fit(avg, "average price"),
            entries=position.entries + 1,
            opened_qty=fit(position.opened_qty + fill.qty, "opened qty"),
            realized_pnl=fit(position.realized_pnl - fill.fee, "realized pnl"),
            fees=fit(position.fees + fill.fee, "fees"),
        )
        leg = FillLeg("add", fit(fill.qty, "qty"), fit(fill.price, "price"), fit(fill.fee, "fee"))
        return FillOutcome((leg,), added, None)

    close_qty = min(fill.qty, position.qty)
    open_qty = fill.qty - close_qty
    close_fee = fill.fee if open_qty == 0 else q12(fill.fee * close_qty / fill.qty)
    open_fee = fill.fee - close_fee
    gross = q12((fill.price - position.avg_price) * close_qty * sign(position.side))
    remaining = position.qty - close_qty
    exit_qty = position.exit_qty + close_qty
    exit_value = position.exit_value + fill.price * close_qty
    realized = position.realized_pnl + gross - close_fee
    fees = position.fees + close_fee
    leg_kind: Literal["reduce", "close"] = "reduce" if remaining > 0 else "close"
    leg = FillLeg(
        leg_kind,
        fit(close_qty, "qty"),
        fit(fill.price, "price"),
        fit(close_fee, "fee"),
        fit(gross, "gross pnl"),
    )
    if remaining > 0:
        reduced = replace(
            position,
            qty=fit(remaining, "position qty"),
            exit_qty=fit(exit_qty, "exit qty"),
            # saturated, the trade's average exit price is then a lower bound
            exit_value=fit(exit_value, "exit value"),
            realized_pnl=fit(realized, "realized pnl"),
            fees=fit(fees, "fees"),
        )
        return FillOutcome((leg,), reduced, None)

    closed = ClosedTrade(
        side=position.side,
        qty=fit(position.opened_qty, "trade qty"),
        entry_price=fit(position.avg_price, "entry price"),
        # the earlier exits as stored (a lower bound, if saturated) and this one, exactly
        exit_price=fit(exit_value / exit_qty, "exit price"),
        pnl=fit(realized, "trade pnl"),
        fees=fit(fees, "trade fees"),
        entries=position.entries,
        opened_at=position.opened_at,
        closed_at=fill.time,
    )
    legs = [leg]
    reopened = None
    if open_qty > 0:
        reopened = _open(fill, open_qty, open_fee)
        legs.append(FillLeg("open", reopened.qty, reopened.avg_price, reopened.fees))
    return FillOutcome(tuple(legs), reopened, closed)


@dataclass(frozen=True, slots=True)
class OrderPlan:
    side: OrderSide
    qty: Decimal
    intent: Intent
    close_qty: Decimal  # part of qty that reduces the current position
    open_qty: Decimal  # part of qty that opens or adds
    note: str = ""  # why the order is less than asked (a reversal kept to its close), if it is


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


Signal = Literal["buy", "sell", "close", "close_long", "close_short"]


def _allowed(direction: Direction, side: Side) -> bool:
    return direction == "both" or direction == side


def allowed_target(target: Decimal, direction: Direction) -> Decimal:
    """A stated target position the bot's direction allows: a long-only bot's short target
    (or the reverse) is flat."""
    if (target > 0 and not _allowed(direction, "long")) or (
        target < 0 and not _allowed(direction, "short")
    ):
        return ZERO
    return target


def _too_large(qty: Decimal) -> str:
    return f"a position of {qty:f} would be too large to store (quantities stay under 1e26)"


def _plan_delta(
    position: PositionState | None, delta: Decimal, max_entries: int
) -> OrderPlan | Skip:
    """In the money context (the callers are `@exact`): exact for any stored quantity."""
    current = position.signed_qty if position else ZERO
    order_side: OrderSide = "buy" if delta > 0 else "sell"
    qty = abs(delta)
    if position is None:
        if qty > LIMIT:
            return Skip(_too_large(qty))
        return OrderPlan(order_side, qty, "open", ZERO, qty)
    if side_of(order_side) == position.side:
        if position.entries >= max_entries:
            return Skip(f"max entries reached ({position.entries}/{max_entries})")
        # an entry may be refused: the position must stay storable (its opened total too)
        if max(position.qty, position.opened_qty) + qty > LIMIT:
            return Skip(_too_large(position.qty + qty))
        return OrderPlan(order_side, qty, "add", ZERO, qty)
    close_qty = min(qty, abs(current))
    open_qty = qty - close_qty
    note = ""
    if open_qty > LIMIT:
        # the exit goes through, never refused; only the new position is left out
        note = f"no new position: {_too_large(open_qty)}"
        qty, open_qty = close_qty, ZERO
    if open_qty > 0:
        intent: Intent = "reverse"
    elif close_qty < position.qty:
        intent = "reduce"
    else:
        intent = "close"
    return OrderPlan(order_side, qty, intent, close_qty, open_qty, note)


@exact
def plan_target(
    position: PositionState | None,
    target: Decimal,
    *,
    direction: Direction,
    max_entries: int,
) -> OrderPlan | Skip:
    """The order that brings the position to `target` (signed: negative is short)."""
    target = allowed_target(target, direction)
    current = position.signed_qty if position else ZERO
    delta = target - current
    if delta == 0:
        return Skip("position already matches the alert's target")
    return _plan_delta(position, delta, max_entries)


@exact
def plan_order(
    position: PositionState | None,
    signal: Signal,
    *,
    qty: Decimal | None,
    default_qty: Decimal | None,
    direction: Direction,
    max_entries: int,
) -> OrderPlan | Skip:
    """The order for a signal. `qty` is the alert's order size; `default_qty` the bot's."""
    if signal in ("close", "close_long", "close_short"):
        if position is None:
            return Skip("no open position to close")
        if signal == "close_long" and position.side != "long":
            return Skip("no long position to close")
        if signal == "close_short" and position.side != "short":
            return Skip("no short position to close")
        amount = position.qty if qty is None else min(qty, position.qty)
        delta = amount * -sign(position.side)
        return _plan_delta(position, delta, max_entries)

    side: Side = "long" if signal == "buy" else "short"
    unit = 1 if side == "long" else -1
    if position is None or position.side == side:
        if not _allowed(direction, side):
            return Skip(f"bot trades {direction} only; {signal} with no opposite position")
        size = qty if qty is not None else default_qty
        if size is None or size <= 0:
            return Skip("no order size: set the bot's size or send qty")
        return _plan_delta(position, size * unit, max_entries)

    # Opposite signal while in a position.
    if qty is not None:
        close_qty = min(qty, position.qty)
        open_qty = qty - close_qty if _allowed(direction, side) else ZERO
    else:
        close_qty = position.qty
        open_qty = default_qty if (_allowed(direction, side) and default_qty) else ZERO
    return _plan_delta(position, (close_qty + open_qty) * unit, max_entries)
