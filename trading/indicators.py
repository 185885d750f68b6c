"""Batch technical indicators with TA-Lib's exact definitions.

Why this module exists: strategies, back-tests and charts must all see *the same* numbers,
and the de-facto reference for RSI/SMA/EMA/MACD/Bollinger is TA-Lib. Rather than
re-deriving the formulas (and their many subtly different seeding conventions), every
function here is a thin, validated wrapper around the matching ``talib`` function, so the
output is exactly what TA-Lib produces. The incremental (live) forms live in
:mod:`trading.streaming` and are tested against these.

Conventions shared by every function:

* Input: any 1-D sequence of real numbers (list, tuple, numpy array, ``Decimal`` values...),
  converted to a contiguous ``float64`` array because that is the only type TA-Lib accepts.
* Output: ``float64`` numpy array(s) of exactly the input's length; positions inside the
  warm-up (TA-Lib's "lookback") are ``NaN``. Empty input gives empty output.
* Arguments are validated *before* calling TA-Lib, with the same ranges TA-Lib accepts, so a
  bad period produces a ``ValueError`` naming the argument instead of TA-Lib's opaque
  ``TA_BAD_PARAM`` exception.
* ``NaN`` values in the input are passed through to TA-Lib unchanged (its Python wrapper
  skips *leading* NaNs, which makes chaining indicators work, e.g. ``rsi(sma(x, 5))``).

TA-Lib is imported inside each function, on first use: a server whose bots all trade on
webhook signals never loads it (nor pandas, which TA-Lib imports whenever it is installed).
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable, Iterator
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "BOLLINGER_K_MAX",
    "BOLLINGER_PERIOD_RANGE",
    "MACD_PERIOD_RANGE",
    "MACD_SIGNAL_RANGE",
    "MA_PERIOD_RANGE",
    "RSI_PERIOD_RANGE",
    "FloatArray",
    "bollinger",
    "bollinger_lookback",
    "ema",
    "ema_lookback",
    "macd",
    "macd_lookback",
    "rsi",
    "rsi_lookback",
    "sma",
    "sma_lookback",
]

FloatArray = npt.NDArray[np.float64]
"""A 1-D ``float64`` numpy array (the return type of every indicator)."""

# Parameter ranges accepted by TA-Lib (0.6+ C library); mirrored here so validation errors
# are raised by us with a readable message rather than by TA-Lib as TA_BAD_PARAM.
RSI_PERIOD_RANGE: Final = (2, 100_000)
MA_PERIOD_RANGE: Final = (1, 100_000)  # SMA and EMA accept period 1 (identity).
BOLLINGER_PERIOD_RANGE: Final = (2, 100_000)
MACD_PERIOD_RANGE: Final = (2, 100_000)  # fast and slow
MACD_SIGNAL_RANGE: Final = (1, 100_000)
BOLLINGER_K_MAX: Final = 3e37  # TA-Lib's bound on nbdevup / nbdevdn.


# --------------------------------------------------------------------------- validation


def check_period(name: str, value: object, bounds: tuple[int, int]) -> int:
    """Return ``value`` as an ``int`` if it is an integer within ``bounds`` (inclusive).

    Why so strict: a float period such as ``14.7`` would be silently truncated by TA-Lib and
    ``True`` would mean period 1; both are almost certainly caller bugs, so they are rejected.
    Numpy integers are accepted (they come out of configuration arrays naturally).
    """
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {value!r}")
    period = operator.index(value)
    if not lo <= period <= hi:
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {period}")
    return period


def check_k(value: object) -> float:
    """Return the Bollinger width multiplier as a float, rejecting nonsense.

    TA-Lib accepts negative multipliers (which swap the bands); we do not, because an
    "upper" band below the "lower" one would invert every band-based trading rule.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"k must be a real number in [0, {BOLLINGER_K_MAX:g}], got {value!r}")
    k = float(value)
    if not (math.isfinite(k) and 0.0 <= k <= BOLLINGER_K_MAX):
        raise ValueError(f"k must be a real number in [0, {BOLLINGER_K_MAX:g}], got {value!r}")
    return k


def check_macd_periods(fast: object, slow: object, signal: object) -> tuple[int, int, int]:
    """Validate MACD periods; ``fast`` must not exceed ``slow``.

    TA-Lib silently swaps ``fast`` and ``slow`` when ``fast > slow``; we raise instead so a
    transposed configuration is noticed rather than quietly "fixed".
    """
    f = check_period("fast", fast, MACD_PERIOD_RANGE)
    s = check_period("slow", slow, MACD_PERIOD_RANGE)
    g = check_period("signal", signal, MACD_SIGNAL_RANGE)
    if f > s:
        raise ValueError(f"fast ({f}) must be <= slow ({s})")
    return f, s, g


def _as_float64(values: Iterable[float] | npt.ArrayLike) -> FloatArray:
    """Convert the input into the contiguous 1-D float64 array TA-Lib requires.

    ``Decimal`` and other number types are converted through ``float``; anything that is not
    1-D (a scalar, a 2-D frame) is rejected because "one value per bar" is the contract.
    """
    if isinstance(values, Iterator):
        values = list(values)  # generators and iterators: numpy would make a 0-d object
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"close must be a sequence of real numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"close must be one-dimensional, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------- lookbacks


def rsi_lookback(period: int = 14) -> int:
    """Number of leading NaNs of :func:`rsi`: one bar for the first change, then ``period``."""
    return check_period("period", period, RSI_PERIOD_RANGE)


