"""What an executed alert answers and writes on its webhook log row.

The JSON answer of an alert, a chat button or a close (`ExecutionResult`), the position and order
parts of it, and the log row's columns that the fill's own transaction writes.

The rule of the answer code lives here, once: the outcome is the sender's answer (200) unless
the sender was already answered `202 accepted` (`ACCEPTED`, the intake's answer when the execution
outlasts its patience); then the row keeps its 202 (`AlertLog.answer_code`). Storage writes the
code only on a row that is not at `ACCEPTED` either, since the 202 may be given while the outcome
commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from trading.positions import OrderPlan, PositionState
from trading.records import AlertOutcome
from trading.views import ExecutionResult, plain

ANSWERED = 200  # the outcome is the answer: the sender waited for it
ACCEPTED = 202  # "accepted, executing in the background": the outcome comes later

TAKEN_OVER = (
    "taken over by another process's start-up recovery, which executes it; nothing traded here"
)


@dataclass
class AlertLog:
    """The webhook log row of the alert being executed. When the alert fills, the fill's own
    transaction writes the outcome on this row too (one commit instead of two) and `finished`
    says so; `answered_late()` tells whether the sender was already answered 202 (then the
    row's answer code stays 202). `price_stored`: the alert's price was written with the row."""

    id: int
    answered_late: Callable[[], bool]
    finished: bool = False
    price_stored: bool = False

    def answer_code(self) -> int | None:
        """The answer code the outcome writes on the row: 200, or None (the row keeps its 202)
        once the sender was answered `ACCEPTED`."""
        return None if self.answered_late() else ANSWERED

    def executed(self, reason: str) -> AlertOutcome:
        """The executed outcome, written on the row in the fill's transaction."""
        return AlertOutcome(
            log_id=self.id,
            status="executed",
            reason=reason,
            finished_at=datetime.now(UTC),
            http_status=self.answer_code(),
        )


def plain_or_none(value: Decimal | None) -> str | None:
    return None if value is None else plain(value)


def rejected(bot: str, reason: str) -> ExecutionResult:
    return ExecutionResult(status="rejected", reason=reason, bot=bot)


def ignored(bot: str, reason: str) -> ExecutionResult:
    return ExecutionResult(status="ignored", reason=reason, bot=bot)


def taken_over(bot: str) -> ExecutionResult:
    """An alert another process's start-up recovery claimed: nothing was traded here."""
    return ExecutionResult(status="rejected", reason=TAKEN_OVER, bot=bot)


def position_answer(
    position_id: int | None, state: PositionState | None, symbol: str
) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "id": position_id,
        "symbol": symbol,
        "side": state.side,
        "qty": plain_or_none(state.qty),
        "avg_price": plain_or_none(state.avg_price),
        "entries": state.entries,
        "realized_pnl": plain_or_none(state.realized_pnl),
    }


def order_answer(
    order_id: int,
    client_order_id: str,
    plan: OrderPlan,
    qty: Decimal | None,
    price: Decimal | None,
    fee: Decimal | None,
    trade_pnl: Decimal | None = None,
) -> dict[str, Any]:
    """A filled order as the answer shows it (`trade_pnl` when it closed a trade)."""
    return {
        "id": order_id,
        "client_order_id": client_order_id,
        "side": plan.side,
        "qty": plain_or_none(qty),
        "price": plain_or_none(price),
        "fee": plain_or_none(fee),
        "intent": plan.intent,
        "status": "filled",
        **({"trade_pnl": plain_or_none(trade_pnl)} if trade_pnl is not None else {}),
    }


__all__ = [
    "ACCEPTED",
    "ANSWERED",
    "TAKEN_OVER",
    "AlertLog",
    "ExecutionResult",
    "ignored",
    "order_answer",
    "plain_or_none",
    "position_answer",
    "rejected",
    "taken_over",
]
