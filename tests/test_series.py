"""Price series: bars built from the prices alerts carry, bounded in memory, kept in
`price_bars`, and the same after a restart or in a second process."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from db.models import PriceBar
from db.stores import sql_stores
from tests.conftest import World, now_iso
from trading.alerts import build_alert
from trading.series import (
    Bar,
    PriceSeries,
    bar_end,
    floor_time,
    interval_label,
    normalize_interval,
)
from trading.strategy_runner import StrategyRunner

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


# ---------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("1", "1"),
        ("60", "60"),
        ("1h", "60"),
        ("4H", "240"),
        ("15m", "15"),
        ("15min", "15"),
        ("D", "1D"),
        ("1d", "1D"),
        ("W", "1W"),
        ("1M", "1M"),
        ("M", "1M"),
        ("30S", "30S"),
        (" 240 ", "240"),
        ("1440", "1440"),
        ("24H", "1440"),
        ("0060", "60"),
        ("3D", "3D"),
        ("31D", "31D"),
        ("4W", "4W"),
    ],
)
def test_intervals_are_named_as_tradingview_names_them(raw: str, normal: str) -> None:
    assert normalize_interval(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "", "abc", "0", "1x", "-5", "+5", "1.5", "m", "H",
        # longer than a month, or not a bar length at all (SPEC §5)
        "1441", "25H", "60S", "32D", "5W", "2M", "3M", "12M", "1T", "100R",
        # what poisoned a series: huge counts
        "99999999999M", "1" * 30, "9" * 5000,
        "١٥", "15ſ",  # non-ASCII digits and letters that upper-case to S
    ],
)  # fmt: skip
def test_a_bad_interval_is_refused_with_what_is_accepted(raw: str) -> None:
    with pytest.raises(ValueError, match="must be a TradingView bar length up to one month"):
        normalize_interval(raw)


def test_bars_are_aligned_like_tradingview_bars() -> None:
    at = datetime(2024, 3, 13, 17, 42, 10, tzinfo=UTC)  # a Wednesday
    assert floor_time(at, "60") == datetime(2024, 3, 13, 17, tzinfo=UTC)
    assert floor_time(at, "240") == datetime(2024, 3, 13, 16, tzinfo=UTC)
    assert floor_time(at, "15") == datetime(2024, 3, 13, 17, 30, tzinfo=UTC)
    assert floor_time(at, "1D") == datetime(2024, 3, 13, tzinfo=UTC)
    assert floor_time(at, "1W") == datetime(2024, 3, 11, tzinfo=UTC)  # Monday
    assert floor_time(at, "1M") == datetime(2024, 3, 1, tzinfo=UTC)
    assert bar_end(datetime(2024, 12, 1, tzinfo=UTC), "1M") == datetime(2025, 1, 1, tzinfo=UTC)
    assert [interval_label(i) for i in ("60", "240", "15", "1D")] == ["1h", "4h", "15m", "1D"]


# ---------------------------------------------------------------- the series in memory


def test_memory_is_bounded_and_closes_stay_in_order() -> None:
    series = PriceSeries("BTCUSDT", "60", capacity=50)
    for i in range(1234):
        series.close_bar(hours(i), D(i))
    assert len(series) == 50
    assert series.closes.tolist() == [float(i) for i in range(1184, 1234)]
    assert series.bars[0].open_time == hours(1184)
    with pytest.raises(ValueError):
        series.closes[0] = 1.0  # a view strategies read, never write


def test_a_bar_closed_again_is_corrected_and_an_older_one_is_late() -> None:
    series = PriceSeries("BTCUSDT", "60")
    assert series.close_bar(hours(0), D(100))[0] == "closed"
    assert series.close_bar(hours(1), D(101))[0] == "closed"
    event, bar = series.close_bar(hours(1), D(105))
    assert event == "replaced" and bar.close == 105 and bar.high == 105
    assert series.closes.tolist() == [100.0, 105.0]
    assert series.close_bar(hours(0), D(99))[0] == "late"
    assert series.closes.tolist() == [100.0, 105.0]


def test_prices_without_bar_time_build_the_forming_bar_then_close_it() -> None:
    series = PriceSeries("BTCUSDT", "60")
    series.update_forming(D(100), hours(0.1))
    series.update_forming(D(104), hours(0.5))
    series.update_forming(D(97), hours(0.7))
    event, forming = series.update_forming(D(101), hours(0.9))
    assert event == "forming" and len(series) == 0
    assert forming == Bar(hours(0), D(100), D(104), D(97), D(101), closed=False)
    # The bar-close alert of that bar keeps the ticks' open, high and low.
    event, bar = series.close_bar(hours(0), D(102))
    assert event == "closed" and (bar.open, bar.high, bar.low, bar.close) == (100, 104, 97, 102)
    # Ticks alone close a bar when the next one starts.
    series.update_forming(D(110), hours(1.2))
    event, rolled = series.update_forming(D(111), hours(2.1))
    assert event == "closed" and rolled is not None and rolled.close == 110
    assert series.closes.tolist() == [102.0, 110.0]
    assert series.update_forming(D(90), hours(0.5))[0] == "stale"


# ---------------------------------------------------------------- through the webhook


def sample_rows(n: int) -> list[dict[str, str]]:
    with (ROOT / "samples" / "synthetic_btcusdt_1h.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))[:n]


async def send_rows(world: World, bot: str, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    answers = []
    for row in rows:
        status, answer = await world.send_alert(
            bot,
            action="tick",
            price=row["close"],
            interval="60",
            bar_time=row["time"],
            time=now_iso(),
        )
        assert status == 200, answer
        answers.append(answer)
    return answers


async def test_ticks_with_bar_time_are_stored_as_closed_bars(world: World) -> None:
    await world.add_bot("r", strategy="rsi", size="0.1", interval="60")
    rows = sample_rows(3)
    await send_rows(world, "r", rows)
    stored = await PriceBar.filter(symbol="BTCUSDT", interval="60").order_by("open_time")
    assert [(b.close, b.closed) for b in stored] == [(D(r["close"]), True) for r in rows]
    assert stored[0].open_time == datetime(2024, 1, 1, tzinfo=UTC)


async def test_a_tick_without_bar_time_updates_the_forming_bar(world: World) -> None:
    await world.add_bot("r", strategy="rsi", size="0.1", interval="60")
    status, answer = await world.send_alert("r", action="tick", price="100", time=now_iso())
    assert (status, answer["status"], answer["reason"]) == (200, "ignored", "price updated")
    await world.send_alert("r", action="tick", price="103", time=now_iso())
    forming = await PriceBar.get(symbol="BTCUSDT", interval="60")
    assert not forming.closed and (forming.open, forming.high, forming.close) == (100, 103, 103)


async def test_bars_survive_a_restart_and_the_rsi_goes_on(
    start_world: Callable[..., Any],
) -> None:
    rows = sample_rows(200)
    first = await start_world()
    await first.add_bot(
        "r", strategy="rsi", size="0.1", direction="long", max_entries=1, interval="60"
    )
    before = await send_rows(first, "r", rows[:160])  # the sample's RSI buys on bar 154
    assert [a["status"] for a in before].count("executed") == 1
    await first.http.close()
    await first.server.close()

    second = await start_world()  # same database, new process state
    second.bots["r"] = first.bots["r"]
    after = await send_rows(second, "r", rows[160:200])
    # No warm-up after the restart: bar 160 is judged on the 160 stored bars before it.
    assert not any("warming up" in a["reason"] for a in after)
    assert [a["status"] for a in after].count("executed") == 1  # the exit, RSI above 70
    _, trades = await second.get("/trades?bot=r")
    assert len(trades) == 1 and trades[0]["side"] == "long"


async def test_two_processes_see_each_others_bars(world: World) -> None:
    """Two runners (two processes behind a load balancer) on one database agree."""
    bot = await world.add_bot("r", strategy="rsi", size="1", interval="60")
    one = StrategyRunner(series=sql_stores().series)
    two = StrategyRunner(series=sql_stores().series)
    closes = [100 - i for i in range(15)]  # RSI 0 on the 15th bar
    for i, close in enumerate(closes):
        runner = one if i % 2 else two
        alert = build_alert(
            {
                "action": "tick",
                "symbol": "BTCUSDT",
                "price": str(close),
                "interval": "60",
                "bar_time": hours(i).isoformat(),
            }
        )
        decision = await runner.decide(bot, alert, None)
    assert decision.signal == "buy"  # `two` saw the 7 bars `one` closed
    assert len(await one.series(bot.id, "BTCUSDT", "60")) == 14  # one has not seen the last bar yet


async def test_a_candle_source_fills_the_series_before_alerts_do(world: World) -> None:
    class Exchange:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str]] = []

        async def fetch_candles(
            self, symbol: str, interval: str, since: datetime | None, limit: int
        ) -> list[Bar]:
            self.calls.append((symbol, interval))
            return [
                Bar(hours(i), D(100 - i), D(100 - i), D(100 - i), D(100 - i)) for i in range(14)
            ]

    bot = await world.add_bot("r", strategy="rsi", size="1", interval="60")
    exchange = Exchange()
    runner = StrategyRunner(series=sql_stores().series, candles=exchange)
    alert = build_alert(
        {
            "action": "tick",
            "symbol": "BTCUSDT",
            "price": "86",
            "interval": "60",
            "bar_time": hours(14).isoformat(),
        }
    )
    decision = await runner.decide(bot, alert, None)
    assert decision.signal == "buy"  # 14 candles + this bar: RSI 0
    assert exchange.calls == [("BTCUSDT", "60")]
    stored = await PriceBar.filter(symbol="BTCUSDT", interval="60").count()
    assert stored == 15


async def test_stored_bars_are_pruned_to_a_bound(world: World) -> None:
    bot = await world.add_bot("r", strategy="rsi", size="1", interval="60")
    runner = StrategyRunner(series=sql_stores().series, capacity=20, keep_stored=30, prune_every=10)
    prices = 100 + np.sin(np.arange(75)) * 5
    for i, price in enumerate(prices):
        alert = build_alert(
            {
                "action": "tick",
                "symbol": "BTCUSDT",
                "price": f"{price:.2f}",
                "interval": "60",
                "bar_time": hours(i).isoformat(),
            }
        )
        await runner.decide(bot, alert, None)
    assert len(await runner.series(bot.id, "BTCUSDT", "60")) == 20
    assert await PriceBar.filter(symbol="BTCUSDT").count() <= 30 + 10
    newest = await sql_stores().series.load_bars(bot.id, "BTCUSDT", "60", 5)
    assert newest[-1].open_time == hours(74)
