"""Strategies as a trader meets them through the webhook (RSI by default: entries below oversold,
exits above overbought, explicit actions filtered and refusals explained), the other indicator
strategies on price paths worked out by hand, and the promise behind the backtester: the live
decision for a bar is the batch rule's signal for that bar."""

from __future__ import annotations

import zlib
from decimal import Decimal as D
from typing import Any

import numpy as np
import pytest

from tests.conftest import World, now_iso
from trading.alerts import build_alert
from trading.strategies import registry
from trading.strategies.base import BUY, SELL, IndicatorStrategy, StrategyContext

HOUR = 3600
START = 1_704_067_200  # 2024-01-01T00:00:00Z


def bar_time(i: int) -> str:
    return f"{START + i * HOUR}"


async def send_bars(
    world: World, bot: str, closes: list[float | str], first: int = 0
) -> list[dict[str, Any]]:
    answers = []
    for i, close in enumerate(closes, start=first):
        status, answer = await world.send_alert(
            bot,
            action="tick",
            price=str(close),
            interval="60",
            bar_time=bar_time(i),
            time=now_iso(),
        )
        assert status == 200, answer
        answers.append(answer)
    return answers


# ---------------------------------------------------------------- rsi through the webhook


async def test_rsi_bot_buys_below_oversold_and_sells_above_overbought(world: World) -> None:
    await world.add_bot(
        "r", strategy="rsi", size="1", direction="long", max_entries=1, interval="60"
    )
    # 15 closes falling by 1: 14 losses, no gain, so RSI(14) on bar 14 is 0 -> buy at 86.
    falling = [100 - i for i in range(15)]
    answers = await send_bars(world, "r", falling)
    assert answers[0]["reason"] == "warming up (1/15 bars)"
    assert answers[13]["reason"] == "warming up (14/15 bars)"
    assert answers[14]["status"] == "executed"
    assert answers[14]["order"]["side"] == "buy" and answers[14]["order"]["price"] == "86"

    # +1: avg gain 1/14, avg loss 13/14 -> RSI 7.1, still oversold but one entry is the max.
    # +20: gain (13/14 + 20)/14 = 1.495, loss 169/196 = 0.862 -> RSI 63.4: nothing.
    # +20: gain 2.817, loss 0.801 -> RSI 77.9 above 70 -> sell, closing the long at 127.
    answers = await send_bars(world, "r", [87, 107, 127], first=15)
    assert answers[0]["status"] == "ignored"
    assert answers[0]["reason"] == "max entries reached (1/1)"
    assert answers[1]["reason"] == "no signal: RSI 63.4 between 30 and 70"
    assert answers[2]["status"] == "executed" and answers[2]["order"]["side"] == "sell"

    _, trades = await world.get("/trades?bot=r")
    assert len(trades) == 1
    fees = D("86") * D("0.001") + D("127") * D("0.001")
    assert trades[0]["side"] == "long"
    assert (trades[0]["entry_price"], trades[0]["exit_price"]) == ("86", "127")
    assert D(trades[0]["pnl"]) == D(127 - 86) - fees


async def test_rsi_refuses_an_explicit_buy_when_rsi_is_not_oversold(world: World) -> None:
    await world.add_bot("r", strategy="rsi", size="1", interval="60")
    # 14 changes: gains 2,2,2,2,2,1 (11) and losses 1 x7, 2 (9): RSI = 100 * 11 / 20 = 55.
    changes = [2, -1, 2, -1, 2, -1, 2, -1, 2, -1, 1, -1, -1, -2]
    closes = [100.0]
    for change in changes:
        closes.append(closes[-1] + change)
    answers = await send_bars(world, "r", closes)
    assert answers[-1]["reason"] == "no signal: RSI 55.0 between 30 and 70"

    status, answer = await world.send_alert("r", action="buy", price="104", time=now_iso())
    assert status == 200
    assert answer["status"] == "ignored"
    assert answer["reason"] == "buy refused: RSI 55.0 is not below oversold 30"
    status, answer = await world.send_alert("r", action="sell", price="104", time=now_iso())
    assert answer["reason"] == "sell refused: RSI 55.0 is not above overbought 70"


async def test_rsi_lets_an_explicit_close_through(world: World) -> None:
    await world.add_bot("r", strategy="rsi", size="1", interval="60")
    await send_bars(world, "r", [100 - i for i in range(15)])  # RSI 0: bought at 86
    _, answer = await world.send_alert("r", action="close", price="90", time=now_iso())
    assert answer["status"] == "executed" and answer["order"]["intent"] == "close"


async def test_rsi_without_history_filters_by_the_charts_rsi_field(world: World) -> None:
    await world.add_bot("r", strategy="rsi", size="1")
    _, answer = await world.send_alert("r", action="buy", price="100")
    assert answer["reason"] == "buy refused: warming up (0/15 bars)"
    _, answer = await world.send_alert("r", action="buy", price="100", rsi="41.5")
    assert answer["reason"] == "buy refused: RSI 41.5 is not below oversold 30 (the alert's rsi)"
    _, answer = await world.send_alert("r", action="buy", price="100", rsi="28.4")
    assert answer["status"] == "executed" and answer["order"]["side"] == "buy"


async def test_rsi_parameters_change_the_levels(world: World) -> None:
    await world.add_bot(
        "r", strategy="rsi", strategy_params={"period": 2, "oversold": 10}, size="1", interval="60"
    )
    answers = await send_bars(world, "r", [100, 99, 98])  # RSI(2) = 0 on the third bar
    assert answers[1]["reason"] == "warming up (2/3 bars)"
    assert answers[2]["status"] == "executed"


