"""Optimisation speed (issue 18): a 50-trial RSI search over 100,000 bars, `--jobs 1` and `2`.

Run with ``python -m bench.optimize_bench`` (or ``make bench`` for every benchmark).

The bars are `bench.backtest_bench.make_bars` (one-minute bars of a seeded random walk), the
space the three RSI parameters (``period=5..30``, ``oversold=15..40``, ``overbought=60..85``),
objective Sharpe, ``--min-trades 5``, seed 1, the backtest's default account (10 % of equity per
order, fee 10 bps): what `tradebot optimize --strategy rsi --trials 50 --seed 1` runs, minus
reading the CSV. Each figure is the wall-clock time of the whole search (`time.perf_counter`:
the sampler, every backtest and its report, and with ``jobs=2`` starting the worker processes
and sending them the bars), best of ``REPEATS``. Nothing is written anywhere: the figures in
docs/benchmarks.md were copied from its output by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from bench.backtest_bench import make_bars
from trading.backtest import build_report, run_backtest
from trading.errors import InvalidRequest
from trading.optimize import optimize, parse_space

N = 100_000
TRIALS = 50
REPEATS = 3
SPACE = ("period=5..30", "oversold=15..40", "overbought=60..85")
JOBS = (1, 2)


def _search(data: Any, jobs: int, trials: int) -> tuple[float, Any]:
    space = parse_space("rsi", list(SPACE))
    started = time.perf_counter()
    result = optimize(data, "rsi", space, trials=trials, seed=1, jobs=jobs, objective="sharpe")
    return time.perf_counter() - started, result


def _one_by_one(data: Any, result: Any) -> float:
    """Seconds to run the very trials a search ran, one after the other in this process: the
    work itself, without the sampler or the processes (with `jobs=2` the sampler proposes other
    parameters than with `jobs=1`, and a backtest's cost depends on its trades)."""
    distinct = {json.dumps(t.params, sort_keys=True): t.params for t in result.best.trials}
    started = time.perf_counter()
    for params in distinct.values():  # a point proposed twice is backtested once by the search
        try:
            build_report(run_backtest(data, "rsi", params))
        except InvalidRequest:  # a pruned trial whose parameters the strategy refuses
            pass
    return time.perf_counter() - started


def run(n: int = N, trials: int = TRIALS, repeats: int = REPEATS) -> dict[str, Any]:
    """Measure and print; return the figures."""
    data = make_bars(n)
    figures: dict[str, Any] = {"n": n, "trials": trials, "cores": os.cpu_count()}
    load = os.getloadavg()[0]
    rows = []
    for jobs in JOBS:
        best_s, result = float("inf"), None
        for _ in range(repeats):
            seconds, searched = _search(data, jobs, trials)
            if seconds < best_s:  # with jobs=2 each repeat may propose other parameters
                best_s, result = seconds, searched
        assert result is not None
        figures[f"jobs{jobs}_s"] = best_s
        work = _one_by_one(data, result)
        rows.append((jobs, best_s, trials / best_s, work, result.best.best.objective))
    base = figures["jobs1_s"]
    figures["speedup"] = base / figures[f"jobs{JOBS[-1]}_s"]
    first_rate = rows[0][3] / rows[0][1]
    figures["speedup_same_work"] = rows[-1][3] / rows[-1][1] / first_rate
    print(
        f"{n:,} bars, {trials} trials, {os.cpu_count()} cores, best of {repeats}; load average "
        f"{load:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    print(
        f"{'jobs':>4}  {'wall':>7}  {'trials/s':>8}  {'speed-up':>8}  {'backtests':>9}  "
        f"{'work/wall':>9}  best"
    )
    for jobs, seconds, rate, work, best in rows:
        print(
            f"{jobs:>4}  {seconds:>6.2f}s  {rate:>8.1f}  {base / seconds:>7.2f}x  {work:>8.2f}s  "
            f"{work / seconds:>8.2f}x  sharpe {best:.3f}"
        )
    print(
        "backtests: the search's own trials backtested one after the other in this process "
        "(its work: with --jobs 2 the sampler proposes other parameters, whose backtests cost "
        f"more or less); on the same work, --jobs {JOBS[-1]} is "
        f"{figures['speedup_same_work']:.2f}x --jobs 1"
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=N)
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    run(args.bars, args.trials, args.repeats)
