"""The search: Optuna's TPE sampler proposes parameters, each trial is one backtest (SPEC §7a).

* The same engine: every trial is `run_backtest(data, strategy, params, config, risk=risk)`,
  the call `tradebot backtest` makes, so `tradebot backtest --param …` with the best parameters
  reproduces the best trial's report exactly.
* Trial 0 is the strategy's defaults (each brought to the nearest value of its dimension when
  the space leaves it out), so the best is never worse than the defaults the space contains.
* Pruning: a trial whose parameters the strategy refuses (`fast` ≥ `slow`), whose data is
  shorter than its warm-up, with fewer trades than `min_trades`, or whose objective does not
  exist (`trading.optimize.objectives`) is told to Optuna as pruned (TPE then steers away from
  it), kept with its reason, and never the best: a 2-trade fluke cannot win.
* Repeatable: with a `seed` and `jobs=1`, trials are proposed and told one after the other, so
  the same seed gives the same trials, the same best and the same figures. With `jobs > 1`
  the trials run in that many processes (the backtest is CPU-bound; the bars reach each
  process once, when it starts) and are told as they finish, so the order of proposals, and
  with it the result, may differ from run to run; every figure is still a real backtest of the
  parameters it is shown with.
* Parameter importance: Optuna's PED-ANOVA evaluator over the completed trials (deterministic
  and without scikit-learn, which fANOVA needs), as shares that sum to 1; {} with fewer than two
  searched parameters or five completed trials.

Optuna is imported when a search runs, not when a front end parses a space.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from trading.backtest.data import Ohlcv
from trading.backtest.engine import BacktestConfig, run_backtest
from trading.backtest.report import Report, build_report
from trading.errors import InvalidRequest
from trading.optimize.objectives import check_objective, score
from trading.optimize.space import Dimension, SpaceError, default_params
from trading.risk import RiskRules
from trading.strategies import registry

if TYPE_CHECKING:
    import optuna

MIN_IMPORTANCE_TRIALS = 5
SIGNIFICANT_DIGITS = 6  # a continuous parameter as the search reports and runs it

Progress = Callable[[int, int, "Trial"], None]


class SearchFailed(InvalidRequest):
    """No trial completed; the message (one line) says why and what to change."""


@dataclass(frozen=True, slots=True)
class Trial:
    """One backtest of the search. `params`: every parameter of the strategy (the searched ones
    and the defaults of the others), as `run_backtest` took them."""

    number: int
    params: dict[str, Any]
    objective: float | None
    trades: int
    state: Literal["complete", "pruned"]
    reason: str = ""  # why it was pruned: "3 trades < --min-trades 5", "invalid: …"
    return_pct: float | None = None
    drawdown_pct: float | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    best: Trial
    report: Report  # the best trial's report, on the bars searched
    trials: list[Trial]  # every trial, by number
    importance: dict[str, float] = field(default_factory=dict)  # parameter → share, largest first

    @property
    def defaults(self) -> Trial | None:
        """Trial 0 when it ran the strategy's own defaults; None when they lie outside the
        space (trial 0 then ran them moved into it, and is no "defaults" to compare with)."""
        first = next((t for t in self.trials if t.number == 0), None)
        if first is None or first.params != default_params(self.report.strategy):
            return None
        return first

    def top(self, n: int = 10) -> list[Trial]:
        """The `n` best completed trials, best first (the earlier trial first on a tie)."""
        done = [t for t in self.trials if t.state == "complete" and t.objective is not None]
        return sorted(done, key=lambda t: (-(t.objective or 0.0), t.number))[:n]


@dataclass(frozen=True, slots=True)
class TrialTask:
    """A trial's work apart from the bars: small, so it crosses to a process cheaply."""

    strategy: str
    params: dict[str, Any]  # the searched parameters only
    objective: str
    min_trades: int
    config: BacktestConfig
    risk: RiskRules | None


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    params: dict[str, Any]
    objective: float | None
    trades: int
    reason: str
    report: Report | None

    def trial(self, number: int) -> Trial:
        return Trial(
            number=number,
            params=self.params,
            objective=self.objective,
            trades=self.trades,
            state="pruned" if self.reason else "complete",
            reason=self.reason,
            return_pct=self.report.total_return_pct if self.report else None,
            drawdown_pct=self.report.max_drawdown_pct if self.report else None,
        )


