"""Walk-forward as SPEC §7a cuts it: K + 1 equal segments, fold k chosen on segments 1…k and
scored on segment k + 1 alone. What makes its out-of-sample figures honest, checked the way a
sceptic would: change the future and the fold does not move; the test segment's indicators are
warm from earlier bars; and a regime change that breaks the parameters is said in plain words."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from tests.test_optimize_search import bars, wave
from trading import indicators
from trading.backtest import Ohlcv, build_report, run_backtest
from trading.errors import InvalidRequest
from trading.optimize import SearchFailed, optimize, parse_space, segments
from trading.optimize.walkforward import Optimization

SPACE = ["period=5..35", "oversold=20..40:5"]


def regime_change(n: int = 3000, seed: int = 3) -> Ohlcv:
    """Two thirds of a 48-bar swing an RSI trades well, then a noisy slide it buys all the way
    down."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    steps = rng.normal(0, 0.002, n)
    steps[2000:] = rng.normal(-0.001, 0.006, n - 2000)
    swing = np.where(i < 2000, 1 + 0.04 * np.sin(2 * np.pi * i / 48), 1.0)
    return bars(steps, swing)


def scaled_after(data: Ohlcv, bar: int, factor: float) -> Ohlcv:
    """The same bars with every price from `bar` on multiplied by `factor`."""

    def scaled(values: np.ndarray) -> np.ndarray:
        out = values.copy()
        out[bar:] *= factor
        return out

    return replace(
        data,
        open=scaled(data.open),
        high=scaled(data.high),
        low=scaled(data.low),
        close=scaled(data.close),
    )


def at(data: Ohlcv, i: int) -> datetime:
    return datetime.fromtimestamp(int(data.time[i]), tz=UTC)


def run(data: Ohlcv, folds: int, **options: object) -> Optimization:
    settings: dict[str, object] = {"trials": 12, "seed": 1, **options}
    return optimize(data, "rsi", parse_space("rsi", SPACE), walk_forward=folds, **settings)


def test_folds_are_k_plus_one_equal_segments_trained_on_the_past_and_tested_on_the_next() -> None:
    data = wave(n=2000)
    assert segments(2000, 3) == [0, 500, 1000, 1500, 2000]
    result = run(data, 3)
    assert len(result.folds) == 3
    for k, fold in enumerate(result.folds, start=1):
        start, stop = 500 * k, 500 * (k + 1)
        assert fold.train == (at(data, 0), at(data, start - 1))
        assert fold.test == (at(data, start), at(data, stop - 1))
        assert fold.in_sample["bars"] == start and fold.out_of_sample["bars"] == 500
        assert fold.out_of_sample["start"] == at(data, start).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert fold.out_of_sample["params"] == fold.params
        assert len(fold.equity_in) == len(fold.time_in) == start
        assert len(fold.equity_out) == len(fold.time_out) == 500
        assert fold.time_out[0] == data.time[start]


def test_a_fold_never_sees_its_own_future() -> None:
    data = wave()
    changed = scaled_after(data, 2000, 3.0)  # every bar after fold 1's test segment (1000..1999)
    before, after = run(data, 2), run(changed, 2)
    first, again = before.folds[0], after.folds[0]
    assert first.params == again.params
    assert first.in_sample == again.in_sample and first.out_of_sample == again.out_of_sample
    assert np.array_equal(first.equity_out, again.equity_out)
    assert np.array_equal(first.equity_in, again.equity_in)
    # The change is real: fold 2 is scored on those bars, and its figures move.
    assert before.folds[1].out_of_sample != after.folds[1].out_of_sample


