"""Incremental (streaming) indicators for live trading.

Why: recomputing a batch indicator over the whole history on every new candle is O(n) per
bar and allocates numpy arrays; a live bot only needs "the value for the bar that just
closed". Each class here consumes one value per :meth:`update` in O(1) using plain Python
floats, and follows :mod:`trading.indicators` (i.e. TA-Lib) definition for definition:

* the same warm-up: ``update`` returns ``math.nan`` for exactly as many bars as TA-Lib's
  output has leading NaNs (:func:`trading.indicators.rsi_lookback` etc.);
* the same seeding and arithmetic. RSI, EMA and MACD perform the same floating-point
  operations in the same order as TA-Lib's C code. They are still not always bit-identical:
  the TA-Lib build shipped in the ``ta-lib`` wheel lets the C compiler fuse
  ``(x - ema) * k + ema`` into one fused multiply-add (a single rounding), which pure Python
  before 3.13 cannot express, so the last bit differs now and then (observed: <= 6e-14
  absolute on values ~100 over 20,000 bars; the recursions are contractive, so such
  differences do not grow). SMA and Bollinger use a more accurate summation than TA-Lib
  (see below), so they differ from it in the last bits, by TA-Lib's own rounding error.

State persistence: ``state()`` returns a JSON-serializable dict (strict JSON: no NaN or
infinity, NaN is stored as ``None``; floats round-trip exactly through ``json`` because
Python writes the shortest repr) and ``Cls.from_state(d)`` rebuilds an object that
continues *identically* — a bot can persist indicator state on shutdown and resume after a
restart without replaying history.

Input values must be finite: ``update(nan)`` or ``update(inf)`` raises ``ValueError`` and
leaves the state untouched, because a single NaN would otherwise poison a recursive
average (RSI/EMA/MACD) forever. (The batch functions pass NaNs to TA-Lib instead.)

Numerical-stability choice for SMA and Bollinger (O(1) running sums, periodic exact
recompute): the window of ``period`` values is kept in a deque together with *shifted*
running sums ``S1 = sum(x - K)`` and ``S2 = sum((x - K)**2)`` updated in O(1) per bar, where
the shift ``K`` is the window mean at the last exact recompute. Then
``mean = K + S1/n`` and ``variance = S2/n - (S1/n)**2``. Because ``x - K`` is of the size of
the price *spread* rather than the price *level* (and exact, by Sterbenz's lemma, for
prices within a factor 2 of ``K``), this avoids the catastrophic cancellation of TA-Lib's
``E[x²] - mean²`` for prices like 42,000 with a spread of a few dollars. (A sliding
Welford update was tried first; it is *less* accurate here because every rounding error in
the running mean feeds into M2 to first order.) Running sums still accumulate rounding
over a long-lived process, so the sums are recomputed exactly from the window
(:func:`math.fsum`, with a fresh ``K``):

* every ``period`` updates, i.e. each time the window has fully turned over — O(period)
  once per ``period`` bars, amortized O(1) per bar — which bounds the drift to the
  rounding of at most ``period`` incremental steps and re-centres ``K`` on a trending
  price; and
* immediately when ``n * variance = S2 - S1²/n`` falls below 1e-4 of the largest ``S2``
  held since the last recompute. Rounding residue in the sums is proportional to that
  peak, so this keeps it below ~1e-12 × period of the variance. It is the signature of a
  huge value (a bad tick) having left the window, or of the shift ``K`` being far from
  the current values; rebuilding at once means an outlier is forgotten the moment it
  leaves the window. (Each trigger resets the peak, so back-to-back triggers need the
  variance to keep collapsing by another factor 10^4 each time, which finite doubles
  allow only a bounded number of times; ordinary data triggers it only on regime
  changes, e.g. 10 times when a volatile series turns flat.)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any, Final, Protocol, Self

from trading.indicators import (
    BOLLINGER_PERIOD_RANGE,
    MA_PERIOD_RANGE,
    RSI_PERIOD_RANGE,
    check_k,
    check_macd_periods,
    check_period,
)

__all__ = [
    "StreamingBollinger",
    "StreamingEMA",
    "StreamingIndicator",
    "StreamingMACD",
    "StreamingRSI",
    "StreamingSMA",
]

NAN: Final = math.nan
_NAN3: Final = (math.nan, math.nan, math.nan)
STATE_VERSION: Final = 1

# TA-Lib's TA_IS_ZERO / TA_IS_ZERO_OR_NEG threshold (0.00000000000001 in ta_utility.h).
# Reused so flat series give TA-Lib's answers (RSI 0, band width 0), not 50 or NaN.
_TA_EPSILON: Final = 1e-14


class StreamingIndicator(Protocol):
    """What every streaming indicator offers (for type hints in strategy code)."""

    def update(self, value: float) -> Any:
        """Consume the next bar's value; return the indicator for that bar."""
        ...

    @property
    def value(self) -> Any:
        """The value returned by the last :meth:`update` (NaN before any)."""
        ...

    @property
    def ready(self) -> bool:
        """True once the warm-up is over (``value`` is a number, not NaN)."""
        ...

    def state(self) -> dict[str, Any]:
        """A JSON-serializable snapshot for :meth:`from_state`."""
        ...


