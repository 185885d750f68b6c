"""The search on bars built so that parameters matter: a price that swings with a 48-bar period
(an RSI of about 20 bars buys its troughs and sells its crests, a short one trades noise), and a
random walk with two crashes that only a very slow RSI catches, twice (a fluke). What a trader
relies on: the best is inside the space and at least as good as the defaults, the same seed
gives the same search, `tradebot backtest` with the best parameters gives the same figures,
and a 2-trade fluke does not win."""

from __future__ import annotations

import numpy as np
import pytest

from trading.backtest import Ohlcv, build_report, from_arrays, run_backtest
from trading.optimize import SearchFailed, Trial, default_params, parse_space, score
from trading.optimize.objectives import PROFIT_FACTOR_CEILING
from trading.optimize.search import search

START = 1_704_067_200  # 2024-01-01T00:00:00Z, hourly bars


def bars(steps: np.ndarray, swing: np.ndarray | None = None) -> Ohlcv:
    """Hourly bars from log-returns (and a multiplicative swing); each opens at the last close."""
    close = 100 * np.exp(np.cumsum(steps))
    if swing is not None:
        close = close * swing
    opens = np.r_[close[0], close[:-1]]
    high = np.maximum(opens, close) * 1.001
    low = np.minimum(opens, close) * 0.999
    return from_arrays(START + 3600 * np.arange(len(close)), opens, high, low, close)


def wave(n: int = 3000, period: int = 48, seed: int = 3) -> Ohlcv:
    """A ±4 % swing every `period` bars on a quiet random walk."""
    rng = np.random.default_rng(seed)
    swing = 1 + 0.04 * np.sin(2 * np.pi * np.arange(n) / period)
    return bars(rng.normal(0, 0.002, n), swing)


def fluke(n: int = 3000, seed: int = 5) -> Ohlcv:
    """A random walk with two V-shaped crashes (−27 % then +60 %, 160 bars each)."""
    steps = np.random.default_rng(seed).normal(0, 0.004, n)
    for at in (1000, 2200):
        steps[at : at + 80] = -0.004
        steps[at + 80 : at + 160] = 0.006
    return bars(steps)


def objective_of(data: Ohlcv, params: dict, objective: str = "sharpe") -> float | None:
    return score(run_backtest(data, "rsi", params), objective)


def test_the_best_rsi_period_is_the_one_that_fits_the_swing_and_beats_the_defaults() -> None:
    data = wave()
    space = parse_space("rsi", ["period=2..40"])
    found = search(data, "rsi", space, trials=20, seed=1)
    every = {p: objective_of(data, {"period": p}) for p in range(2, 41)}
    top = max(v for v in every.values() if v is not None)
    assert 2 <= found.best.params["period"] <= 40
    assert found.best.params["period"] in range(18, 25)  # the top of the landscape
    assert found.best.objective >= 0.9 * top
    defaults = objective_of(data, default_params("rsi"))
    assert defaults is not None and found.best.objective > 2 * defaults
    # Trial 0 is the defaults.
    assert found.trials[0].params == default_params("rsi")


def test_two_searched_parameters_stay_inside_the_space_and_the_best_beats_the_defaults() -> None:
    data = wave()
    space = parse_space("rsi", ["period=10..30", "oversold=15..40:5", "overbought=60..85:5"])
    found = search(data, "rsi", space, trials=25, seed=4)
    for trial in found.trials:
        assert 10 <= trial.params["period"] <= 30
        assert trial.params["oversold"] in (15.0, 20.0, 25.0, 30.0, 35.0, 40.0)
        assert trial.params["overbought"] in (60.0, 65.0, 70.0, 75.0, 80.0, 85.0)
    defaults = objective_of(data, default_params("rsi"))
    assert defaults is not None and found.best.objective >= defaults
    assert set(found.importance) == {"period", "oversold", "overbought"}
    assert sum(found.importance.values()) == pytest.approx(1)
    assert found.top(3)[0] == found.best
    assert [t.objective for t in found.top(5)] == sorted(
        (t.objective for t in found.top(5)), reverse=True
    )


def test_the_same_seed_gives_the_same_trials_best_and_figures() -> None:
    data = wave()
    space = parse_space("rsi", ["period=5..35", "oversold=20..40"])
    first = search(data, "rsi", space, trials=15, seed=11)
    again = search(data, "rsi", space, trials=15, seed=11)
    assert first.trials == again.trials
    assert first.best == again.best and first.report == again.report
    assert first.importance == again.importance
    other = search(data, "rsi", space, trials=15, seed=12)
    assert [t.params for t in other.trials] != [t.params for t in first.trials]