def run_trial(data: Ohlcv, task: TrialTask) -> TrialOutcome:
    """One trial: the backtest `tradebot backtest` would run, its report and its objective."""
    try:
        params = registry.validate_params(task.strategy, task.params)
    except ValueError as exc:
        merged = {**default_params(task.strategy), **task.params}
        return TrialOutcome(merged, None, 0, f"invalid: {exc}", None)
    try:
        result = run_backtest(data, task.strategy, params, task.config, risk=task.risk)
    except InvalidRequest as exc:
        return TrialOutcome(params, None, 0, f"invalid: {exc.user_message}", None)
    report = build_report(result)
    trades = len(result.trades)
    if trades < task.min_trades:
        reason = f"{trades} trade{'' if trades == 1 else 's'} < --min-trades {task.min_trades}"
        return TrialOutcome(params, None, trades, reason, report)
    value = score(result, task.objective, report)
    if value is None:
        reason = f"{task.objective} undefined ({_undefined(task.objective, trades)})"
        return TrialOutcome(params, None, trades, reason, report)
    return TrialOutcome(params, value, trades, "", report)


def _undefined(objective: str, trades: int) -> str:
    if not trades:
        return "no trade"
    return {
        "sortino": "no losing bar",
        "profit_factor": "only break-even trades",
        "calmar": "no drawdown",
    }.get(objective, "not a finite number")


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies

# A worker process's bars, set once by the pool's initializer (`_start_worker`): sending
# 100,000 bars with every trial would cost more than some backtests.
_worker_data: Ohlcv | None = None


def _start_worker(data: Ohlcv) -> None:
    """A pool worker: keeps the bars, leaves Ctrl-C to the parent (which stops the pool), and on
    Linux dies with the parent (a killed `tradebot optimize` leaves no worker behind)."""
    global _worker_data
    _worker_data = data
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _run_in_worker(task: TrialTask) -> TrialOutcome:
    assert _worker_data is not None, "the pool's initializer sets the bars"
    return run_trial(_worker_data, task)


