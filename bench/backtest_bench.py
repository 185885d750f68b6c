"""Backtest speed: RSI(14) 30/70 long-only over 1,000,000 one-minute bars, here and in
backtesting.py (the popular peer), in the same run, on the same bars, with the same trades.

Run with ``python -m bench.backtest_bench`` (or ``make bench`` for every benchmark).

Settings that make the two produce identical trades (checked at the end of every run):

* fills at the close of the signal bar: ours by design (a live alert fills at its price, the
  bar's close); backtesting.py with ``trade_on_close=True`` (by default it fills at the next
  bar's open);
* a fixed order of 1 unit (backtesting.py sizes in whole units) and one position at a time:
  ours ``size="1", max_entries=1, direction="long"``; theirs ``self.buy(size=1)`` only when
  flat and ``self.position.close()`` above 70;
* fee 10 bps of each fill's notional: ours ``fee_bps=10``; theirs ``commission=0.001`` (charged
  on entry and on exit, as ours); no slippage / spread on either side;
* the open position at the end is closed at the last close: ours always (``end_of_data``);
  theirs with ``finalize_trades=True``;
* RSI from TA-Lib on both sides. backtesting.py starts calling ``next()`` one bar after the
  warm-up (bar 15 for RSI(14)), while ours can act on bar 14, the first RSI value; the data
  are seeded so that RSI(14) at bar 14 is between 30 and 70, which makes no difference.

Timings are wall-clock, best of ``REPEATS``, and include everything each library does for a
run: indicators, the bar loop, fills, and the report (backtesting.py computes its statistics
inside ``run``; ours builds the report after). Data preparation is outside both timings.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from trading.backtest import BacktestConfig, Ohlcv, build_report, from_arrays, run_backtest

N = 1_000_000
REPEATS = 3
SEED = 11
PARAMS = {"period": 14, "oversold": 30, "overbought": 70}


def make_bars(n: int = N, seed: int = SEED) -> Ohlcv:
    """One-minute bars of a random walk near 100, prices in cents like an exchange's."""
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n))), 2)
    open_ = np.concatenate(([100.0], close[:-1]))
    spread = np.abs(rng.normal(0.0, 0.0004, n)) * close
    high = np.round(np.maximum(open_, close) + spread, 2)
    low = np.round(np.minimum(open_, close) - spread, 2)
    start = 1_704_067_200  # 2024-01-01T00:00:00Z
    times = start + 60 * np.arange(n, dtype=np.int64)
    volume = np.round(rng.lognormal(3.0, 0.5, n), 4)
    return from_arrays(times, open_, high, low, close, volume)


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def run_ours(data: Ohlcv) -> Any:
    config = BacktestConfig(size="1", direction="long", max_entries=1, fee_bps=10)
    result = run_backtest(data, "rsi", PARAMS, config)
    build_report(result)  # the report is part of the work
    return result


def run_backtesting_py(data: Ohlcv) -> Any:
    import pandas as pd
    import talib
    from backtesting import Backtest, Strategy

    class RsiLongOnly(Strategy):
        period = 14
        oversold = 30
        overbought = 70

        def init(self) -> None:
            self.rsi = self.I(talib.RSI, self.data.Close, self.period)

        def next(self) -> None:
            if not self.position and self.rsi[-1] < self.oversold:
                self.buy(size=1)
            elif self.position and self.rsi[-1] > self.overbought:
                self.position.close()

    frame = pd.DataFrame(
        {
            "Open": data.open,
            "High": data.high,
            "Low": data.low,
            "Close": data.close,
            "Volume": data.volume,
        },
        index=pd.to_datetime(data.time, unit="s"),
    )
    backtest = Backtest(
        frame,
        RsiLongOnly,
        cash=10_000,
        commission=0.001,
        trade_on_close=True,
        finalize_trades=True,
    )

    def go() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return backtest.run()

    return go


def _ours_trades(result: Any) -> list[tuple[int, int, float, float, float, float]]:
    return [
        (
            t.entry_bar,
            t.exit_bar,
            float(t.entry_price),
            float(t.exit_price),
            float(t.qty),
            float(t.pnl),
        )
        for t in result.trades
    ]


def _their_trades(stats: Any) -> list[tuple[int, int, float, float, float, float]]:
    frame = stats["_trades"]
    return [
        (
            int(r.EntryBar),
            int(r.ExitBar),
            float(r.EntryPrice),
            float(r.ExitPrice),
            float(r.Size),
            float(r.PnL),
        )
        for r in frame.itertuples()
    ]


def same_trades(ours: list[tuple], theirs: list[tuple]) -> tuple[bool, str]:
    """Trade for trade: bars, prices and sizes exactly; PnL to a millionth (theirs is float)."""
    if len(ours) != len(theirs):
        return False, f"{len(ours)} trades here, {len(theirs)} in backtesting.py"
    for n, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a[:5] != b[:5] or abs(a[5] - b[5]) > 1e-6:
            return False, f"trade {n + 1} differs: {a} vs {b}"
    return True, f"{len(ours)} identical trades"


def live_decision_us(bars: int = 1000, calls: int = 2000) -> float:
    """µs for one live RSI decision on a bar close over a full in-memory series (`bars`
    closes): what `StrategyRunner.decide` adds to an alert besides the database."""
    from trading.alerts import build_alert
    from trading.strategies.base import StrategyContext
    from trading.strategies.rsi import RsiParams, RsiStrategy

    closes = make_bars(bars).close
    closes.flags.writeable = False
    strategy = RsiStrategy(RsiParams())
    alert = build_alert({"action": "tick", "symbol": "BTCUSDT", "price": "100"})
    context = StrategyContext(
        alert=alert, position=None, params=strategy.params, series=closes, is_bar_close=True
    )
    best, _ = _best(lambda: [strategy.decide(context) for _ in range(calls)], REPEATS)
    return best / calls * 1e6


def run(n: int = N, repeats: int = REPEATS) -> dict[str, Any]:
    """Measure and print; return the figures."""
    data = make_bars(n)
    ours_s, ours = _best(lambda: run_ours(data), repeats)
    print(
        f"tradebot backtest, RSI(14) 30/70 long-only: {ours_s:.3f} s for {n:,} bars "
        f"({ours_s / n * 1e6:.2f} µs/bar), {len(ours.trades):,} trades (best of {repeats})"
    )
    figures: dict[str, Any] = {"n": n, "ours_s": ours_s, "trades": len(ours.trades)}
    figures["live_decision_us"] = live_decision_us()
    print(
        f"live RSI decision on a bar close over a 1,000-bar series: "
        f"{figures['live_decision_us']:.1f} µs (database writes not included)"
    )
    try:
        go = run_backtesting_py(data)
    except ImportError:
        print("backtesting.py is not installed: `python -m bench` installs it (bench only)")
        return figures
    theirs_s, stats = _best(go, repeats)
    same, detail = same_trades(_ours_trades(ours), _their_trades(stats))
    figures.update(theirs_s=theirs_s, speedup=theirs_s / ours_s, same_trades=same)
    print(
        f"backtesting.py {_version()}, same strategy and bars: {theirs_s:.3f} s "
        f"({theirs_s / n * 1e6:.2f} µs/bar) → tradebot is {theirs_s / ours_s:.1f}x faster"
    )
    print(f"trades compared: {detail}")
    if not same:
        raise SystemExit("the two backtesters disagree: see above")
    return figures


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("backtesting")
    except Exception:  # pragma: no cover - only a label
        return "?"


if __name__ == "__main__":
    run()