async def test_signal_bot_still_ignores_ticks_that_close_bars(world: World) -> None:
    _, answer = await world.send_alert(
        action="tick", price="100", interval="60", bar_time=bar_time(0)
    )
    assert (answer["status"], answer["reason"]) == ("ignored", "price updated")
    _, answer = await world.send_alert(action="buy", price="100", qty="2")
    assert answer["status"] == "executed" and answer["order"]["qty"] == "2"


# ---------------------------------------------------------------- rules on hand-made paths


def signals(name: str, closes: list[float], **params: Any) -> list[int]:
    strategy = registry.create(name, params)
    assert isinstance(strategy, IndicatorStrategy)
    return strategy.signals(np.array(closes, dtype=float)).tolist()


def test_ma_cross_buys_when_the_fast_average_crosses_above_the_slow() -> None:
    # SMA2 / SMA3 on bar 4: 11.5 / 11 (was 10 / 10): cross up. Bar 5: 10 / 10. Bar 6: 7 / 9.
    closes = [10, 10, 10, 10, 13, 7, 7]
    assert signals("ma_cross", closes, fast=2, slow=3) == [0, 0, 0, 0, BUY, 0, SELL]


def test_bollinger_buys_below_the_lower_band_and_sells_above_the_upper() -> None:
    # Bar 3, window 10,10,7: mean 9, deviation √2, lower band 7.59 > 7 -> buy.
    # Bar 4, window 10,7,13: mean 10, deviation √6, upper band 12.45 < 13 -> sell.
    assert signals("bollinger", [10, 10, 10, 7, 13], period=3, k=1) == [0, 0, 0, BUY, SELL]


def test_macd_buys_on_the_bar_a_flat_market_jumps_and_sells_when_it_drops() -> None:
    # Flat: MACD and its signal are both 0. A jump lifts the fast EMA more than the slow one,
    # and the signal line lags: MACD crosses above it on that very bar; a drop mirrors it.
    up = signals("macd", [10.0] * 40 + [11.0])
    assert up.index(BUY) == 40 and SELL not in up
    down = signals("macd", [10.0] * 40 + [9.0])
    assert down.index(SELL) == 40 and BUY not in down


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("rsi", {}),
        ("rsi", {"period": 5, "oversold": 40, "overbought": 60}),
        ("ma_cross", {"fast": 5, "slow": 12}),
        ("ma_cross", {"fast": 5, "slow": 12, "ma": "ema"}),
        ("macd", {}),
        ("bollinger", {"period": 10, "k": 1.5}),
    ],
)
def test_live_decision_on_each_bar_equals_the_backtest_signal(
    name: str, params: dict[str, Any]
) -> None:
    rng = np.random.default_rng(zlib.crc32(repr((name, params)).encode()))
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    strategy = registry.create(name, params)
    assert isinstance(strategy, IndicatorStrategy)
    batch = strategy.signals(closes)
    alert = build_alert({"action": "tick", "symbol": "BTCUSDT", "price": "100"})
    expected = {BUY: "buy", SELL: "sell", 0: None}
    live = []
    for i in range(len(closes)):
        context = StrategyContext(
            alert=alert,
            position=None,
            params=strategy.params,
            series=closes[: i + 1],
            is_bar_close=True,
        )
        live.append(strategy.decide(context).signal)
    assert live == [expected[int(s)] for s in batch]
    assert {"buy", "sell"} <= set(live)  # the comparison covered both signals


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("rsi", {"period": 1}, "rsi parameter period: input should be greater than or equal to 2"),
        (
            "rsi",
            {"perod": 14},
            "rsi has no parameter 'perod' (it takes period, oversold, overbought)",
        ),
        ("rsi", {"oversold": 75}, "rsi parameters: oversold (75) must be below overbought (70)"),
        ("rsi", {"period": "abc"}, "rsi parameter period: input should be a valid integer"),
        ("ma_cross", {"fast": 50, "slow": 20}, "fast (50) must be shorter than slow (20)"),
        ("ma_cross", {"ma": "wma"}, "ma_cross parameter ma: input should be 'sma' or 'ema'"),
        ("bollinger", {"k": 0}, "bollinger parameter k: input should be greater than 0"),
        ("macd", {"signal": True}, "signal must be a number"),
        ("macd", {"fast": 26, "slow": 12}, "fast (26) must be shorter than slow (12)"),
        ("nope", {}, "unknown strategy 'nope'; choose one of bollinger, ma_cross, macd, rsi"),
    ],
)
def test_bad_parameters_are_refused_naming_the_parameter(
    name: str, raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        registry.validate_params(name, raw)
    assert message in str(caught.value)


def test_parameters_are_completed_with_the_defaults_a_trader_knows() -> None:
    assert registry.validate_params("rsi", {"period": "10"}) == {
        "period": 10,
        "oversold": 30.0,
        "overbought": 70.0,
    }
    assert registry.validate_params("ma_cross", {}) == {"fast": 20, "slow": 50, "ma": "sma"}
    assert registry.validate_params("macd", {}) == {"fast": 12, "slow": 26, "signal": 9}
    assert registry.validate_params("bollinger", {}) == {"period": 20, "k": 2.0}
    assert registry.validate_params("signal", None) == {}
    assert registry.DEFAULT == "rsi"
