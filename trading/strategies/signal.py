"""`signal`: do what the alert says."""

from __future__ import annotations

from decimal import Decimal

from trading.alerts import Action
from trading.strategies.base import BaseStrategy, Decision, StrategyContext


def alert_target(context: StrategyContext) -> Decimal | None:
    """The signed position the alert states (`market_position` / `position_size`), if any."""
    alert = context.alert
    if alert.market_position == "flat":
        return Decimal(0)
    if alert.position_size is None:
        return None
    size = abs(alert.position_size)
    if alert.market_position == "short" or (
        alert.market_position is None and alert.position_size < 0
    ):
        return -size
    return size


class SignalStrategy(BaseStrategy):
    name = "signal"

    def decide(self, context: StrategyContext) -> Decision:
        action = context.alert.action
        if action is Action.TICK:
            return Decision.ignore("price updated")
        target = (
            alert_target(context) if action in (Action.BUY, Action.SELL, Action.CLOSE) else None
        )
        return Decision(signal=action.value, qty=context.alert.qty, target=target)  # type: ignore[arg-type]
