"""Walk-forward: parameters chosen on the past, scored on what came next (SPEC §7a).

With K folds the bars are cut into K + 1 consecutive segments of equal length (to a bar).
Fold k (1…K) searches on segments 1…k (anchored at the first bar) and is scored on segment
k + 1 alone: `run_backtest(bars up to the end of segment k + 1, …, trade_from=its first bar)`,
so the indicators on the test segment warm up on earlier bars and no figure of fold k depends
on any bar after its test segment. That is what makes the out-of-sample figures honest: the
parameters never saw the bars they are scored on, and nothing saw the future.

Each fold puts its in-sample figures (the search's best on its training bars) beside its
out-of-sample ones. A fold diverges when its out-of-sample objective is below half its
positive in-sample objective (a sign change included; no figure out of sample counts too), or
when its out-of-sample return is negative while its in-sample return was positive.
`Optimization.divergence` says so in a sentence when any fold does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from trading.backtest.data import Ohlcv
from trading.backtest.engine import BacktestConfig, run_backtest
from trading.backtest.report import build_report
from trading.optimize.objectives import check_objective, score
from trading.optimize.search import Progress, SearchFailed, SearchResult, Trial, search
from trading.optimize.space import Dimension
from trading.risk import RiskRules

MIN_SEGMENT_BARS = 2


@dataclass(frozen=True, slots=True, eq=False)
class Fold:
    """One walk-forward fold: chosen on `train`, scored on `test` (first and last bar times)."""

    train: tuple[datetime, datetime]
    test: tuple[datetime, datetime]
    params: dict[str, Any]
    in_sample: dict[str, Any]  # {"objective": x, **Report.as_json()} on the training bars
    out_of_sample: dict[str, Any]  # the same on the test segment alone
    equity_in: np.ndarray  # equity per bar, for the plot
    equity_out: np.ndarray
    time_in: np.ndarray  # bar times (epoch seconds) of those equities
    time_out: np.ndarray

    def shortfall(self, objective: str = "objective") -> str | None:
        """`sharpe 1.85 → -0.42, return +12.30% → -4.10%` when this fold diverges, else None."""
        objective_in = self.in_sample["objective"]
        objective_out = self.out_of_sample["objective"]
        return_in = self.in_sample["total_return_pct"]
        return_out = self.out_of_sample["total_return_pct"]
        falls = objective_in is not None and objective_in > 0
        falls = falls and (objective_out is None or objective_out < objective_in / 2)
        loses = return_in is not None and return_out is not None and return_in > 0 > return_out
        if not (falls or loses):
            return None
        return (
            f"{objective} {_figure(objective_in)} → {_figure(objective_out)}, "
            f"return {_pct(return_in)} → {_pct(return_out)}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "train": [_iso(self.train[0]), _iso(self.train[1])],
            "test": [_iso(self.test[0]), _iso(self.test[1])],
            "params": self.params,
            "in_sample": self.in_sample,
            "out_of_sample": self.out_of_sample,
        }


@dataclass(frozen=True, slots=True, eq=False)
class Optimization:
    best: SearchResult  # the search over all bars
    folds: list[Fold]  # [] without walk-forward
    objective: str

    def divergence(self) -> str | None:
        """A plain sentence when out-of-sample falls well short of in-sample (module doc)."""
        short = [
            (n, why)
            for n, fold in enumerate(self.folds, 1)
            if (why := fold.shortfall(self.objective))
        ]
        if not short:
            return None
        details = "; ".join(f"fold {n}: {why}" for n, why in short)
        return (
            f"Out-of-sample falls well short of in-sample in {len(short)} of {len(self.folds)} "
            f"folds ({details}): the parameters fit the bars they were chosen on better than the "
            "bars that came next, so expect less than the in-sample figures."
        )

    def to_json(self) -> dict[str, Any]:
        """SPEC §7a's `--json`: {"best": {params, objective, report}, "folds": […], "trials"}."""
        best = self.best
        return {
            "best": {
                "params": best.best.params,
                "objective": _round(best.best.objective),
                "report": best.report.as_json(),
            },
            "folds": [fold.as_json() for fold in self.folds],
            "trials": len(best.trials),
        }


