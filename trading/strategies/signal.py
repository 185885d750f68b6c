"""`signal`: do what the alert says."""

from __future__ import annotations

from trading.alerts import Action
from trading.strategies.base import (
    BaseStrategy,
    Decision,
    StrategyContext,
    follow_alert,
)

__all__ = ["SignalStrategy"]


class SignalStrategy(BaseStrategy):
    name = "signal"

    def decide(self, context: StrategyContext) -> Decision:
        if context.alert.action is Action.TICK:
            return Decision.ignore("price updated")
        return follow_alert(context)