def _optuna() -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def search(
    data: Ohlcv,
    strategy: str,
    space: list[Dimension],
    *,
    trials: int = 50,
    objective: str = "sharpe",
    min_trades: int = 5,
    seed: int | None = None,
    jobs: int = 1,
    config: BacktestConfig | None = None,
    risk: RiskRules | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """Search `space` for the `strategy` parameters that maximise `objective` on `data`.

    `progress(done, total, trial)` after every finished trial. Raises SearchFailed when no
    trial completes, ValueError (one line naming the option) for a bad argument.
    """
    check_objective(objective)
    if trials < 1:
        raise ValueError("--trials must be at least 1")
    if jobs < 1:
        raise ValueError("--jobs must be at least 1")
    if min_trades < 0:
        raise ValueError("--min-trades must be 0 or more")
    if not space:
        raise SpaceError("the space is empty: give at least one --space")
    config = config or BacktestConfig()
    optuna = _optuna()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        start = _start(strategy, space)
        if start:
            study.enqueue_trial(start)
        task = TrialTask(strategy, {}, objective, min_trades, config, risk)
        run = _Run(study, optuna, data, task, space, trials, progress)
        if jobs == 1:
            run.in_this_process()
        else:
            run.in_processes(jobs)
        done = sorted(run.trials, key=lambda t: t.number)
        complete = [t for t in done if t.state == "complete"]
        if not complete:
            raise SearchFailed(_failure(done, objective, min_trades))
        best = max(complete, key=lambda t: (t.objective or 0.0, -t.number))
        report = run.reports[best.number]
        return SearchResult(best, report, done, _importance(optuna, study, space))


class _Run:
    """The ask → backtest → tell loop, in this process or in a pool of processes."""

    def __init__(
        self,
        study: optuna.Study,
        optuna: Any,
        data: Ohlcv,
        template: TrialTask,
        space: list[Dimension],
        total: int,
        progress: Progress | None,
    ) -> None:
        self.study, self.optuna, self.data = study, optuna, data
        self.template, self.space, self.total = template, space, total
        self.progress = progress
        self.trials: list[Trial] = []
        self.reports: dict[int, Report] = {}
        # Outcomes by parameters: TPE proposes a point again when a small space runs out.
        self.seen: dict[str, TrialOutcome] = {}

    def ask(self) -> tuple[optuna.Trial, dict[str, Any], str]:
        trial = self.study.ask()
        params = {dim.name: _suggest(trial, dim) for dim in self.space}
        return trial, params, json.dumps(params, sort_keys=True, default=str)

    def task(self, params: dict[str, Any]) -> TrialTask:
        return replace(self.template, params=params)

    def tell(self, trial: optuna.Trial, outcome: TrialOutcome, key: str) -> None:
        self.seen.setdefault(key, outcome)
        if outcome.reason:
            self.study.tell(trial, state=self.optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, outcome.objective)
        done = outcome.trial(trial.number)
        if outcome.report is not None and not outcome.reason:
            self.reports[trial.number] = outcome.report
        self.trials.append(done)
        if self.progress is not None:
            self.progress(len(self.trials), self.total, done)

    def in_this_process(self) -> None:
        for _ in range(self.total):
            trial, params, key = self.ask()
            outcome = self.seen.get(key) or run_trial(self.data, self.task(params))
            self.tell(trial, outcome, key)

    def in_processes(self, jobs: int) -> None:
        # More processes than cores only share the cores (and each holds a copy of the bars).
        jobs = min(jobs, self.total, os.cpu_count() or 1)
        pool = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=_pool_context(),
            initializer=_start_worker,
            initargs=(self.data,),
        )
        running: dict[Future[TrialOutcome], tuple[optuna.Trial, str]] = {}
        asked = 0
        try:
            while asked < self.total or running:
                while asked < self.total and len(running) < jobs:
                    trial, params, key = self.ask()
                    asked += 1
                    if key in self.seen:
                        self.tell(trial, self.seen[key], key)
                        continue
                    running[pool.submit(_run_in_worker, self.task(params))] = (trial, key)
                if not running:
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: running[f][0].number):
                    trial, key = running.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        raise SearchFailed(
                            "a trial's worker process died (out of memory?): try fewer --jobs"
                        ) from None
                    self.tell(trial, outcome, key)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork on Linux when this process runs one thread: workers start at once and read the bars
    without a copy. spawn otherwise (a fresh interpreter, about 0.5 s per worker), because a
    fork while another thread (a progress bar's, an event loop's) holds a lock can hang."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _suggest(trial: optuna.Trial, dim: Dimension) -> Any:
    if dim.kind == "choice":
        return trial.suggest_categorical(dim.name, list(dim.choices))
    assert dim.low is not None and dim.high is not None
    if dim.kind == "int":
        return trial.suggest_int(dim.name, int(dim.low), int(dim.high), step=int(dim.step or 1))
    value = trial.suggest_float(dim.name, dim.low, dim.high, step=dim.step)
    if dim.step is not None:
        return dim.snap(value)  # 0.30000000000000004 → 0.3
    rounded = float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return min(max(rounded, dim.low), dim.high)


def _start(strategy: str, space: list[Dimension]) -> dict[str, Any]:
    """The strategy's defaults, each at the nearest value its dimension has."""
    defaults = default_params(strategy)
    start = {}
    for dim in space:
        value = dim.nearest(defaults[dim.name])
        if value is not None:
            start[dim.name] = value
    return start


def _failure(trials: list[Trial], objective: str, min_trades: int) -> str:
    few = [t for t in trials if "--min-trades" in t.reason]
    invalid = [t for t in trials if t.reason.startswith("invalid:")]
    if few and len(few) >= len(invalid):
        most = max(t.trades for t in few)
        return (
            f"no trial reached --min-trades {min_trades} (the most was {most}): "
            "lower it or widen the space"
        )
    if invalid and len(invalid) == len(trials):
        return f"every trial was refused ({invalid[0].reason}): change the space"
    undefined = next((t for t in trials if "undefined" in t.reason), trials[0])
    return f"no trial completed ({undefined.reason}): try another --objective or widen the space"


def _importance(optuna: Any, study: optuna.Study, space: list[Dimension]) -> dict[str, float]:
    searched = [dim.name for dim in space if not dim.fixed]
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(searched) < 2 or len(complete) < MIN_IMPORTANCE_TRIALS:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few trials", "quantiles select the same trials"
        shares = optuna.importance.get_param_importances(
            study,
            evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
            params=searched,
            normalize=False,
        )
    total = sum(shares.values())
    if not total > 0:
        return {}
    return {name: value / total for name, value in shares.items()}
