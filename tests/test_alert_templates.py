"""The alert template a bot prints fits its strategy: pasted into TradingView and expanded as
TradingView expands it (every value a string), the running product accepts it, and for an
indicator bot each alert closes a bar of the bot's series."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from db.stores import sql_stores
from tests.conftest import World
from trading.bots import BotConfig
from trading.strategies import registry
from trading.strategies.base import IndicatorStrategy
from trading.templates import alert_kind, alert_template, needs_bars

PLACEHOLDER = re.compile(r"\{\{([^}]*)\}\}")
PASSPHRASE = "s3cret-pass"


# A strategy's two fills: it goes long 0.01, then sells it (flat).
ORDERS = [
    {"action": "buy", "id": "Long", "market_position": "long", "position_size": "0.01"},
    {"action": "sell", "id": "Exit", "market_position": "flat", "position_size": "0"},
]


def tradingview_values(bar_open: datetime, close: str, order: dict[str, str]) -> dict[str, str]:
    """What TradingView puts in for each placeholder it offers (a strategy's order included),
    for an alert of a 1-hour BTCUSDT bar opening at `bar_open`, fired when it closed."""
    return {
        "ticker": "BTCUSDT",
        "exchange": "BINANCE",
        "interval": "60",
        "time": bar_open.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timenow": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "open": "64950.5",
        "high": "65120",
        "low": "64800.25",
        "close": close,
        "volume": "1234.567",
        "strategy.order.action": order["action"],
        "strategy.order.contracts": "0.01",
        "strategy.order.id": order["id"],
        "strategy.order.comment": order["id"],
        "strategy.market_position": order["market_position"],
        "strategy.position_size": order["position_size"],
    }


def expand(template: str, values: dict[str, str]) -> str:
    """The message TradingView sends: placeholders replaced by their text. A placeholder
    TradingView does not offer stays unexpanded, and the test says which."""
    unknown = set(PLACEHOLDER.findall(template)) - set(values)
    assert not unknown, f"placeholders TradingView does not offer: {sorted(unknown)}"
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def last_closed_hours(count: int) -> list[datetime]:
    """Open times of the last `count` closed 1-hour bars, oldest first."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return [now - timedelta(hours=count - i) for i in range(count)]


async def make_bot(world: World, strategy: str) -> BotConfig:
    return await world.add_bot(f"b-{strategy}", strategy=strategy, passphrase=PASSPHRASE)


@pytest.mark.parametrize("strategy", registry.names())
async def test_the_template_is_accepted_as_tradingview_sends_it(
    start_world: Callable[..., Any], strategy: str
) -> None:
    world: World = await start_world()
    bot = await make_bot(world, strategy)
    template = alert_template(bot)
    assert json.loads(template)["passphrase"] == PASSPHRASE
    answers = []
    bars = zip(last_closed_hours(2), ("65000.5", "65010"), ORDERS, strict=True)
    for bar_open, close, order in bars:
        body = expand(template, tradingview_values(bar_open, close, order))
        assert all(isinstance(v, str) for v in json.loads(body).values())
        status, answer = await world.post(bot.webhook_key, body)
        assert status == 200, answer
        answers.append(answer)

    strategy_class = registry.strategy_class(strategy)
    if issubclass(strategy_class, IndicatorStrategy):
        warmup = registry.create(strategy).warmup  # type: ignore[attr-defined]
        assert json.loads(template)["action"] == "tick"
        # each alert closed one more bar of the bot's own series
        assert [a["reason"] for a in answers] == [
            f"warming up (1/{warmup} bars)",
            f"warming up (2/{warmup} bars)",
        ]
        bars = await sql_stores().series.load_bars(bot.id, "BTCUSDT", "60", 10)
        assert [(b.open_time, b.close) for b in bars] == list(
            zip(last_closed_hours(2), (Decimal("65000.5"), Decimal("65010")), strict=True)
        )
        assert [(b.open, b.high, b.low, b.volume) for b in bars] == 2 * [
            (Decimal("64950.5"), Decimal("65120"), Decimal("64800.25"), Decimal("1234.567"))
        ]
    else:
        assert [(a["status"], a["reason"]) for a in answers] == [
            ("executed", "open"),
            ("executed", "close"),
        ], answers
        assert answers[0]["position"]["qty"] == "0.01"


@pytest.mark.parametrize("strategy", registry.names())
async def test_the_line_beside_the_template_names_the_kind_of_alert(
    start_world: Callable[..., Any], strategy: str
) -> None:
    world: World = await start_world()
    bot = await make_bot(world, strategy)
    kind = alert_kind(bot)
    if needs_bars(bot):
        assert "Once Per Bar Close" in kind and "order fills" not in kind
        assert f"after {registry.create(strategy).warmup} bars" in kind  # type: ignore[attr-defined]
    else:
        assert "order fills" in kind and "Once Per Bar Close" not in kind
