"""What a search maximises: one figure of a backtest, higher is better (SPEC §7a `--objective`).

* `sharpe`: the report's Sharpe ratio (mean / standard deviation of per-bar equity returns,
  annualised with the bars per year, risk-free rate 0: `trading.backtest.report`);
* `sortino`: the same mean over the downside deviation (the root mean square of the per-bar
  returns below 0, every bar counted), annualised the same way;
* `calmar`: CAGR / |max drawdown|, both in percent, as the report states them;
* `profit_factor`: gross profit / gross loss of the closed trades, at most 100: trades that
  won without a single loss (the report's "∞") score 100, so they rank first, not last;
* `return`: total return in percent.

A figure that does not exist is None, and the trial is pruned rather than ranked: no trade at
all, no losing bar (sortino), no drawdown (calmar), only break-even trades (profit factor), or
a result that is not a finite number. Every figure comes from the same equity curve and
trades as the report, so the objective a search shows is the one `tradebot backtest` implies.
"""

from __future__ import annotations

import math

import numpy as np

from trading.backtest.engine import BacktestResult
from trading.backtest.report import YEAR_SECONDS, Report, build_report

OBJECTIVES = ("sharpe", "sortino", "calmar", "profit_factor", "return")
PROFIT_FACTOR_CEILING = 100.0


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise ValueError(f"--objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
    return objective


def score(result: BacktestResult, objective: str, report: Report | None = None) -> float | None:
    """`objective` of `result` (higher is better), or None when it is undefined.

    `report`: the result's `build_report`, when the caller has it already.
    """
    check_objective(objective)
    if not result.trades:
        return None
    report = report if report is not None else build_report(result)
    value: float | None
    if objective == "sharpe":
        value = report.sharpe
    elif objective == "sortino":
        value = _sortino(result)
    elif objective == "calmar":
        drawdown = abs(report.max_drawdown_pct)
        value = report.cagr_pct / drawdown if report.cagr_pct is not None and drawdown else None
    elif objective == "profit_factor":
        value = _profit_factor(report)
    else:
        value = report.total_return_pct
    return value if value is not None and math.isfinite(value) else None


def _profit_factor(report: Report) -> float | None:
    if report.profit_factor is not None:
        return min(report.profit_factor, PROFIT_FACTOR_CEILING)
    return PROFIT_FACTOR_CEILING if report.win_rate_pct else None  # no loss: ∞, or no win either


def _sortino(result: BacktestResult) -> float | None:
    equity, time = result.equity, result.data.time
    if len(equity) < 3:
        return None
    returns = np.diff(equity) / equity[:-1]
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    step = float(np.median(np.diff(time)))
    if downside == 0 or step <= 0:
        return None
    return float(np.mean(returns)) / downside * math.sqrt(YEAR_SECONDS / step)
