"""Alert bodies as TradingView and other senders really send them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from trading.alerts import Action, parse_alert, redact
from trading.errors import AlertError


def test_tradingview_json_with_every_value_a_string() -> None:
    body = json.dumps(
        {
            "action": "BUY",
            "symbol": "BINANCE:BTCUSDT",
            "exchange": "BINANCE",
            "price": "65120.5",
            "qty": "0.02",
            "market_position": "long",
            "position_size": "0.02",
            "order_id": "Long",
            "comment": "",
            "interval": "60",
            "time": "2026-11-25T10:00:00Z",
            "bar_time": "2026-11-25T09:00:00Z",
            "sl": "2%",
            "tp": "67725.32",
            "rsi": "28.4",
            "id": "Long-2026-11-25T10:00:00Z",
        }
    )
    alert = parse_alert(body.encode())
    assert alert.action is Action.BUY
    assert alert.symbol == "BTCUSDT"
    assert alert.price == Decimal("65120.5") and alert.qty == Decimal("0.02")
    assert alert.position_size == Decimal("0.02")
    assert alert.time == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert alert.sl is not None and alert.sl.percent and alert.sl.value == 2
    assert alert.tp is not None and not alert.tp.percent
    assert alert.fields == {"rsi": "28.4"}
    assert alert.comment is None


def test_json_numbers_work_too() -> None:
    alert = parse_alert(b'{"action": "sell", "symbol": "ETHUSDT", "price": 3512, "qty": 0.5}')
    assert alert.price == Decimal(3512) and alert.qty == Decimal("0.5")


def test_one_line_text_form() -> None:
    alert = parse_alert(b"buy BTCUSDT qty=0.01 price=100 sl=2% tp=4%")
    assert (alert.action, alert.symbol, alert.qty, alert.price) == (
        Action.BUY,
        "BTCUSDT",
        Decimal("0.01"),
        Decimal(100),
    )
    assert str(alert.sl) == "2%" and str(alert.tp) == "4%"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("long", Action.BUY),
        ("short", Action.SELL),
        ("exit_long", Action.CLOSE_LONG),
        ("close_short", Action.CLOSE_SHORT),
        ("tick", Action.TICK),
        ("Close", Action.CLOSE),
    ],
)
def test_action_aliases(action: str, expected: Action) -> None:
    assert parse_alert(f'{{"action": "{action}", "symbol": "BTCUSDT"}}'.encode()).action is expected


def test_several_take_profit_levels() -> None:
    alert = parse_alert(
        b'{"action":"buy","symbol":"BTCUSDT","tp1":"1%","tp1_share":"50","tp2":"3%"}'
    )
    assert [str(tp.level) for tp in alert.take_profits] == ["1%", "3%"]
    assert alert.take_profits[0].share == Decimal("0.5")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b"", "body", "empty"),
        (b"{not json", "body", "malformed JSON"),
        (b"[1, 2]", "body", "JSON object"),
        (b'"buy"', "body", "expected"),
        (b'{"symbol": "BTCUSDT"}', "action", "required"),
        (b'{"action": "buy"}', "symbol", "required"),
        (b'{"action": "hold", "symbol": "BTCUSDT"}', "action", "must be one of"),
        (b'{"action": "{{strategy.order.action}}", "symbol": "BTCUSDT"}', "action", "placeholder"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "qty": "-1"}', "qty", "negative"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "qty": "0"}', "qty", "greater than zero"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "qty": "abc"}', "qty", "number"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "price": NaN}', "price", "finite"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "price": "Infinity"}', "price", "finite"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "price": 1e400}', "price", "too large"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "sl": "2 percent"}', "sl", "percentage"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "time": "yesterday"}', "time", "ISO-8601"),
        (b'{"action": "buy", "symbol": "BTC USDT!"}', "symbol", "ticker"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "id": {"a": 1}}', "id", "string"),
        (b'{"action": "buy", "symbol": "BTCUSDT", "tp2": "x"}', "tp2", "percentage"),
        (b"\xff\xfe\x00", "body", "UTF-8"),
        (b"buy BTCUSDT qty", "body", "key=value"),
    ],
)
def test_malformed_alerts_name_the_field(body: bytes, field: str, words: str) -> None:
    with pytest.raises(AlertError) as error:
        parse_alert(body)
    assert error.value.field == field
    assert words in error.value.user_message


def test_passphrase_is_redacted_in_both_forms() -> None:
    assert "hunter2" not in redact('{"action": "buy", "passphrase": "hunter2", "x": 1}')
    assert "hunter2" not in redact("buy BTCUSDT passphrase=hunter2 qty=1")
    assert "hunter2" not in redact('{"passphrase":"hunter2"')  # even when the JSON is broken


@pytest.mark.parametrize(
    ("fields", "target"),
    [
        ('"action": "sell", "market_position": "short", "position_size": "2"', Decimal(-2)),
        ('"action": "sell", "position_size": "-2"', Decimal(-2)),
        ('"action": "buy", "market_position": "long", "position_size": "1.5"', Decimal("1.5")),
        ('"action": "close", "market_position": "flat", "position_size": "0"', Decimal(0)),
        ('"action": "buy", "qty": "1"', None),
        ('"action": "tick", "market_position": "flat"', None),
    ],
)
def test_target_position_stated_by_tradingview(fields: str, target: Decimal | None) -> None:
    alert = parse_alert(f'{{"symbol": "BTCUSDT", {fields}}}'.encode())
    assert alert.target_position == target