def test_a_plain_backtest_with_the_best_parameters_reproduces_the_report_exactly() -> None:
    data = wave()
    space = parse_space("rsi", ["period=5..35", "oversold=20..40", "overbought=60..80:2.5"])
    found = search(data, "rsi", space, trials=15, seed=2, objective="sortino")
    replay = run_backtest(data, "rsi", found.best.params)
    assert build_report(replay) == found.report
    assert build_report(replay).as_json() == found.report.as_json()
    assert score(replay, "sortino") == found.best.objective
    assert found.best.trades == found.report.trades
    assert found.best.return_pct == found.report.total_return_pct


def test_min_trades_prunes_the_two_trade_fluke_that_would_otherwise_win() -> None:
    data = fluke()
    space = parse_space("rsi", ["period=5..80"])
    anything = search(data, "rsi", space, trials=20, seed=1, min_trades=0)
    assert anything.best.trades == 2  # a slow RSI caught both crashes, and nothing else
    careful = search(data, "rsi", space, trials=20, seed=1, min_trades=5)
    assert careful.best.trades >= 5
    assert careful.best.objective < anything.best.objective
    flukes = [t for t in careful.trials if t.trades == 2]
    assert flukes and all(t.state == "pruned" for t in flukes)
    assert flukes[0].reason == "2 trades < --min-trades 5" and flukes[0].objective is None
    assert all(t.trades >= 5 for t in careful.top(20))


def test_parameters_the_strategy_refuses_are_pruned_with_its_reason_never_best() -> None:
    data = wave()
    space = parse_space("ma_cross", ["fast=5..60", "slow=20..50"])
    found = search(data, "ma_cross", space, trials=20, seed=3)
    refused = [t for t in found.trials if t.params["fast"] >= t.params["slow"]]
    assert refused
    for trial in refused:
        assert trial.state == "pruned" and trial.objective is None
        assert trial.reason.startswith("invalid: ma_cross parameters: fast (")
        assert "must be shorter than slow" in trial.reason
    assert found.best.params["fast"] < found.best.params["slow"]


def test_progress_is_told_after_every_trial() -> None:
    seen: list[tuple[int, int, Trial]] = []
    found = search(
        wave(),
        "rsi",
        parse_space("rsi", ["period=5..30"]),
        trials=8,
        seed=1,
        progress=lambda done, total, trial: seen.append((done, total, trial)),
    )
    assert [(done, total) for done, total, _ in seen] == [(n, 8) for n in range(1, 9)]
    assert sorted((t for _, _, t in seen), key=lambda t: t.number) == found.trials


def test_two_jobs_run_every_trial_and_the_best_is_a_real_backtest_of_its_parameters() -> None:
    data = wave()
    space = parse_space("rsi", ["period=5..35", "oversold=20..40:5"])
    found = search(data, "rsi", space, trials=12, seed=5, jobs=2)
    assert [t.number for t in found.trials] == list(range(12))
    assert found.trials[0].params == default_params("rsi")
    assert build_report(run_backtest(data, "rsi", found.best.params)) == found.report
    for trial in found.top(3):
        assert objective_of(data, trial.params) == trial.objective


def test_no_trial_reaching_min_trades_is_one_line_saying_what_to_change() -> None:
    with pytest.raises(SearchFailed) as caught:
        search(wave(), "rsi", parse_space("rsi", ["period=5..30"]), trials=5, min_trades=10**6)
    message = str(caught.value)
    assert message.startswith("no trial reached --min-trades 1000000 (the most was ")
    assert message.endswith("): lower it or widen the space")
    assert "\n" not in message


def test_a_bad_objective_or_trial_count_is_one_line_naming_the_option() -> None:
    space = parse_space("rsi", ["period=5..30"])
    with pytest.raises(ValueError, match=r"^--objective 'alpha': choose one of sharpe, sortino"):
        search(wave(), "rsi", space, objective="alpha")
    with pytest.raises(ValueError, match=r"^--trials must be at least 1$"):
        search(wave(), "rsi", space, trials=0)


@pytest.mark.parametrize("objective", ["sharpe", "sortino", "calmar", "profit_factor", "return"])
def test_every_objective_is_the_reports_figure_and_higher_is_better(objective: str) -> None:
    data = wave()
    result = run_backtest(data, "rsi", {"period": 20})
    report = build_report(result)
    value = score(result, objective)
    assert value is not None and np.isfinite(value) and value > 0
    expected = {
        "sharpe": report.sharpe,
        # Not one losing trade: the report's "∞", the objective's ceiling.
        "profit_factor": report.profit_factor or PROFIT_FACTOR_CEILING,
        "return": report.total_return_pct,
        "calmar": (report.cagr_pct or 0) / abs(report.max_drawdown_pct),
    }
    if objective in expected:
        assert value == pytest.approx(expected[objective])
    # A losing period scores lower on every objective.
    assert (score(run_backtest(data, "rsi", {"period": 4}), objective) or -1e9) < value


def test_an_objective_without_a_trade_is_undefined() -> None:
    result = run_backtest(wave(), "rsi", {"period": 200})
    assert not result.trades
    assert all(score(result, name) is None for name in ("sharpe", "return", "sortino"))
