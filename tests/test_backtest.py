"""Backtests of short price paths whose trades are worked out by hand (RSI(2) keeps the
arithmetic short: its first value is on the third bar), with the live rules: fees of 10 bps on
each fill, slippage against the trader, pyramiding, reversal, stops inside a bar, and the last
position closed at the end of the data."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal as D
from typing import Any

import pytest

from db.stores import sql_stores
from handlers.charts import backtest_photo, chart_photo
from tests.conftest import World, now_iso
from trading.backtest import (
    BacktestConfig,
    BacktestTrade,
    DataError,
    Ohlcv,
    build_report,
    from_arrays,
    from_dataframe,
    read_csv,
    run_backtest,
)
from trading.backtest.history import History, load_chart, load_history, parse_request
from trading.errors import InvalidRequest

START = 1_704_067_200  # 2024-01-01T00:00:00Z
RSI2 = {"period": 2}


def path(
    closes: list[float],
    *,
    opens: list[float] | None = None,
    highs: dict[int, float] | None = None,
    lows: dict[int, float] | None = None,
) -> Ohlcv:
    """Hourly bars; each opens at the previous close and spans open..close unless told."""
    opens = opens or [closes[0], *closes[:-1]]
    high = [max(o, c) for o, c in zip(opens, closes, strict=True)]
    low = [min(o, c) for o, c in zip(opens, closes, strict=True)]
    for i, value in (highs or {}).items():
        high[i] = value
    for i, value in (lows or {}).items():
        low[i] = value
    times = [START + 3600 * i for i in range(len(closes))]
    return from_arrays(times, opens, high, low, closes)


def summary(trades: list[BacktestTrade]) -> list[tuple[Any, ...]]:
    return [
        (t.side, t.qty, t.entry_price, t.exit_price, t.pnl, t.reason, t.entry_bar, t.exit_bar)
        for t in trades
    ]


FEE = D("0.001")


def test_rsi_buys_below_30_and_sells_above_70_at_the_bar_close() -> None:
    # RSI(2): bar 2 after two losses of 1 -> 0, buy at 98. Bar 3 (+1): gain 0.5, loss 0.5 -> 50.
    # Bar 4 (+2): gain 1.25, loss 0.25 -> 83.3, sell at 101.
    result = run_backtest(path([100, 99, 98, 99, 101]), "rsi", RSI2, BacktestConfig(size="1"))
    pnl = D(101 - 98) - (D(98) + D(101)) * FEE
    assert summary(result.trades) == [("long", 1, 98, 101, pnl, "signal", 2, 4)]
    assert result.trades[0].fees == D("0.199")
    report = build_report(result)
    assert report.final_equity == D(10000) + pnl
    assert report.total_return_pct == pytest.approx(float(pnl / 100))
    assert report.buy_and_hold_pct == pytest.approx(1.0)
    assert report.trades == 1 and report.win_rate_pct == 100
    assert report.profit_factor is None and report.profit_factor_text() == "∞"
    assert report.exposure_pct == pytest.approx(40)  # held at the close of bars 2 and 3
    # The deepest point: the entry's fee, before the price moved.
    assert report.max_drawdown_pct == pytest.approx(-0.098 / 10000 * 100)


def test_slippage_goes_against_the_trader_and_fees_are_on_the_fill() -> None:
    config = BacktestConfig(size="1", slippage_bps=D(10))
    result = run_backtest(path([100, 99, 98, 99, 101]), "rsi", RSI2, config)
    entry, exit_ = D(98) * D("1.001"), D(101) * D("0.999")
    trade = result.trades[0]
    assert (trade.entry_price, trade.exit_price) == (entry, exit_)
    assert trade.pnl == exit_ - entry - (entry + exit_) * FEE


def test_a_stop_loss_inside_a_bar_comes_before_that_bars_signal() -> None:
    # Long at 98 (bar 2): SL 2% = 96.04, TP 4% = 101.92. Bar 3 dips to 96: stopped at 96.04;
    # its close 97 is another RSI 0: long again at 97 (SL 95.06, TP 100.88). Bar 4 reaches
    # 101.5: take-profit at 100.88; its RSI 80 sell finds no position (long-only).
    data = path([100, 99, 98, 97, 101], lows={3: 96}, highs={4: 101.5})
    config = BacktestConfig(size="1", sl="2%", tp="4%")
    result = run_backtest(data, "rsi", RSI2, config)
    assert summary(result.trades) == [
        ("long", 1, 98, D("96.04"), D("-1.96") - (D(98) + D("96.04")) * FEE, "stop_loss", 2, 3),
        ("long", 1, 97, D("100.88"), D("3.88") - (D(97) + D("100.88")) * FEE, "take_profit", 3, 4),
    ]


def test_when_stop_and_target_are_both_in_one_bar_the_stop_is_assumed_first() -> None:
    data = path([100, 99, 98, 97], highs={3: 103}, lows={3: 95})
    result = run_backtest(data, "rsi", RSI2, BacktestConfig(size="1", sl="2%", tp="4%"))
    assert [(t.exit_price, t.reason) for t in result.trades] == [
        (D("96.04"), "stop_loss"),
        (D(97), "end_of_data"),  # bought again at the close of bar 3, still open at the end
    ]


def test_a_gap_through_the_stop_fills_at_the_open() -> None:
    data = path([100, 99, 98, 97], opens=[100, 100, 99, 95])
    result = run_backtest(data, "rsi", RSI2, BacktestConfig(size="1", sl="2%"))
    assert (result.trades[0].exit_price, result.trades[0].reason) == (D(95), "stop_loss")


def test_a_trailing_stop_follows_the_best_price() -> None:
    # Long at 98. Bar 3 reaches 102 (stop was 98 - 1% = 97.02). Bar 4: stop 102 - 1% = 100.98,
    # the low 100.5 hits it. overbought 99 keeps the RSI from selling first.
    data = path([100, 99, 98, 101, 100.8], highs={3: 102}, lows={3: 100, 4: 100.5})
    params = {"period": 2, "overbought": 99}
    result = run_backtest(data, "rsi", params, BacktestConfig(size="1", trail="1%"))
    assert summary(result.trades) == [
        (
            "long",
            1,
            98,
            D("100.98"),
            D("2.98") - (D(98) + D("100.98")) * FEE,
            "trailing_stop",
            2,
            4,
        ),
    ]


def test_pyramiding_adds_on_the_next_oversold_bar_and_closes_all_at_once() -> None:
    # RSI(2) 0 on bars 2 and 3: buy 98, add 97 (average 97.5). Bar 4 (+2): 66.7.
    # Bar 5 (+2): gain 1.5, loss 0.25 -> 85.7: sell both at 101.
    data = path([100, 99, 98, 97, 99, 101])
    result = run_backtest(data, "rsi", RSI2, BacktestConfig(size="1", max_entries=2))
    fees = (D(98) + D(97) + 2 * D(101)) * FEE
    assert summary(result.trades) == [
        ("long", 2, D("97.5"), 101, D(7) - fees, "signal", 2, 5),
    ]
    assert result.trades[0].entries == 2


def test_both_directions_reverse_and_the_last_position_closes_at_the_end() -> None:
    # Bar 2: RSI 100 -> sell: short at 102. Bar 3 (-1): 50. Bar 4 (-2): gain 0.25, loss 1.25
    # -> 16.7: buy 2 at 99 closes the short and opens a long; the fee of that fill is split.
    data = path([100, 101, 102, 101, 99])
    result = run_backtest(data, "rsi", RSI2, BacktestConfig(size="1", direction="both"))
    half_fee = D(2) * D(99) * FEE / 2
    assert summary(result.trades) == [
        ("short", 1, 102, 99, D(3) - D(102) * FEE - half_fee, "signal", 2, 4),
        ("long", 1, 99, 99, -half_fee - D(99) * FEE, "end_of_data", 4, 4),
    ]


def test_order_size_as_a_share_of_equity() -> None:
    result = run_backtest(path([100, 99, 98, 99, 101]), "rsi", RSI2, BacktestConfig(size="50%"))
    # 50% of 10,000 at 98, rounded down to 1e-8 like the live bot.
    assert result.trades[0].qty == D("51.02040816")


def test_an_order_the_balance_cannot_pay_for_is_refused() -> None:
    result = run_backtest(path([100, 99, 98, 99, 101]), "rsi", RSI2, BacktestConfig(size="200"))
    assert result.trades == []
    assert build_report(result).refused_orders == 1
    assert "insufficient balance" in result.refused[0][1]


def test_a_pass_through_strategy_cannot_be_backtested() -> None:
    with pytest.raises(InvalidRequest, match="strategy 'signal' trades what alerts say"):
        run_backtest(path([100, 99, 98]), "signal")


# ---------------------------------------------------------------- input


CSV = """time,open,high,low,close,volume
2024-01-01T00:00:00Z,100,100,100,100,1
2024-01-01T01:00:00Z,100,100,99,99,1
2024-01-01T02:00:00Z,99,99,98,98,1
2024-01-01T03:00:00Z,98,99,98,99,1
2024-01-01T04:00:00Z,99,101,99,101,1
"""


def test_csv_with_iso_or_epoch_times_gives_the_same_trades() -> None:
    iso = run_backtest(read_csv(io.StringIO(CSV)), "rsi", RSI2, BacktestConfig(size="1"))
    lines = CSV.splitlines()
    epoch = "\n".join(
        [lines[0]]
        + [f"{START + 3600 * i},{line.split(',', 1)[1]}" for i, line in enumerate(lines[1:])]
    )
    again = run_backtest(read_csv(io.StringIO(epoch)), "rsi", RSI2, BacktestConfig(size="1"))
    assert summary(iso.trades) == summary(again.trades)
    assert iso.trades[0].entry_time.isoformat() == "2024-01-01T02:00:00+00:00"


def test_a_pandas_dataframe_gives_the_same_trades_as_the_csv() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(io.StringIO(CSV), parse_dates=["time"]).set_index("time")
    frame.columns = [c.capitalize() for c in frame.columns]  # Open, High... as many tools write
    from_frame = run_backtest(from_dataframe(frame), "rsi", RSI2, BacktestConfig(size="1"))
    from_csv = run_backtest(read_csv(io.StringIO(CSV)), "rsi", RSI2, BacktestConfig(size="1"))
    assert summary(from_frame.trades) == summary(from_csv.trades)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time,open,high,low\n", "missing column(s) close"),
        ("open,high,low,close\n1,1,1,1\n", "no time column"),
        (CSV.replace("99,98,98,1", "99,98,abc,1"), "line 4: close must be a number, got 'abc'"),
        (CSV.replace("T02:00", "T00:30"), "line 4: times must increase"),
        (CSV.replace("100,99,99,1", "100,99,-1,1"), "line 3: prices must be finite numbers"),
        ("time,open,high,low,close,volume\n", "has a header but no bars"),
        (CSV.replace("2024-01-01T03:00:00Z", "yesterday"), "line 5: time must be an ISO-8601"),
    ],
)
def test_bad_csv_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(DataError) as caught:
        read_csv(io.StringIO(text))
    assert message in str(caught.value)


# ---------------------------------------------------------------- for the chat


def test_chat_request_splits_strategy_parameters_from_bot_settings() -> None:
    request = parse_request("rsi", ["period=10", "size=10%", "sl=2%", "direction=both"])
    assert request.params == {"period": 10, "oversold": 30.0, "overbought": 70.0}
    assert (request.config.size, request.config.sl, request.config.direction) == (
        "10%",
        "2%",
        "both",
    )
    with pytest.raises(InvalidRequest, match="rsi parameter period"):
        parse_request("rsi", ["period=0"])
    with pytest.raises(InvalidRequest, match="expected key=value"):
        parse_request("rsi", ["period"])
    with pytest.raises(InvalidRequest, match="direction"):
        parse_request("rsi", ["direction=sideways"])


async def test_backtest_photo_runs_in_worker_threads(world: World) -> None:
    history = History("BTCUSDT", "60", path([100, 99, 98, 99, 101]))
    request = parse_request("rsi", ["period=2", "size=1"])
    photos = await asyncio.gather(
        asyncio.to_thread(backtest_photo, history, request),
        asyncio.to_thread(backtest_photo, history, request),
    )
    for photo in photos:
        assert photo.png.startswith(b"\x89PNG\r\n\x1a\n") and len(photo.png) > 10_000
        assert "Backtest rsi · BTCUSDT" in photo.caption
        assert "1 trades · win 100.00%" in photo.caption
        assert len(photo.caption) < 1024


async def test_history_comes_from_stored_bars_or_says_it_shows_the_sample(world: World) -> None:
    history = await load_history(sql_stores().series, "BTCUSDT")
    assert "synthetic sample data" in history.note and len(history.data) == 2000

    await world.add_bot("r", strategy="rsi", size="1", interval="60")
    for i in range(60):
        await world.send_alert(
            "r",
            action="tick",
            price=str(100 + i % 7),
            interval="60",
            bar_time=str(START + 3600 * i),
            time=now_iso(),
        )
    history = await load_history(sql_stores().series, "btcusdt")
    assert history.note == "" and history.interval == "60" and len(history.data) == 60
    assert history.data.close[:3].tolist() == [100.0, 101.0, 102.0]


async def test_chart_shows_recent_bars_with_the_bots_entries_and_exits(world: World) -> None:
    await world.add_bot(
        "r", strategy="rsi", size="1", direction="long", max_entries=1, interval="60"
    )
    closes = [100 - i for i in range(15)] + [87, 107, 127]  # buy at 86, sell at 127
    for i, close in enumerate(closes):
        await world.send_alert(
            "r",
            action="tick",
            price=str(close),
            interval="60",
            bar_time=str(START + 3600 * i),
            time=now_iso(),
        )
    chart = await load_chart(sql_stores().series, "BTCUSDT", bot="r")
    assert [(f.kind, f.side, f.price) for f in chart.fills] == [
        ("open", "buy", 86),
        ("close", "sell", 127),
    ]
    photo = await asyncio.to_thread(chart_photo, chart)
    assert photo.png.startswith(b"\x89PNG")
    assert "BTCUSDT · 1h · last <code>127</code>" in photo.caption
    assert "1 entries ▲ · 1 exits △ · r" in photo.caption
    with pytest.raises(Exception, match="no price bars for ETHUSDT"):
        await load_chart(sql_stores().series, "ETHUSDT")
