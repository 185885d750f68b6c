"""Where an alert meets the bot's strategy: price series upkeep, then the strategy's decision.

The live service calls `StrategyRunner.decide`; the backtester drives the same strategy classes.
"""

from __future__ import annotations

from trading.alerts import Alert
from trading.bots import BotConfig
from trading.positions import PositionState
from trading.strategies import registry
from trading.strategies.base import Decision, StrategyContext


class StrategyRunner:
    async def decide(
        self, bot: BotConfig, alert: Alert, position: PositionState | None
    ) -> Decision:
        strategy = registry.create(bot.strategy, bot.strategy_params)
        context = StrategyContext(
            alert=alert, position=position, params=strategy.params, fields=alert.fields
        )
        return strategy.decide(context)