def test_the_test_segment_warms_up_on_earlier_bars_and_can_trade_on_its_first_bar() -> None:
    data = wave()
    params = {"period": 20}
    start, stop = 1000, 1500
    # A bar where the RSI is below oversold: the segment starts in the middle of a buy signal.
    rsi = indicators.rsi(data.close, 20)
    trough = next(i for i in range(start, stop) if rsi[i] < 30)
    warm = run_backtest(data.slice(0, stop), "rsi", params, trade_from=trough)
    cold = run_backtest(data.slice(trough, stop), "rsi", params)
    assert warm.data.time[0] == data.time[trough] and len(warm.data) == stop - trough
    assert warm.fills[0].bar == 0  # the RSI from earlier bars says "buy" on the first bar
    assert cold.fills[0].bar >= 20  # a cold start waits out the warm-up
    report = build_report(warm)
    assert report.bars == stop - trough and report.start == at(data, trough)
    assert report.initial_cash == 10000 and warm.equity[0] <= 10000


def test_no_order_comes_before_trade_from_and_the_account_starts_flat_there() -> None:
    data = wave()
    whole = run_backtest(data, "rsi", {"period": 20})
    later = run_backtest(data, "rsi", {"period": 20}, trade_from=1500)
    assert whole.trades[0].entry_bar < 1500
    assert all(t.entry_time >= at(data, 1500) for t in later.trades)
    assert later.equity[0] == pytest.approx(10000, rel=1e-3)
    assert whole.final_equity != later.final_equity
    with pytest.raises(InvalidRequest, match="trade_from 3000 is outside the data's 3000 bars"):
        run_backtest(data, "rsi", {"period": 20}, trade_from=3000)


def test_divergence_is_said_plainly_when_out_of_sample_falls_apart() -> None:
    result = run(regime_change(), 2)
    first, second = result.folds
    assert second.in_sample["total_return_pct"] > 0 > second.out_of_sample["total_return_pct"]
    sentence = result.divergence()
    assert sentence is not None and "\n" not in sentence
    assert sentence.startswith(
        "Out-of-sample falls well short of in-sample in 1 of 2 folds (fold 2: sharpe "
    )
    assert "fold 1" not in sentence
    assert first.shortfall("sharpe") is None


def test_no_divergence_when_out_of_sample_keeps_up() -> None:
    result = run(wave(), 2)
    assert result.divergence() is None
    for fold in result.folds:
        assert fold.out_of_sample["objective"] >= fold.in_sample["objective"] / 2


def test_json_is_the_shape_spec_7a_gives() -> None:
    data = wave(n=2000)
    result = run(data, 1)
    shape = json.loads(json.dumps(result.to_json()))
    assert set(shape) == {"best", "folds", "trials"}
    assert shape["trials"] == 12
    assert set(shape["best"]) == {"params", "objective", "report"}
    assert shape["best"]["params"] == result.best.best.params
    assert shape["best"]["report"] == result.best.report.as_json()
    assert shape["best"]["objective"] == round(result.best.best.objective, 4)
    (fold,) = shape["folds"]
    assert set(fold) == {"train", "test", "params", "in_sample", "out_of_sample"}
    assert fold["train"] == ["2024-01-01T00:00:00Z", "2024-02-11T15:00:00Z"]
    assert fold["test"] == ["2024-02-11T16:00:00Z", "2024-03-24T07:00:00Z"]
    for figures in (fold["in_sample"], fold["out_of_sample"]):
        assert {"objective", "total_return_pct", "max_drawdown_pct", "trades", "sharpe"} <= set(
            figures
        )


def test_progress_counts_every_trial_of_every_search() -> None:
    seen: list[tuple[int, int]] = []
    run(wave(n=2000), 2, trials=5, progress=lambda done, total, _: seen.append((done, total)))
    assert seen == [(n, 15) for n in range(1, 16)]


def test_a_fold_whose_training_bars_are_too_few_says_which_fold_and_what_to_change() -> None:
    with pytest.raises(SearchFailed) as caught:
        run(wave(), 2, min_trades=30)
    message = str(caught.value)
    assert message.startswith("walk-forward fold 1 (training bars 2024-01-01 → 2024-02-11): ")
    assert "no trial reached --min-trades 30" in message and "\n" not in message


def test_more_folds_than_the_bars_allow_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^--walk-forward 20: 30 bars cannot make 21 segments"):
        run(wave(n=30), 20)
