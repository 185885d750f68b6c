"""Backtesting: replay OHLCV through the live strategies and position rules (SPEC §7)."""

from trading.backtest.data import DataError, Ohlcv, from_arrays, from_bars, from_dataframe, read_csv
from trading.backtest.engine import (
    BacktestConfig,
    BacktestFill,
    BacktestResult,
    BacktestTrade,
    order_size,
    run_backtest,
)
from trading.backtest.report import Report, build_report

__all__ = [
    "BacktestConfig",
    "BacktestFill",
    "BacktestResult",
    "BacktestTrade",
    "DataError",
    "Ohlcv",
    "Report",
    "build_report",
    "from_arrays",
    "from_bars",
    "from_dataframe",
    "order_size",
    "read_csv",
    "run_backtest",
]