def segments(bars: int, folds: int) -> list[int]:
    """The first bar of each of the `folds` + 1 segments, then `bars` (the end)."""
    return [i * bars // (folds + 1) for i in range(folds + 2)]


def optimize(
    data: Ohlcv,
    strategy: str,
    space: list[Dimension],
    *,
    walk_forward: int = 0,
    trials: int = 50,
    objective: str = "sharpe",
    min_trades: int = 5,
    seed: int | None = None,
    jobs: int = 1,
    config: BacktestConfig | None = None,
    risk: RiskRules | None = None,
    progress: Progress | None = None,
) -> Optimization:
    """The search over all bars, then (`walk_forward` = K > 0) K walk-forward folds.

    `progress(done, total, trial)` counts every trial of every search (total: trials × (1 + K)).
    """
    check_objective(objective)
    if walk_forward < 0:
        raise ValueError("--walk-forward must be 1 or more (0: none)")
    if walk_forward and len(data) // (walk_forward + 1) < MIN_SEGMENT_BARS:
        raise ValueError(
            f"--walk-forward {walk_forward}: {len(data)} bars cannot make "
            f"{walk_forward + 1} segments of {MIN_SEGMENT_BARS} bars or more; use fewer folds"
        )
    config = config or BacktestConfig()
    total = trials * (1 + walk_forward)

    def counted(offset: int) -> Progress | None:
        if progress is None:
            return None

        def step(done: int, _: int, trial: Trial) -> None:
            progress(offset + done, total, trial)

        return step

    options: dict[str, Any] = {
        "trials": trials,
        "objective": objective,
        "min_trades": min_trades,
        "seed": seed,
        "jobs": jobs,
        "config": config,
        "risk": risk,
    }
    best = search(data, strategy, space, progress=counted(0), **options)
    bounds = segments(len(data), walk_forward)
    folds = []
    for k in range(1, walk_forward + 1):
        train = data.slice(0, bounds[k])
        try:
            found = search(train, strategy, space, progress=counted(k * trials), **options)
        except SearchFailed as exc:
            raise SearchFailed(
                f"walk-forward fold {k} (training bars {_day(train, 0)} → {_day(train, -1)}): "
                f"{exc.user_message}"
            ) from None
        folds.append(_fold(data, bounds[k], bounds[k + 1], strategy, found, options))
    return Optimization(best, folds, objective)


def _fold(
    data: Ohlcv,
    start: int,
    stop: int,
    strategy: str,
    found: SearchResult,
    options: dict[str, Any],
) -> Fold:
    """Fold of `found` (searched on bars before `start`), scored on bars start..stop-1."""
    objective, config, risk = options["objective"], options["config"], options["risk"]
    params = found.best.params
    inside = run_backtest(data.slice(0, start), strategy, params, config, risk=risk)
    outside = run_backtest(
        data.slice(0, stop), strategy, params, config, risk=risk, trade_from=start
    )
    out_report = build_report(outside)
    test = outside.data
    return Fold(
        train=(inside.data.datetime_at(0), inside.data.datetime_at(len(inside.data) - 1)),
        test=(test.datetime_at(0), test.datetime_at(len(test) - 1)),
        params=params,
        in_sample={
            "objective": _round(found.best.objective),
            **found.report.as_json(),
        },
        out_of_sample={
            "objective": _round(score(outside, objective, out_report)),
            **out_report.as_json(),
        },
        equity_in=inside.equity,
        equity_out=outside.equity,
        time_in=inside.data.time,
        time_out=test.time,
    )


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(data: Ohlcv, i: int) -> str:
    return data.datetime_at(i % len(data)).strftime("%Y-%m-%d")


def _figure(value: float | None) -> str:
    return "no figure" if value is None else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}%"
