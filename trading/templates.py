"""The TradingView alert a user sets up for a bot: which kind of alert to make, and the message
to paste into it, with the bot's passphrase filled in.

The message fits the bot's strategy:

- a `signal` bot does what each alert says, so its alert comes from a Pine *strategy*, fired on
  the strategy's order fills, and the message carries the order: `{{strategy.order.action}}`,
  the contracts and the position the fill leaves.
- an indicator bot (`rsi`, `ma_cross`, `macd`, `bollinger`: any `IndicatorStrategy`) computes
  its own signals from bars, so its alert fires once per bar close and the message carries the
  bar: action `tick`, `price` = the close, `open`/`high`/`low`/`volume`, `interval` and
  `bar_time` (the bar's open time). An alert with `interval` and `bar_time` closes that bar of
  the bot's series and the strategy decides on it (`trading/strategy_runner.py`).

Every value is a string, as TradingView expands placeholders into text.
"""

from __future__ import annotations

import json

from trading.bots import BotConfig

# The placeholders TradingView expands in any alert (`{{strategy.…}}` only in a strategy's).
SIGNAL_MESSAGE: dict[str, str] = {
    "action": "{{strategy.order.action}}",
    "symbol": "{{ticker}}",
    "exchange": "{{exchange}}",
    "price": "{{close}}",
    "qty": "{{strategy.order.contracts}}",
    "market_position": "{{strategy.market_position}}",
    "position_size": "{{strategy.position_size}}",
    "order_id": "{{strategy.order.id}}",
    "comment": "{{strategy.order.comment}}",
    "interval": "{{interval}}",
    "time": "{{timenow}}",
    "bar_time": "{{time}}",
    # The order id and the firing time: TradingView's retries of one alert are duplicates.
    "id": "{{strategy.order.id}}-{{timenow}}",
}

BAR_MESSAGE: dict[str, str] = {
    "action": "tick",
    "symbol": "{{ticker}}",
    "exchange": "{{exchange}}",
    "price": "{{close}}",
    "open": "{{open}}",
    "high": "{{high}}",
    "low": "{{low}}",
    "volume": "{{volume}}",
    "interval": "{{interval}}",
    "bar_time": "{{time}}",
    "time": "{{timenow}}",
    # One id per bar: a retry of the same bar close is a duplicate.
    "id": "{{ticker}}-{{interval}}-{{time}}",
}


def needs_bars(bot: BotConfig) -> bool:
    """Whether the bot's strategy computes its signals from bars (an indicator strategy)."""
    from trading.errors import InvalidRequest
    from trading.strategies import registry  # TA-Lib and numpy: only when a template is made
    from trading.strategies.base import IndicatorStrategy

    try:
        return issubclass(registry.strategy_class(bot.strategy), IndicatorStrategy)
    except InvalidRequest:  # a strategy this version does not know trades nothing anyway
        return False


def alert_template(bot: BotConfig) -> str:
    """The JSON message to paste into the bot's TradingView alert."""
    message = dict(BAR_MESSAGE if needs_bars(bot) else SIGNAL_MESSAGE)
    if bot.passphrase:
        message["passphrase"] = bot.passphrase
    return json.dumps(message, indent=1)


def alert_kind(bot: BotConfig) -> str:
    """One line: which TradingView alert to make for the bot, to print beside the template."""
    if not needs_bars(bot):
        return (
            "Make the alert on your Pine strategy (Condition: the strategy, on its order fills): "
            "each fill tells the bot what to do."
        )
    from trading.strategies import registry
    from trading.strategies.base import IndicatorStrategy

    strategy = registry.create(bot.strategy, bot.strategy_params)
    assert isinstance(strategy, IndicatorStrategy)
    chart = f"the chart (interval {bot.interval})" if bot.interval else "the chart"
    return (
        f"Make a price alert on {chart} that holds on every bar (Condition: the symbol "
        f"Greater Than 0), Trigger: Once Per Bar Close: each bar close feeds the bot's "
        f"{bot.strategy}, which trades after {strategy.warmup} bars."
    )
