"""Planning an order, free of storage, brokers and time: what a decision needs on a position.

`TradingService` gathers what a plan needs (the position, the price, the bot's size when the
decision names none) and calls these; they decide the order (or why there is none), the request
and the row that describe it, and what its fill does to the position and its stops.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

from trading.answers import ignored, rejected
from trading.bots import BotConfig
from trading.brokers.base import OrderFill, OrderRequest
from trading.numbers import notional_error
from trading.positions import (
    Fill,
    FillOutcome,
    Intent,
    OrderPlan,
    PositionState,
    Skip,
    apply_fill,
    plan_order,
    plan_target,
)
from trading.protection import AlertLevels, Protection, protection_after_fill
from trading.records import NewOrder, StoredPosition
from trading.strategies.base import Decision
from trading.views import ExecutionResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OrderSpec:
    """What an order is for, fixed while it is planned (again, if the position moved)."""

    bot: BotConfig
    symbol: str
    base: str
    quote: str
    price: Decimal
    reason: str
    levels: AlertLevels
    webhook_log_id: int | None
    take_profit: int | None

    def answer_reason(self, plan: OrderPlan) -> str:
        reason = self.reason if self.reason != "signal" else plan.intent
        return f"{reason}; {plan.note}" if plan.note else reason


def needs_bot_size(decision: Decision) -> bool:
    """Whether the plan needs the bot's own size: only a buy or sell without qty does, so a
    close (a stop-loss, say) does not wait on the broker's balances, nor fail with them."""
    return decision.target is None and decision.signal in ("buy", "sell") and decision.qty is None


def plan_decision(
    order: OrderSpec,
    position: PositionState | None,
    decision: Decision,
    default_qty: Decimal | None,
) -> OrderPlan | ExecutionResult:
    """The order the decision needs on `position`, or why there is none."""
    bot = order.bot
    plan: OrderPlan | Skip
    if decision.target is not None:
        plan = plan_target(
            position, decision.target, direction=bot.direction, max_entries=bot.max_entries
        )
    else:
        assert decision.signal is not None
        plan = plan_order(
            position,
            decision.signal,
            qty=decision.qty,
            default_qty=default_qty,
            direction=bot.direction,
            max_entries=bot.max_entries,
        )
    if isinstance(plan, Skip):
        return ignored(bot.name, plan.reason)
    if plan.qty <= 0:
        return ignored(bot.name, "order size rounds to zero")
    return bounded(order, position, plan)


def bounded(
    order: OrderSpec, position: PositionState | None, plan: OrderPlan
) -> OrderPlan | ExecutionResult:
    """Only what opens is bounded: a close of any stored position always goes through, and a
    reversal whose new position would be too large closes and stays flat."""
    held = position.qty if position is not None and plan.close_qty == 0 else Decimal(0)
    too_large = plan.open_qty and notional_error(held + plan.open_qty, order.price)
    if too_large and plan.close_qty > 0:
        assert position is not None
        intent: Intent = "close" if plan.close_qty >= position.qty else "reduce"
        log.info(
            "reversal kept to its close bot=%s symbol=%s: %s",
            order.bot.name,
            order.symbol,
            too_large,
        )
        note = f"no new position: {too_large}"
        return OrderPlan(plan.side, plan.close_qty, intent, plan.close_qty, Decimal(0), note)
    if too_large:
        return rejected(order.bot.name, too_large)
    return plan


def order_request(order: OrderSpec, plan: OrderPlan) -> OrderRequest:
    """The broker's request, under a fresh client order id."""
    return OrderRequest(
        client_order_id=f"tb{order.bot.id}-{uuid.uuid4().hex[:24]}",
        symbol=order.symbol,
        base=order.base,
        quote=order.quote,
        side=plan.side,
        qty=plan.qty,
        price=order.price,
        open_qty=plan.open_qty,
    )


def order_row(order: OrderSpec, plan: OrderPlan, client_order_id: str, broker: str) -> NewOrder:
    """The order's row (`OrderStore.create_order`, or `FillRecord.new_order` with its fill)."""
    return NewOrder(
        client_order_id=client_order_id,
        bot_id=order.bot.id,
        symbol=order.symbol,
        side=plan.side,
        qty=plan.qty,
        price=order.price,
        broker=broker,
        intent=plan.intent,
        reason=order.reason,
        webhook_log_id=order.webhook_log_id,
    )


def fill_effects(
    order: OrderSpec,
    plan: OrderPlan,
    fill: OrderFill,
    stored: StoredPosition | None,
    *,
    break_even: bool,
) -> tuple[FillOutcome, Protection]:
    """The fill applied to `stored`: the outcome, and the stops after it."""
    bot = order.bot
    outcome = apply_fill(
        stored.state if stored else None,
        Fill(plan.side, fill.qty, fill.price, fill.fee, fill.time),
    )
    stops = protection_after_fill(
        bot_levels=(bot.sl, bot.tp, bot.trail),
        alert=order.levels,
        outcome=outcome,
        before=stored.protection if stored else None,
        reference_price=order.price,
        take_profit_filled=order.take_profit,
        break_even=break_even,
    )
    return outcome, stops