def sma_lookback(period: int) -> int:
    """Number of leading NaNs of :func:`sma`: the first full window ends at ``period - 1``."""
    return check_period("period", period, MA_PERIOD_RANGE) - 1


def ema_lookback(period: int) -> int:
    """Number of leading NaNs of :func:`ema` (same as SMA: the EMA is seeded by an SMA)."""
    return check_period("period", period, MA_PERIOD_RANGE) - 1


def macd_lookback(fast: int = 12, slow: int = 26, signal: int = 9) -> int:
    """Number of leading NaNs of :func:`macd`: ``(slow - 1) + (signal - 1)``."""
    _, s, g = check_macd_periods(fast, slow, signal)
    return (s - 1) + (g - 1)


def bollinger_lookback(period: int = 20) -> int:
    """Number of leading NaNs of :func:`bollinger`: ``period - 1``."""
    return check_period("period", period, BOLLINGER_PERIOD_RANGE) - 1


# --------------------------------------------------------------------------- indicators


def rsi(close: Iterable[float] | npt.ArrayLike, period: int = 14) -> FloatArray:
    """Relative Strength Index, TA-Lib definition (``talib.RSI``), in [0, 100].

    TA-Lib's RSI is Wilder's: the first average gain/loss is the *simple* average of the
    first ``period`` price changes (so the first value appears at index ``period``); after
    that each average is Wilder-smoothed, ``avg = (avg * (period - 1) + change) / period``
    (an EMA with alpha ``1/period``). ``RSI = 100 * avg_gain / (avg_gain + avg_loss)``,
    which equals the textbook ``100 - 100 / (1 + RS)``. TA-Lib returns 0 (not 50, not NaN)
    when both averages are zero (a flat series), because it tests the denominator against
    1e-14 before dividing.
    """
    p = check_period("period", period, RSI_PERIOD_RANGE)
    arr = _as_float64(close)
    if arr.size == 0:
        return arr.copy()
    import talib

    out: FloatArray = talib.RSI(arr, timeperiod=p)
    return out


def sma(close: Iterable[float] | npt.ArrayLike, period: int) -> FloatArray:
    """Simple moving average over the last ``period`` values (``talib.SMA``).

    First value at index ``period - 1``. TA-Lib keeps a running window total, so results can
    differ from ``np.mean`` of each window in the last few bits.
    """
    p = check_period("period", period, MA_PERIOD_RANGE)
    arr = _as_float64(close)
    if arr.size == 0:
        return arr.copy()
    import talib

    out: FloatArray = talib.SMA(arr, timeperiod=p)
    return out


def ema(close: Iterable[float] | npt.ArrayLike, period: int) -> FloatArray:
    """Exponential moving average, TA-Lib definition (``talib.EMA``).

    Smoothing factor ``alpha = 2 / (period + 1)``. TA-Lib seeds the EMA with the *SMA of the
    first ``period`` values* (placed at index ``period - 1``) instead of with the first
    price, so the first value equals ``sma(close, period)[period - 1]`` and later values
    follow ``ema = ema_prev + alpha * (price - ema_prev)``.
    """
    p = check_period("period", period, MA_PERIOD_RANGE)
    arr = _as_float64(close)
    if arr.size == 0:
        return arr.copy()
    import talib

    out: FloatArray = talib.EMA(arr, timeperiod=p)
    return out


def macd(
    close: Iterable[float] | npt.ArrayLike,
    fast: int = 12,
    slow: int = 26,
    signal: int = 9,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram, TA-Lib definition (``talib.MACD``).

    ``macd = EMA_fast - EMA_slow``, ``signal = EMA_signal(macd)``, ``hist = macd - signal``.
    TA-Lib specifics that make this differ from naive implementations:

    * Both EMAs start at the same bar, ``slow - 1``: the slow EMA is seeded by the SMA of the
      first ``slow`` prices, and the fast EMA by the SMA of the ``fast`` prices *ending at
      that bar* (prices before ``slow - fast`` never influence the fast EMA).
    * The signal EMA is seeded by the SMA of the first ``signal`` MACD values.
    * All three outputs are NaN for the first ``(slow - 1) + (signal - 1)`` bars (the MACD
      line too, although it is mathematically defined earlier).

    Raises ``ValueError`` if ``fast > slow`` (TA-Lib would silently swap them).
    """
    f, s, g = check_macd_periods(fast, slow, signal)
    arr = _as_float64(close)
    if arr.size == 0:
        return arr.copy(), arr.copy(), arr.copy()
    import talib

    line, sig, hist = talib.MACD(arr, fastperiod=f, slowperiod=s, signalperiod=g)
    return line, sig, hist


def bollinger(
    close: Iterable[float] | npt.ArrayLike,
    period: int = 20,
    k: float = 2.0,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bollinger Bands ``(upper, middle, lower)``, TA-Lib definition.

    Calls ``talib.BBANDS(nbdevup=k, nbdevdn=k, matype=0)``: ``middle`` is the SMA over
    ``period`` values and the width is ``k`` times the *population* standard deviation
    (divide by ``period``, not ``period - 1``) of the same window. First value at index
    ``period - 1``. TA-Lib clamps a variance below 1e-14 to a deviation of exactly 0.
    """
    p = check_period("period", period, BOLLINGER_PERIOD_RANGE)
    kk = check_k(k)
    arr = _as_float64(close)
    if arr.size == 0:
        return arr.copy(), arr.copy(), arr.copy()
    import talib

    upper, middle, lower = talib.BBANDS(arr, timeperiod=p, nbdevup=kk, nbdevdn=kk, matype=0)
    return upper, middle, lower
