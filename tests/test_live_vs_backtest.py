"""The heart of the backtester's promise: the same bars, fed to the backtester and sent to a
running bot as TradingView `tick` alerts that close each bar, give the same trades, to the last
decimal of PnL after fees: entries, adds, reversals, and stops fired by the live monitor."""

from __future__ import annotations

import csv
from decimal import Decimal as D
from pathlib import Path

import numpy as np

from db.stores import sql_stores
from tests.conftest import World, now_iso
from trading.backtest import BacktestConfig, BacktestTrade, from_arrays, read_csv, run_backtest
from trading.risk import RiskRules, set_rules

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "synthetic_btcusdt_1h.csv"


def _plain(value: D | str) -> str:
    return format(D(value).normalize(), "f")


def _trade_row(trade: BacktestTrade | dict) -> tuple[str, str, str, str, str, str]:
    if isinstance(trade, BacktestTrade):
        values = (trade.side, trade.qty, trade.entry_price, trade.exit_price, trade.pnl, trade.fees)
    else:
        values = tuple(
            trade[k] for k in ("side", "qty", "entry_price", "exit_price", "pnl", "fees")
        )
    side, *money = values
    return (str(side), *(_plain(v) for v in money))  # type: ignore[return-value]


async def _replay(
    world: World, bot: str, rows: list[dict[str, str]], symbol: str = "BTCUSDT"
) -> list[dict]:
    """Send every bar as TradingView would on bar close: a tick with interval and bar_time."""
    answers = []
    for row in rows:
        status, answer = await world.send_alert(
            bot,
            action="tick",
            symbol=symbol,
            price=row["close"],
            interval="60",
            bar_time=row["time"],
            time=now_iso(),
        )
        assert status == 200, answer
        answers.append(answer)
    return answers


async def _compare(world: World, bot: str, backtest: list[BacktestTrade]) -> None:
    status, live = await world.get(f"/trades?bot={bot}&limit=1000")
    assert status == 200
    live.sort(key=lambda t: t["id"])
    closed = [t for t in backtest if t.reason != "end_of_data"]
    assert [_trade_row(t) for t in live] == [_trade_row(t) for t in closed]
    _, positions = await world.get(f"/positions?bot={bot}")
    still_open = [t for t in backtest if t.reason == "end_of_data"]
    assert len(positions) == len(still_open)
    for position, trade in zip(positions, still_open, strict=True):
        assert position["side"] == trade.side
        assert _plain(position["avg_price"]) == _plain(trade.entry_price)
        assert _plain(position["qty"]) == _plain(trade.qty)


async def test_rsi_bot_fed_sample_bars_as_ticks_trades_like_the_backtest(world: World) -> None:
    with SAMPLE.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:320]
    data = read_csv(SAMPLE).slice(0, 320)
    result = run_backtest(data, "rsi", config=BacktestConfig(size="0.1", direction="long"))
    assert len(result.trades) >= 2  # the comparison is about something

    await world.add_bot(
        "r", strategy="rsi", size="0.1", direction="long", max_entries=1, interval="60"
    )
    answers = await _replay(world, "r", rows)

    executed = [a for a in answers if a["status"] == "executed"]
    assert len(executed) == len(result.fills)
    assert answers[0]["reason"] == "warming up (1/15 bars)"
    await _compare(world, "r", result.trades)


async def test_both_directions_with_pyramiding_agree_trade_for_trade(world: World) -> None:
    """Reversals (sell while long opens a short) and adds (a second bar below oversold)."""
    rng = np.random.default_rng(7)
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300))), 2)
    start = 1_704_067_200  # 2024-01-01T00:00:00Z
    times = start + 3600 * np.arange(300)
    data = from_arrays(times, closes, closes, closes, closes)
    config = BacktestConfig(size="1", direction="both", max_entries=2)
    params = {"period": 6, "oversold": 35, "overbought": 65}
    result = run_backtest(data, "rsi", params, config)
    kinds = {fill.kind for fill in result.fills}
    assert {"open", "add", "close"} <= kinds
    assert {t.side for t in result.trades} == {"long", "short"}

    await world.add_bot(
        "both",
        strategy="rsi",
        strategy_params=params,
        size="1",
        direction="both",
        max_entries=2,
        interval="60",
    )
    rows = [
        {"time": data.datetime_at(i).strftime("%Y-%m-%dT%H:%M:%SZ"), "close": f"{closes[i]:.2f}"}
        for i in range(len(closes))
    ]
    await _replay(world, "both", rows)
    await _compare(world, "both", result.trades)