# --------------------------------------------------------------------------- helpers


def _finite(value: float) -> float:
    """Return ``value`` as a float; raise if it is NaN/inf (see module docstring)."""
    x = float(value)
    if x - x != 0.0:  # cheaper than math.isfinite; inf - inf and nan - nan are NaN
        raise ValueError(f"value must be a finite number, got {value!r}")
    return x


def _enc(x: float) -> float | None:
    """Encode a float for strict JSON: NaN becomes ``None``."""
    return None if x != x else x


def _dec(x: object, field: str) -> float:
    """Decode a float written by :func:`_enc` (``None`` means NaN)."""
    if x is None:
        return NAN
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise ValueError(f"state field {field!r} must be a number or null, got {x!r}")
    return float(x)


def _num(x: object, field: str) -> float:
    """Decode a float field that must be finite."""
    v = _dec(x, field)
    if not math.isfinite(v):
        raise ValueError(f"state field {field!r} must be a finite number, got {x!r}")
    return v


def _int(x: object, field: str, lo: int, hi: int) -> int:
    """Decode an int field within ``[lo, hi]``."""
    if isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi:
        raise ValueError(f"state field {field!r} must be an int in [{lo}, {hi}], got {x!r}")
    return x


def _floats(x: object, field: str, max_len: int) -> list[float]:
    """Decode a list of finite floats of length <= ``max_len``."""
    if not isinstance(x, list) or len(x) > max_len:
        raise ValueError(f"state field {field!r} must be a list of at most {max_len} numbers")
    return [_num(v, field) for v in x]


def _check_header(state: Mapping[str, Any], kind: str) -> None:
    """Reject a state dict written by another indicator or by an unknown format version."""
    if not isinstance(state, Mapping):
        raise ValueError(f"state must be a mapping, got {type(state).__name__}")
    if state.get("kind") != kind:
        raise ValueError(f"state is for {state.get('kind')!r}, expected {kind!r}")
    if state.get("version") != STATE_VERSION:
        raise ValueError(
            f"unsupported {kind} state version {state.get('version')!r} "
            f"(this code reads version {STATE_VERSION})"
        )


def _field(state: Mapping[str, Any], name: str) -> Any:
    """Fetch a required state field with a clear error when it is missing."""
    try:
        return state[name]
    except KeyError:
        raise ValueError(f"state is missing field {name!r}") from None


# --------------------------------------------------------------------------- RSI


