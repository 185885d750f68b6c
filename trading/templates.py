"""The TradingView alert message a user pastes, with the bot's passphrase filled in."""

from __future__ import annotations

import json

from trading.bots import BotConfig


def alert_template(bot: BotConfig) -> str:
    """TradingView placeholders; `id` joins the order id and the firing time so that
    TradingView's retries of one alert are recognised as duplicates."""
    message: dict[str, str] = {
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
        "id": "{{strategy.order.id}}-{{timenow}}",
    }
    if bot.passphrase:
        message["passphrase"] = bot.passphrase
    return json.dumps(message, indent=1)
