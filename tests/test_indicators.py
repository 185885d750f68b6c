"""Tests for trading.indicators (batch) and trading.streaming (incremental).

What is proven here, and why each matters:

* batch functions == TA-Lib exactly (the contract: strategies see TA-Lib's numbers);
* batch RSI == an independent pure-numpy Wilder RSI and == a hand-worked example, so the
  reference itself is checked rather than trusted;
* streaming == batch to 1e-9 absolute over 20,000-bar random walks (values ~100), with the
  same number of warm-up NaNs — live decisions equal back-test decisions;
* state()/from_state() through strict JSON mid-series continues bit-identically — restarts
  do not disturb indicators;
* argument validation, non-finite inputs, and the sample OHLCV file's invariants.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
import json
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from trading import indicators as ind
from trading.streaming import (
    StreamingBollinger,
    StreamingEMA,
    StreamingMACD,
    StreamingRSI,
    StreamingSMA,
)

ROOT = Path(__file__).resolve().parents[1]
FloatArray = npt.NDArray[np.float64]


def random_walk(n: int, seed: int, start: float = 100.0, step: float = 1.0) -> FloatArray:
    """Arithmetic random walk (values ~100 for the default arguments)."""
    rng = np.random.default_rng(seed)
    return start + np.cumsum(rng.normal(0.0, step, n))


def leading_nans(a: FloatArray) -> int:
    """Number of NaNs before the first defined value (== len(a) if all NaN)."""
    defined = np.flatnonzero(~np.isnan(a))
    return int(defined[0]) if defined.size else len(a)


def stream_all(obj: Any, values: Sequence[float] | FloatArray) -> FloatArray:
    """Feed every value into a streaming indicator; stack the outputs as an array."""
    return np.array([obj.update(float(v)) for v in values], dtype=np.float64)


def stream_all_raw(obj: Any, values: Sequence[object]) -> FloatArray:
    """Like :func:`stream_all` but passes the values through unconverted."""
    return np.array([obj.update(v) for v in values], dtype=np.float64)


def assert_close_after_warmup(batch: FloatArray, streamed: FloatArray, atol: float) -> None:
    """Same NaN positions (warm-up) and |difference| <= atol everywhere else."""
    assert batch.shape == streamed.shape
    np.testing.assert_array_equal(np.isnan(batch), np.isnan(streamed))
    defined = ~np.isnan(batch)
    assert defined.any(), "series too short to leave the warm-up"
    worst = float(np.max(np.abs(batch[defined] - streamed[defined])))
    assert worst <= atol, f"max |batch - streaming| = {worst:.3e} > {atol:.0e}"


# --------------------------------------------------------------------------- batch == TA-Lib


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_functions_equal_talib_exactly(seed: int) -> None:
    x = random_walk(3_000, seed)
    for p in (2, 5, 14, 50):
        np.testing.assert_array_equal(ind.rsi(x, p), talib.RSI(x, timeperiod=p))
    for p in (1, 2, 10, 30, 200):
        np.testing.assert_array_equal(ind.sma(x, p), talib.SMA(x, timeperiod=p))
        np.testing.assert_array_equal(ind.ema(x, p), talib.EMA(x, timeperiod=p))
    for f, s, g in [(12, 26, 9), (5, 35, 5), (2, 2, 1), (3, 10, 1)]:
        ours = ind.macd(x, f, s, g)
        ref = talib.MACD(x, fastperiod=f, slowperiod=s, signalperiod=g)
        for a, b in zip(ours, ref, strict=True):
            np.testing.assert_array_equal(a, b)
    for p, k in [(20, 2.0), (2, 1.0), (50, 2.5), (20, 0.0)]:
        ours = ind.bollinger(x, p, k)
        ref = talib.BBANDS(x, timeperiod=p, nbdevup=k, nbdevdn=k, matype=0)
        for a, b in zip(ours, ref, strict=True):
            np.testing.assert_array_equal(a, b)


def test_defaults_match_documented_talib_defaults() -> None:
    x = random_walk(500, 3)
    np.testing.assert_array_equal(ind.rsi(x), talib.RSI(x, timeperiod=14))
    for a, b in zip(ind.macd(x), talib.MACD(x, 12, 26, 9), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(ind.bollinger(x), talib.BBANDS(x, 20, 2.0, 2.0, 0), strict=True):
        np.testing.assert_array_equal(a, b)


def test_warmup_lengths_are_talib_lookbacks() -> None:
    x = random_walk(400, 4)
    assert leading_nans(ind.rsi(x, 14)) == ind.rsi_lookback(14) == 14
    assert leading_nans(ind.sma(x, 30)) == ind.sma_lookback(30) == 29
    assert leading_nans(ind.ema(x, 30)) == ind.ema_lookback(30) == 29
    # TA-Lib's MACD: (slow - 1) + (signal - 1) NaNs in all three outputs, the line included.
    assert ind.macd_lookback(12, 26, 9) == 33
    for out in ind.macd(x, 12, 26, 9):
        assert leading_nans(out) == 33
    assert ind.bollinger_lookback(20) == 19
    for out in ind.bollinger(x, 20):
        assert leading_nans(out) == 19


def test_accepts_lists_tuples_decimals_ints_and_iterators() -> None:
    x = random_walk(100, 5)
    ref = ind.rsi(x, 14)
    as_list = [float(v) for v in x]
    as_decimal = [Decimal(repr(v)) for v in as_list]  # repr round-trips the float exactly
    for variant in (as_list, tuple(as_list), as_decimal, iter(as_list)):
        out = ind.rsi(variant, 14)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, ref)
    ints = [100, 101, 103, 102, 104]
    np.testing.assert_array_equal(ind.sma(ints, 2), talib.SMA(np.array(ints, float), 2))
    # Non-contiguous views are fine too (TA-Lib itself would reject them).
    np.testing.assert_array_equal(ind.ema(x[::2], 5), talib.EMA(np.ascontiguousarray(x[::2]), 5))


def test_outputs_have_input_length_and_dtype() -> None:
    x = random_walk(60, 6).tolist()
    single = [ind.rsi(x), ind.sma(x, 5), ind.ema(x, 5)]
    triples = [*ind.macd(x), *ind.bollinger(x)]
    for out in single + triples:
        assert isinstance(out, np.ndarray)
        assert out.dtype == np.float64
        assert out.shape == (60,)


def test_empty_input_gives_empty_arrays() -> None:
    assert ind.rsi([]).shape == (0,)
    assert ind.sma([], 3).shape == (0,)
    assert ind.ema(np.array([]), 3).shape == (0,)
    for triple in (ind.macd([]), ind.bollinger([])):
        assert len(triple) == 3
        assert all(a.shape == (0,) and a.dtype == np.float64 for a in triple)


def test_input_shorter_than_warmup_is_all_nan() -> None:
    x = [100.0, 101.0, 102.0]
    assert np.isnan(ind.rsi(x, 14)).all()
    assert all(np.isnan(a).all() for a in ind.macd(x))
    assert all(np.isnan(a).all() for a in ind.bollinger(x))


def test_non_one_dimensional_or_non_numeric_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="one-dimensional"):
        ind.rsi(np.ones((3, 20)))
    with pytest.raises(ValueError, match="one-dimensional"):
        ind.sma(5.0, 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="real numbers"):
        ind.ema(["a", "b"], 2)


# --------------------------------------------------------------------------- RSI by hand


def test_rsi_hand_computed_wilder_example() -> None:
    """RSI(14) on 16 prices, worked out with exact fractions.

    prices : 100 102 101 104 102 103 104 103 105 102 103 105 104 105 106 104
    changes:     +2  -1  +3  -2  +1  +1  -1  +2  -3  +1  +2  -1  +1  +1  -2

    First 14 changes (index 1..14):
      gains  = 2 + 3 + 1 + 1 + 2 + 1 + 2 + 1 + 1 = 14  -> avg_gain = 14/14 = 1
      losses = 1 + 2 + 1 + 3 + 1             = 8   -> avg_loss = 8/14  = 4/7
      RSI[14] = 100 * avg_gain / (avg_gain + avg_loss) = 100 * 1 / (11/7) = 700/11
              = 63.6363...   (RS = 7/4, 100 - 100/(1 + 7/4) = 100 - 400/11 = 700/11)
    Change 15 is -2 (gain 0, loss 2); Wilder smoothing avg = (avg * 13 + x) / 14:
      avg_gain = (1 * 13 + 0) / 14       = 13/14
      avg_loss = (4/7 * 13 + 2) / 14     = (52/7 + 14/7) / 14 = 66/98 = 33/49
      RSI[15] = 100 * (13/14) / (13/14 + 33/49) = 100 * (91/98) / (157/98) = 9100/157
              = 57.9617...
    """
    prices = [100, 102, 101, 104, 102, 103, 104, 103, 105, 102, 103, 105, 104, 105, 106, 104]
    changes = [b - a for a, b in itertools.pairwise(prices)]
    assert changes == [2, -1, 3, -2, 1, 1, -1, 2, -3, 1, 2, -1, 1, 1, -2]

    expected_14 = Fraction(700, 11)
    expected_15 = Fraction(9100, 157)
    # Re-derive the fractions from the written-out arithmetic, as a check on the docstring.
    g14, l14 = Fraction(14, 14), Fraction(8, 14)
    assert 100 * g14 / (g14 + l14) == expected_14
    g15, l15 = (g14 * 13 + 0) / 14, (l14 * 13 + 2) / 14
    assert (g15, l15) == (Fraction(13, 14), Fraction(33, 49))
    assert 100 * g15 / (g15 + l15) == expected_15

    out = ind.rsi(prices, 14)
    assert np.isnan(out[:14]).all()
    assert out[14] == pytest.approx(float(expected_14), abs=1e-12)
    assert out[15] == pytest.approx(float(expected_15), abs=1e-12)

    r = StreamingRSI(14)
    streamed = [r.update(p) for p in prices]
    assert all(math.isnan(v) for v in streamed[:14])
    assert streamed[14] == pytest.approx(float(expected_14), abs=1e-12)
    assert streamed[15] == pytest.approx(float(expected_15), abs=1e-12)


def wilder_rsi_reference(close: FloatArray, period: int) -> FloatArray:
    """Independent Wilder RSI: simple-average seed, then alpha = 1/period smoothing.

    Written from the textbook definition (RSI = 100 - 100 / (1 + RS)), sharing no code with
    the module under test.
    """
    out = np.full(close.shape, np.nan)
    if close.size <= period:
        return out
    delta = np.diff(close)
    gains = np.where(delta > 0, delta, 0.0)
    losses = np.where(delta < 0, -delta, 0.0)
    avg_gain = gains[:period].mean()
    avg_loss = losses[:period].mean()

    def value(g: float, loss: float) -> float:
        if g + loss == 0.0:
            return 0.0  # TA-Lib's convention for a flat window
        if loss == 0.0:
            return 100.0
        return 100.0 - 100.0 / (1.0 + g / loss)

    out[period] = value(avg_gain, avg_loss)
    for i in range(period, delta.size):
        avg_gain = (avg_gain * (period - 1) + gains[i]) / period
        avg_loss = (avg_loss * (period - 1) + losses[i]) / period
        out[i + 1] = value(avg_gain, avg_loss)
    return out


@pytest.mark.parametrize("period", [2, 3, 14, 30])
def test_rsi_matches_independent_numpy_reference(period: int) -> None:
    x = random_walk(5_000, 10 + period)
    ours = ind.rsi(x, period)
    ref = wilder_rsi_reference(x, period)
    assert_close_after_warmup(ref, ours, atol=1e-9)


def test_rsi_edge_values_follow_talib() -> None:
    flat = [5.0] * 30
    assert ind.rsi(flat, 14)[14:].tolist() == [0.0] * 16  # TA-Lib: 0, not 50 or NaN
    rising = [float(i) for i in range(30)]
    assert ind.rsi(rising, 14)[14:].tolist() == [100.0] * 16
    r = StreamingRSI(14)
    assert [r.update(v) for v in flat][14:] == [0.0] * 16


# --------------------------------------------------------------------------- EMA/MACD details


def test_ema_is_seeded_with_the_sma_of_the_first_period_values() -> None:
    x = random_walk(50, 11)
    e = ind.ema(x, 10)
    assert e[9] == pytest.approx(float(np.mean(x[:10])), abs=1e-12)
    alpha = 2.0 / 11.0
    assert e[10] == pytest.approx(e[9] + alpha * (x[10] - e[9]), abs=1e-12)


def test_macd_fast_ema_starts_at_the_slow_ema_bar() -> None:
    """TA-Lib seeds the fast EMA with the SMA of the `fast` prices ending at bar slow-1."""
    fast, slow, signal = 12, 26, 9
    x = random_walk(400, 12)
    line, sig, hist = ind.macd(x, fast, slow, signal)
    start = slow - 1
    fast_ema = ind.ema(x[slow - fast :], fast)  # its bar fast-1 is bar slow-1 of x
    slow_ema = ind.ema(x, slow)
    manual_line = fast_ema[fast - 1 :] - slow_ema[start:]
    lb = ind.macd_lookback(fast, slow, signal)
    np.testing.assert_allclose(line[lb:], manual_line[signal - 1 :], rtol=0, atol=1e-12)
    manual_signal = ind.ema(manual_line, signal)
    np.testing.assert_allclose(sig[lb:], manual_signal[signal - 1 :], rtol=0, atol=1e-12)
    np.testing.assert_allclose(hist[lb:], (line - sig)[lb:], rtol=0, atol=1e-12)
    # The "obvious" alternative (fast EMA run from bar fast-1) is measurably different.
    naive_line = (ind.ema(x, fast) - ind.ema(x, slow))[lb:]
    assert np.max(np.abs(naive_line - line[lb:])) > 1e-6


# --------------------------------------------------------------------------- streaming == batch

LONG_N = 20_000
ATOL = 1e-9


@pytest.fixture(scope="module")
def long_series() -> FloatArray:
    """20,000-step random walk around 100 (the magnitude the 1e-9 tolerance refers to)."""
    return random_walk(LONG_N, 2024)


@pytest.mark.parametrize("period", [2, 5, 14, 21, 100])
def test_streaming_rsi_matches_batch(long_series: FloatArray, period: int) -> None:
    streamed = stream_all(StreamingRSI(period), long_series)
    batch = ind.rsi(long_series, period)
    assert leading_nans(streamed) == leading_nans(batch) == period
    assert_close_after_warmup(batch, streamed, ATOL)


@pytest.mark.parametrize("period", [1, 2, 7, 20, 200])
def test_streaming_sma_and_ema_match_batch(long_series: FloatArray, period: int) -> None:
    for cls, fn in ((StreamingSMA, ind.sma), (StreamingEMA, ind.ema)):
        streamed = stream_all(cls(period), long_series)
        batch = fn(long_series, period)
        assert leading_nans(streamed) == leading_nans(batch) == period - 1
        assert_close_after_warmup(batch, streamed, ATOL)


@pytest.mark.parametrize(
    ("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5), (3, 10, 1), (2, 2, 1), (26, 26, 9)]
)
def test_streaming_macd_matches_batch(
    long_series: FloatArray, fast: int, slow: int, signal: int
) -> None:
    streamed = stream_all(StreamingMACD(fast, slow, signal), long_series)
    assert streamed.shape == (LONG_N, 3)
    for i, batch in enumerate(ind.macd(long_series, fast, slow, signal)):
        assert leading_nans(streamed[:, i]) == leading_nans(batch) == (slow - 1) + (signal - 1)
        assert_close_after_warmup(batch, streamed[:, i], ATOL)


@pytest.mark.parametrize(("period", "k"), [(2, 2.0), (20, 2.0), (50, 1.5), (20, 0.0)])
def test_streaming_bollinger_matches_batch(long_series: FloatArray, period: int, k: float) -> None:
    streamed = stream_all(StreamingBollinger(period, k), long_series)
    assert streamed.shape == (LONG_N, 3)
    for i, batch in enumerate(ind.bollinger(long_series, period, k)):
        assert leading_nans(streamed[:, i]) == leading_nans(batch) == period - 1
        assert_close_after_warmup(batch, streamed[:, i], ATOL)


def test_streaming_bollinger_is_accurate_at_bitcoin_prices() -> None:
    """Prices ~42,000 with a small spread: the case where E[x²] - mean² loses digits.

    Compared with numpy's two-pass mean/std of every window (not with TA-Lib, whose own
    sum-of-squares formula is the less accurate one here). One ulp of 42,000 is 7.3e-12.
    """
    period = 20
    x = random_walk(LONG_N, 7, start=42_000.0, step=0.5)
    streamed = stream_all(StreamingBollinger(period, 1.0), x)
    windows = np.lib.stride_tricks.sliding_window_view(x, period)
    mid = windows.mean(axis=1)
    std = windows.std(axis=1)  # ddof=0: population std, like TA-Lib
    assert std.min() < 0.5  # really a small spread
    np.testing.assert_allclose(streamed[period - 1 :, 1], mid, rtol=0, atol=3e-11)
    np.testing.assert_allclose(streamed[period - 1 :, 0] - mid, std, rtol=0, atol=3e-11)
    # And within TA-Lib's own rounding error of TA-Lib's result.
    upper, _, _ = ind.bollinger(x, period, 1.0)
    np.testing.assert_allclose(streamed[period - 1 :, 0], upper[period - 1 :], rtol=1e-13)


@pytest.mark.parametrize("position", range(10))
def test_outlier_is_forgotten_as_soon_as_it_leaves_the_window(position: int) -> None:
    """A 1e15 bad tick must not leave rounding residue behind once it is out of the window.

    Checked on *every* bar after it left, for every phase of the periodic recompute, so the
    immediate (cancellation-triggered) rebuild is what is being tested.
    """
    period = 10
    sma, bb = StreamingSMA(period), StreamingBollinger(period, 2.0)
    head = [1.0 + 0.001 * i for i in range(period + position)]
    tail = [2.0 + 0.001 * i for i in range(2 * period)]
    series = [*head, 1e15, *tail]
    for i, v in enumerate(series):
        sma.update(v)
        upper, middle, _ = bb.update(v)
        outlier_age = i - len(head)  # 0 on the outlier's own bar
        if outlier_age >= period:  # it has left the window
            window = series[i - period + 1 : i + 1]
            exact_mean = math.fsum(window) / period
            assert sma.value == pytest.approx(exact_mean, rel=1e-15, abs=0)
            assert middle == pytest.approx(exact_mean, rel=1e-15, abs=0)
            assert upper - middle == pytest.approx(2.0 * float(np.std(window)), rel=1e-9)


def test_constant_series_gives_zero_band_width() -> None:
    bb = StreamingBollinger(5, 2.0)
    out = [bb.update(42_000.12) for _ in range(30)]
    assert out[-1] == (42_000.12, 42_000.12, 42_000.12)
    upper, middle, lower = ind.bollinger([42_000.12] * 30, 5, 2.0)
    assert upper[-1] == middle[-1] == lower[-1] == pytest.approx(42_000.12, rel=1e-15)


# --------------------------------------------------------------------------- state round trip

Factory = Callable[[], Any]
FACTORIES: list[tuple[str, Factory]] = [
    ("rsi", lambda: StreamingRSI(14)),
    ("sma", lambda: StreamingSMA(20)),
    ("ema", lambda: StreamingEMA(20)),
    ("macd", lambda: StreamingMACD(12, 26, 9)),
    ("bollinger", lambda: StreamingBollinger(20, 2.0)),
]


@pytest.mark.parametrize(("name", "factory"), FACTORIES, ids=[n for n, _ in FACTORIES])
@pytest.mark.parametrize("cut", [0, 1, 5, 19, 26, 33, 34, 777, 1500])
def test_state_round_trip_continues_identically(name: str, factory: Factory, cut: int) -> None:
    x = random_walk(2_000, 99).tolist()
    original = factory()
    for v in x[:cut]:
        original.update(v)
    # Strict JSON (no NaN/Infinity tokens) is what a database column or file will hold.
    blob = json.dumps(original.state(), allow_nan=False)
    restored = type(original).from_state(json.loads(blob))
    assert restored.state() == original.state()
    assert restored.ready == original.ready
    same_nan_value = np.array_equal(
        np.asarray(restored.value, float), np.asarray(original.value, float), equal_nan=True
    )
    assert same_nan_value
    a = stream_all(original, x[cut:])
    b = stream_all(restored, x[cut:])
    np.testing.assert_array_equal(a, b)  # bit-identical continuation (NaNs equal too)
    uninterrupted = stream_all(factory(), x)
    np.testing.assert_array_equal(b, uninterrupted[cut:])


@pytest.mark.parametrize(("name", "factory"), FACTORIES, ids=[n for n, _ in FACTORIES])
def test_from_state_rejects_bad_states(name: str, factory: Factory) -> None:
    obj = factory()
    for v in random_walk(60, 1):
        obj.update(float(v))
    cls = type(obj)
    good = obj.state()
    assert good["kind"] == name
    with pytest.raises(ValueError, match="expected"):
        cls.from_state({**good, "kind": "something-else"})
    with pytest.raises(ValueError, match="version"):
        cls.from_state({**good, "version": 999})
    with pytest.raises(ValueError, match="missing field 'value'"):
        cls.from_state({k: v for k, v in good.items() if k != "value"})
    with pytest.raises(ValueError):
        cls.from_state({**good, "value": "high"})
    with pytest.raises(ValueError, match="must be a mapping"):
        cls.from_state([("kind", name)])  # type: ignore[arg-type]


def test_from_state_rejects_inconsistent_fields() -> None:
    good = StreamingRSI(14).state()
    with pytest.raises(ValueError, match="period"):
        StreamingRSI.from_state({**good, "period": 1})
    with pytest.raises(ValueError, match="count"):
        StreamingRSI.from_state({**good, "count": 16})
    with pytest.raises(ValueError, match="prev"):
        StreamingRSI.from_state({**good, "count": 3})  # count > 0 but no previous close
    sma = StreamingSMA(3)
    with pytest.raises(ValueError, match="window"):
        StreamingSMA.from_state({**sma.state(), "window": [1.0, 2.0, 3.0, 4.0]})
    macd = StreamingMACD().state()
    with pytest.raises(ValueError, match="slow_ema"):
        StreamingMACD.from_state({**macd, "slow_ema": {"count": 26, "sum": 0.0, "ema": None}})


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("bad", [0, 1, -3, 100_001, 14.0, 14.5, True, "14", None])
def test_rsi_period_validation(bad: object) -> None:
    with pytest.raises(ValueError, match=r"period must be an int in \[2, 100000\]"):
        ind.rsi([1.0, 2.0, 3.0], bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"period must be an int in \[2, 100000\]"):
        StreamingRSI(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, 100_001, 2.0, False])
def test_sma_ema_period_validation(bad: object) -> None:
    for fn in (ind.sma, ind.ema):
        with pytest.raises(ValueError, match=r"period must be an int in \[1, 100000\]"):
            fn([1.0, 2.0], bad)  # type: ignore[arg-type]
    for cls in (StreamingSMA, StreamingEMA):
        with pytest.raises(ValueError, match=r"period must be an int in \[1, 100000\]"):
            cls(bad)  # type: ignore[arg-type]


def test_numpy_integer_periods_are_accepted() -> None:
    x = random_walk(100, 8)
    np.testing.assert_array_equal(ind.rsi(x, np.int64(14)), ind.rsi(x, 14))  # type: ignore[arg-type]
    assert StreamingSMA(np.int32(5)).period == 5  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1, 26, 9), r"fast must be an int in \[2, 100000\]"),
        ((12, 100_001, 9), r"slow must be an int in \[2, 100000\]"),
        ((12, 26, 0), r"signal must be an int in \[1, 100000\]"),
        ((12, 26, 9.0), r"signal must be an int"),
        ((26, 12, 9), r"fast \(26\) must be <= slow \(12\)"),
    ],
)
def test_macd_argument_validation(args: tuple[Any, Any, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ind.macd([1.0] * 50, *args)
    with pytest.raises(ValueError, match=message):
        StreamingMACD(*args)


@pytest.mark.parametrize(
    ("period", "k", "message"),
    [
        (1, 2.0, r"period must be an int in \[2, 100000\]"),
        (20.0, 2.0, r"period must be an int"),
        (20, -1.0, r"k must be a real number"),
        (20, math.nan, r"k must be a real number"),
        (20, math.inf, r"k must be a real number"),
        (20, 1e38, r"k must be a real number"),
        (20, "2", r"k must be a real number"),
    ],
)
def test_bollinger_argument_validation(period: object, k: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ind.bollinger([1.0] * 50, period, k)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        StreamingBollinger(period, k)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "factory"), FACTORIES, ids=[n for n, _ in FACTORIES])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_streaming_rejects_non_finite_values_without_changing_state(
    name: str, factory: Factory, bad: float
) -> None:
    obj = factory()
    for v in random_walk(50, 2):
        obj.update(float(v))
    before = obj.state()
    with pytest.raises(ValueError, match="finite"):
        obj.update(bad)
    assert obj.state() == before


def test_streaming_accepts_ints_and_decimals() -> None:
    ints = stream_all_raw(StreamingEMA(3), [100 + i for i in range(10)])
    decimals = stream_all_raw(StreamingEMA(3), [Decimal(100 + i) / 3 * 3 for i in range(10)])
    np.testing.assert_array_equal(ints, decimals)
    assert not np.isnan(ints[2:]).any()


# --------------------------------------------------------------------------- properties


@settings(max_examples=200, deadline=None)
@given(
    prices=st.lists(
        st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False),
        min_size=0,
        max_size=120,
    ),
    period=st.integers(min_value=2, max_value=30),
)
def test_rsi_is_bounded_and_streaming_agrees(prices: list[float], period: int) -> None:
    batch = ind.rsi(prices, period)
    assert batch.shape == (len(prices),)
    defined = batch[~np.isnan(batch)]
    assert np.all((defined >= 0.0) & (defined <= 100.0))
    streamed = stream_all(StreamingRSI(period), prices)
    assert streamed.shape == batch.shape
    np.testing.assert_array_equal(np.isnan(streamed), np.isnan(batch))
    assert np.all((streamed[~np.isnan(streamed)] >= 0.0) & (streamed[~np.isnan(streamed)] <= 100))


@settings(max_examples=200, deadline=None)
@given(
    value=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False),
    n=st.integers(min_value=1, max_value=80),
    period=st.integers(min_value=1, max_value=40),
)
def test_moving_averages_of_a_constant_are_the_constant(value: float, n: int, period: int) -> None:
    series = [value] * n
    expected = np.full(max(n - period + 1, 0), value)
    tol = 1e-12 * abs(value)
    np.testing.assert_allclose(ind.sma(series, period)[period - 1 :], expected, rtol=0, atol=tol)
    np.testing.assert_allclose(ind.ema(series, period)[period - 1 :], expected, rtol=0, atol=tol)
    streamed = stream_all(StreamingSMA(period), series)[period - 1 :]
    np.testing.assert_allclose(streamed, expected, rtol=0, atol=tol)


# --------------------------------------------------------------------------- sample data


def _load_script(name: str) -> ModuleType:
    """Import a file from scripts/ (not a package) as a module."""
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_scripts_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sample_rows() -> list[dict[str, str]]:
    with (ROOT / "samples" / "synthetic_btcusdt_1h.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_sample_csv_is_up_to_date_with_its_generator() -> None:
    script = _load_script("make_sample_ohlcv")
    committed = (ROOT / "samples" / "synthetic_btcusdt_1h.csv").read_bytes()
    assert script.render_csv().encode("utf-8") == committed
    assert len(committed) < 150_000


def test_sample_csv_invariants(sample_rows: list[dict[str, str]]) -> None:
    assert len(sample_rows) == 2_000
    assert list(sample_rows[0]) == ["time", "open", "high", "low", "close", "volume"]
    assert sample_rows[0]["time"] == "2024-01-01T00:00:00Z"
    assert sample_rows[1]["time"] == "2024-01-01T01:00:00Z"
    assert sample_rows[-1]["time"] == "2024-03-24T07:00:00Z"  # 1,999 hours later
    for row in sample_rows:
        o, h, lo, c = (float(row[k]) for k in ("open", "high", "low", "close"))
        assert h >= max(o, c) and lo <= min(o, c) and lo > 0
        assert float(row["volume"]) > 0
        assert len(row["close"].split(".")[1]) == 2 and len(row["volume"].split(".")[1]) == 4


def test_sample_csv_has_several_rsi_30_70_round_trips(sample_rows: list[dict[str, str]]) -> None:
    close = np.array([float(r["close"]) for r in sample_rows])
    r = ind.rsi(close, 14)
    in_position, round_trips = False, 0
    for prev, cur in itertools.pairwise(r[14:]):
        if not in_position and prev >= 30 > cur:
            in_position = True
        elif in_position and prev <= 70 < cur:
            in_position, round_trips = False, round_trips + 1
    assert round_trips >= 3


def test_sample_script_cli_out_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = _load_script("make_sample_ohlcv")
    target = tmp_path / "x.csv"
    assert script.main(["--out", str(target), "--bars", "5", "--seed", "1"]) == 0
    assert script.main(["--bars", "5", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert target.read_text(encoding="utf-8") == printed
    rows = list(csv.reader(io.StringIO(printed)))
    assert rows[0] == ["time", "open", "high", "low", "close", "volume"]
    assert len(rows) == 6