class StreamingRSI:
    """Wilder RSI, one bar at a time; equal to ``talib.RSI`` up to rounding (~1e-13).

    Warm-up: the first ``period`` updates return NaN (the first bar has no change, then
    ``period`` changes are summed); the ``period + 1``-th update returns the first RSI,
    computed from the simple averages of those changes. Afterwards each average is
    Wilder-smoothed: ``avg = (avg * (period - 1) + change) / period``.
    """

    __slots__ = ("_count", "_gain", "_loss", "_period", "_pm1", "_prev", "_value")

    KIND: Final = "rsi"

    def __init__(self, period: int = 14) -> None:
        self._period = float(check_period("period", period, RSI_PERIOD_RANGE))
        self._pm1 = self._period - 1.0
        # Number of values seen, capped at period + 1 (then we are in the steady state).
        self._count = 0
        self._prev = NAN
        # During warm-up these are *sums* of gains/losses; afterwards Wilder averages.
        self._gain = 0.0
        self._loss = 0.0
        self._value = NAN

    @property
    def period(self) -> int:
        """The RSI period."""
        return int(self._period)

    @property
    def value(self) -> float:
        """RSI of the last bar (NaN during warm-up)."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once :attr:`value` is defined."""
        return self._count > self._period

    def update(self, value: float) -> float:
        """Add the next close; return the RSI for that bar (NaN during warm-up)."""
        x = float(value)
        if x - x != 0.0:  # NaN or infinity; see module docstring
            raise ValueError(f"value must be a finite number, got {value!r}")
        d = x - self._prev
        self._prev = x
        if self._count > self._period:
            # Steady state. Same operation order as TA-Lib: avg *= p-1; avg += d; avg /= p.
            p = self._period
            pm1 = self._pm1
            if d < 0.0:
                loss = (self._loss * pm1 - d) / p
                gain = (self._gain * pm1) / p
            else:
                loss = (self._loss * pm1) / p
                gain = (self._gain * pm1 + d) / p
            self._loss = loss
            self._gain = gain
        else:
            count = self._count + 1
            self._count = count
            if count == 1:  # first bar: no change yet
                return NAN
            if d < 0.0:
                self._loss -= d
            else:
                self._gain += d
            if count <= self._period:
                return NAN
            # count == period + 1: `period` changes summed; switch to averages.
            loss = self._loss / self._period
            gain = self._gain / self._period
            self._loss = loss
            self._gain = gain
        total = gain + loss
        out = 100.0 * (gain / total) if total >= _TA_EPSILON else 0.0
        self._value = out
        return out

    def state(self) -> dict[str, Any]:
        """JSON-serializable snapshot; see :meth:`from_state`."""
        return {
            "kind": self.KIND,
            "version": STATE_VERSION,
            "period": self.period,
            "count": self._count,
            "prev": _enc(self._prev),
            "gain": self._gain,
            "loss": self._loss,
            "value": _enc(self._value),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild an indicator from :meth:`state` output; it continues identically."""
        _check_header(state, cls.KIND)
        obj = cls(_field(state, "period"))
        p = obj.period
        obj._count = _int(_field(state, "count"), "count", 0, p + 1)
        obj._prev = _dec(_field(state, "prev"), "prev")
        obj._gain = _num(_field(state, "gain"), "gain")
        obj._loss = _num(_field(state, "loss"), "loss")
        obj._value = _dec(_field(state, "value"), "value")
        if (obj._count > 0) == math.isnan(obj._prev):
            raise ValueError("state field 'prev' is inconsistent with 'count'")
        if obj._gain < 0.0 or obj._loss < 0.0:
            raise ValueError("state fields 'gain' and 'loss' must be >= 0")
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(period={self.period}, value={self._value!r})"


# --------------------------------------------------------------------------- SMA


class _ShiftedWindow:
    """Sliding window with shifted running sums; see the module docstring for the why.

    ``s1 = sum(x - shift)`` and ``s2 = sum((x - shift)**2)`` over the window; ``shift`` is
    reset to the window mean at every exact recompute.
    """

    __slots__ = ("fresh", "n", "peak", "period", "s1", "s2", "shift", "window")

    # Rebuild when n * variance drops below this fraction of the peak s2 (module docstring).
    CANCELLATION: Final = 1e-4

    def __init__(self, period: int) -> None:
        self.n = period
        self.period = float(period)
        self.window: deque[float] = deque()
        self.shift = 0.0
        self.s1 = 0.0
        self.s2 = 0.0
        self.peak = 0.0  # max s2 since the last recompute (scale of the rounding residue)
        self.fresh = 0  # incremental updates since the last recompute

    def recompute(self) -> None:
        """Exact sums from the window, re-centred on the current mean."""
        w = self.window
        k = math.fsum(w) / self.period
        self.shift = k
        self.s1 = math.fsum([v - k for v in w])
        s2 = math.fsum([(v - k) * (v - k) for v in w])
        self.s2 = s2
        self.peak = s2
        self.fresh = 0

    def push(self, x: float) -> bool:
        """Add ``x`` (dropping the oldest value once full); return True if the window is full."""
        w = self.window
        w.append(x)
        if len(w) > self.n:
            old = w.popleft()
            fresh = self.fresh + 1
            if fresh >= self.n:
                self.recompute()
                return True
            a = x - self.shift
            b = old - self.shift
            s1 = self.s1 + (a - b)
            s2 = self.s2 + (a - b) * (a + b)
            peak = self.peak
            if s2 > peak:
                peak = s2
            # s2 - s1²/n is n * variance: if it is tiny next to the largest s2 held since
            # the last recompute, rounding residue could dominate it -> rebuild exactly.
            if s2 - s1 * s1 / self.period < peak * self.CANCELLATION:
                self.recompute()
                return True
            self.s1 = s1
            self.s2 = s2
            self.peak = peak
            self.fresh = fresh
            return True
        if len(w) == self.n:
            self.recompute()
            return True
        return False

    def mean(self) -> float:
        """Window mean."""
        return self.shift + self.s1 / self.period

    def variance(self) -> float:
        """Population variance of the window (may be a hair below 0 through rounding)."""
        m1 = self.s1 / self.period
        return self.s2 / self.period - m1 * m1

    def dump(self) -> dict[str, Any]:
        """Strict-JSON snapshot (floats are finite here: inputs are)."""
        return {
            "window": list(self.window),
            "shift": self.shift,
            "s1": self.s1,
            "s2": self.s2,
            "peak": self.peak,
            "fresh": self.fresh,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`dump` output, validating it."""
        self.window.extend(_floats(_field(state, "window"), "window", self.n))
        self.shift = _num(_field(state, "shift"), "shift")
        self.s1 = _num(_field(state, "s1"), "s1")
        self.s2 = _num(_field(state, "s2"), "s2")
        self.peak = _num(_field(state, "peak"), "peak")
        self.fresh = _int(_field(state, "fresh"), "fresh", 0, self.n)


class StreamingSMA:
    """Simple moving average, one bar at a time (matches ``talib.SMA`` to ~1e-14 relative).

    Warm-up: ``period - 1`` NaNs. Keeps the window in a deque with a shifted running sum,
    rebuilt exactly every ``period`` updates (see module docstring), so it does not drift
    in a long-running process.
    """

    __slots__ = ("_value", "_win")

    KIND: Final = "sma"

    def __init__(self, period: int) -> None:
        self._win = _ShiftedWindow(check_period("period", period, MA_PERIOD_RANGE))
        self._value = NAN

    @property
    def period(self) -> int:
        """The window length."""
        return self._win.n

    @property
    def value(self) -> float:
        """SMA of the last ``period`` values (NaN during warm-up)."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once :attr:`value` is defined."""
        return len(self._win.window) == self._win.n

    def update(self, value: float) -> float:
        """Add the next value; return the SMA for that bar (NaN during warm-up)."""
        win = self._win
        if not win.push(_finite(value)):
            return NAN
        out = win.mean()
        self._value = out
        return out

    def state(self) -> dict[str, Any]:
        """JSON-serializable snapshot; see :meth:`from_state`."""
        return {
            "kind": self.KIND,
            "version": STATE_VERSION,
            "period": self.period,
            **self._win.dump(),
            "value": _enc(self._value),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild an indicator from :meth:`state` output; it continues identically."""
        _check_header(state, cls.KIND)
        obj = cls(_field(state, "period"))
        obj._win.load(state)
        obj._value = _dec(_field(state, "value"), "value")
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(period={self.period}, value={self._value!r})"


# --------------------------------------------------------------------------- EMA


class _EMACore:
    """TA-Lib EMA arithmetic shared by :class:`StreamingEMA` and :class:`StreamingMACD`.

    Seed = plain left-to-right sum of the first ``period`` values divided by ``period``
    (TA-Lib's loop, so an identical seed); then ``ema = ((x - ema) * k) + ema`` with
    ``k = 2 / (period + 1)``.
    """

    __slots__ = ("count", "ema", "k", "n", "sum")

    def __init__(self, period: int) -> None:
        self.n = period
        self.k = 2.0 / (period + 1)
        self.count = 0  # values seen, capped at n
        self.sum = 0.0
        self.ema = NAN

    def push(self, x: float) -> float:
        """Add a value; return the EMA (NaN until ``n`` values were seen)."""
        if self.count >= self.n:
            ema = self.ema
            ema = ((x - ema) * self.k) + ema
            self.ema = ema
            return ema
        self.sum += x
        self.count += 1
        if self.count == self.n:
            self.ema = self.sum / self.n
            return self.ema
        return NAN

    def dump(self) -> dict[str, Any]:
        """Strict-JSON snapshot."""
        return {"count": self.count, "sum": self.sum, "ema": _enc(self.ema)}

    def load(self, d: object, field: str) -> None:
        """Restore from :meth:`dump` output, validating it."""
        if not isinstance(d, Mapping):
            raise ValueError(f"state field {field!r} must be a mapping")
        self.count = _int(_field(d, "count"), f"{field}.count", 0, self.n)
        self.sum = _num(_field(d, "sum"), f"{field}.sum")
        self.ema = _dec(_field(d, "ema"), f"{field}.ema")
        if (self.count == self.n) == math.isnan(self.ema):
            raise ValueError(f"state field '{field}.ema' is inconsistent with its count")


class StreamingEMA:
    """Exponential moving average, one bar at a time; equals ``talib.EMA`` up to rounding.

    Warm-up: ``period - 1`` NaNs; the ``period``-th update returns the SMA of the first
    ``period`` values (TA-Lib's seed), then ``ema += (x - ema) * 2 / (period + 1)``.
    """

    __slots__ = ("_core", "_value")

    KIND: Final = "ema"

    def __init__(self, period: int) -> None:
        self._core = _EMACore(check_period("period", period, MA_PERIOD_RANGE))
        self._value = NAN

    @property
    def period(self) -> int:
        """The EMA period."""
        return self._core.n

    @property
    def value(self) -> float:
        """EMA of the last bar (NaN during warm-up)."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once :attr:`value` is defined."""
        return self._core.count >= self._core.n

    def update(self, value: float) -> float:
        """Add the next value; return the EMA for that bar (NaN during warm-up)."""
        out = self._core.push(_finite(value))
        self._value = out
        return out

    def state(self) -> dict[str, Any]:
        """JSON-serializable snapshot; see :meth:`from_state`."""
        return {
            "kind": self.KIND,
            "version": STATE_VERSION,
            "period": self.period,
            "ema": self._core.dump(),
            "value": _enc(self._value),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild an indicator from :meth:`state` output; it continues identically."""
        _check_header(state, cls.KIND)
        obj = cls(_field(state, "period"))
        obj._core.load(_field(state, "ema"), "ema")
        obj._value = _dec(_field(state, "value"), "value")
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(period={self.period}, value={self._value!r})"


# --------------------------------------------------------------------------- MACD


class StreamingMACD:
    """MACD ``(macd, signal, hist)``, one bar at a time; equals ``talib.MACD`` up to rounding.

    TA-Lib starts *both* EMAs at bar ``slow - 1``: the slow EMA is seeded by the SMA of bars
    ``0 .. slow-1`` and the fast EMA by the SMA of bars ``slow-fast .. slow-1`` — the first
    ``slow - fast`` bars never reach the fast EMA. (Seeding the fast EMA at bar ``fast - 1``
    and running it on, the "obvious" approach, gives a different MACD whose error decays
    only geometrically.) The signal EMA is then seeded by the SMA of the first ``signal``
    MACD values, and — like TA-Lib — all three outputs stay NaN until that signal exists,
    i.e. for the first ``(slow - 1) + (signal - 1)`` bars.
    """

    __slots__ = ("_bars", "_fast", "_signal", "_skip", "_slow", "_value")

    KIND: Final = "macd"

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        f, s, g = check_macd_periods(fast, slow, signal)
        self._fast = _EMACore(f)
        self._slow = _EMACore(s)
        self._signal = _EMACore(g)
        self._skip = s - f  # leading bars the fast EMA never sees
        self._bars = 0  # bars seen, capped at skip (only needed to skip them)
        self._value: tuple[float, float, float] = _NAN3

    @property
    def periods(self) -> tuple[int, int, int]:
        """``(fast, slow, signal)``."""
        return self._fast.n, self._slow.n, self._signal.n

    @property
    def value(self) -> tuple[float, float, float]:
        """``(macd, signal, hist)`` of the last bar (NaNs during warm-up)."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once :attr:`value` is defined."""
        return self._signal.count >= self._signal.n

    def update(self, value: float) -> tuple[float, float, float]:
        """Add the next close; return ``(macd, signal, hist)`` for that bar."""
        x = _finite(value)
        slow = self._slow.push(x)
        if self._bars < self._skip:
            self._bars += 1
            return _NAN3
        line = self._fast.push(x) - slow
        if line != line:  # slow EMA still warming up
            return _NAN3
        sig = self._signal.push(line)
        if sig != sig:  # signal EMA still warming up
            return _NAN3
        out = (line, sig, line - sig)
        self._value = out
        return out

    def state(self) -> dict[str, Any]:
        """JSON-serializable snapshot; see :meth:`from_state`."""
        return {
            "kind": self.KIND,
            "version": STATE_VERSION,
            "fast": self._fast.n,
            "slow": self._slow.n,
            "signal": self._signal.n,
            "bars": self._bars,
            "fast_ema": self._fast.dump(),
            "slow_ema": self._slow.dump(),
            "signal_ema": self._signal.dump(),
            "value": [_enc(v) for v in self._value],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild an indicator from :meth:`state` output; it continues identically."""
        _check_header(state, cls.KIND)
        obj = cls(_field(state, "fast"), _field(state, "slow"), _field(state, "signal"))
        obj._bars = _int(_field(state, "bars"), "bars", 0, obj._skip)
        obj._fast.load(_field(state, "fast_ema"), "fast_ema")
        obj._slow.load(_field(state, "slow_ema"), "slow_ema")
        obj._signal.load(_field(state, "signal_ema"), "signal_ema")
        raw = _field(state, "value")
        if not isinstance(raw, list) or len(raw) != 3:
            raise ValueError("state field 'value' must be a list of 3 numbers or nulls")
        vals = [_dec(v, "value") for v in raw]
        obj._value = (vals[0], vals[1], vals[2])
        return obj

    def __repr__(self) -> str:
        f, s, g = self.periods
        return f"{type(self).__name__}(fast={f}, slow={s}, signal={g}, value={self._value!r})"


# --------------------------------------------------------------------------- Bollinger


class StreamingBollinger:
    """Bollinger Bands ``(upper, middle, lower)``, one bar at a time.

    Same definition as ``talib.BBANDS(matype=0)``: SMA middle band, ``k`` times the
    *population* standard deviation of the window, ``period - 1`` NaNs of warm-up, and a
    variance below 1e-14 counts as zero width. The variance comes from shifted running sums
    rebuilt exactly every ``period`` bars (module docstring explains why), so it is at least
    as accurate as TA-Lib's ``E[x²] - mean²``, and much more so for high prices with a small
    spread; the two agree to ~1e-12 relative for ordinary price series.
    """

    __slots__ = ("_k", "_value", "_win")

    KIND: Final = "bollinger"

    def __init__(self, period: int = 20, k: float = 2.0) -> None:
        self._win = _ShiftedWindow(check_period("period", period, BOLLINGER_PERIOD_RANGE))
        self._k = check_k(k)
        self._value: tuple[float, float, float] = _NAN3

    @property
    def period(self) -> int:
        """The window length."""
        return self._win.n

    @property
    def k(self) -> float:
        """Band width in standard deviations."""
        return self._k

    @property
    def value(self) -> tuple[float, float, float]:
        """``(upper, middle, lower)`` of the last bar (NaNs during warm-up)."""
        return self._value

    @property
    def ready(self) -> bool:
        """True once :attr:`value` is defined."""
        return len(self._win.window) == self._win.n

    def update(self, value: float) -> tuple[float, float, float]:
        """Add the next close; return ``(upper, middle, lower)`` for that bar."""
        win = self._win
        if not win.push(_finite(value)):
            return _NAN3
        mid = win.mean()
        var = win.variance()
        width = self._k * math.sqrt(var) if var >= _TA_EPSILON else 0.0
        out = (mid + width, mid, mid - width)
        self._value = out
        return out

    def state(self) -> dict[str, Any]:
        """JSON-serializable snapshot; see :meth:`from_state`."""
        return {
            "kind": self.KIND,
            "version": STATE_VERSION,
            "period": self.period,
            "k": self._k,
            **self._win.dump(),
            "value": [_enc(v) for v in self._value],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild an indicator from :meth:`state` output; it continues identically."""
        _check_header(state, cls.KIND)
        obj = cls(_field(state, "period"), _field(state, "k"))
        obj._win.load(state)
        raw = _field(state, "value")
        if not isinstance(raw, list) or len(raw) != 3:
            raise ValueError("state field 'value' must be a list of 3 numbers or nulls")
        vals = [_dec(v, "value") for v in raw]
        obj._value = (vals[0], vals[1], vals[2])
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(period={self.period}, k={self._k!r}, value={self._value!r})"