async def test_stops_fire_alike_when_the_live_monitor_sees_one_price_per_bar(
    world: World,
) -> None:
    """Close-only bars (open = high = low = close): the live monitor sees exactly the prices the
    backtester checks its stop-loss, take-profit and trailing stop against."""
    rng = np.random.default_rng(21)
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.015, 300))), 2)
    times = 1_704_067_200 + 3600 * np.arange(300)
    data = from_arrays(times, closes, closes, closes, closes)
    params = {"period": 6, "oversold": 35, "overbought": 65}
    cases = (
        ("stops", "BTCUSDT", {"sl": "2%", "tp": "3%"}),
        ("trail", "ETHUSDT", {"trail": "1.5%"}),
    )
    for name, symbol, levels in cases:
        config = BacktestConfig(size="1", direction="both", max_entries=1, **levels)
        result = run_backtest(data, "rsi", params, config)
        reasons = {t.reason for t in result.trades}
        assert reasons & {"stop_loss", "take_profit", "trailing_stop"}, reasons

        await world.add_bot(
            name,
            symbols=[symbol],
            strategy="rsi",
            strategy_params=params,
            size="1",
            direction="both",
            max_entries=1,
            interval="60",
            **levels,
        )
        rows = [
            {
                "time": data.datetime_at(i).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "close": f"{closes[i]:.2f}",
            }
            for i in range(len(closes))
        ]
        await _replay(world, name, rows, symbol)
        await _compare(world, name, result.trades)
        _, live = await world.get(f"/trades?bot={name}&limit=1000")
        live.sort(key=lambda t: t["id"])
        closed = [t for t in result.trades if t.reason != "end_of_data"]
        assert [t["reason"] for t in live] == [t.reason for t in closed]


async def test_a_risk_rule_refuses_the_same_entries_live_and_in_the_backtest(world: World) -> None:
    """max_position_value 100 (SPEC §6a) on prices around 100: entries worth more are refused
    (the adds always: 2 × ~95 > 100), and reversals whose new position would be worth more
    close and stay flat, live as in `tradebot backtest --risk`."""
    rng = np.random.default_rng(5)
    n = 300
    walk = np.cumsum(rng.normal(0, 0.6, n)) * 0.3
    closes = np.round(100 + 4 * np.sin(np.arange(n) / 9) + walk, 2)
    times = 1_704_067_200 + 3600 * np.arange(n)
    data = from_arrays(times, closes, closes, closes, closes)
    params = {"period": 6, "oversold": 35, "overbought": 65}
    config = BacktestConfig(size="1", direction="both", max_entries=2)
    rules = set_rules(RiskRules(), ["max_position_value=100"])
    result = run_backtest(data, "rsi", params, config, risk=rules)
    reversals_kept_to_their_close = [
        bar
        for bar, _ in result.risk_refusals
        if any(f.bar == bar and f.kind == "close" and f.reason == "signal" for f in result.fills)
    ]
    assert len(result.trades) >= 4 and reversals_kept_to_their_close  # about something
    assert result.risk_counts["max_position_value"] > len(reversals_kept_to_their_close)

    await sql_stores().risk.save_account_rules(rules.to_json())
    await world.add_bot(
        "guarded",
        strategy="rsi",
        strategy_params=params,
        size="1",
        direction="both",
        max_entries=2,
        interval="60",
    )
    rows = [
        {"time": data.datetime_at(i).strftime("%Y-%m-%dT%H:%M:%SZ"), "close": f"{closes[i]:.2f}"}
        for i in range(n)
    ]
    answers = await _replay(world, "guarded", rows)
    await _compare(world, "guarded", result.trades)
    refused = [a for a in answers if a["status"] == "rejected"]
    assert all(a["reason"].startswith("risk: max_position_value 100 ") for a in refused)
    # A refused entry answers `rejected`; a reversal kept to its close executes the close.
    assert len(refused) == len(result.risk_refusals) - len(reversals_kept_to_their_close)
