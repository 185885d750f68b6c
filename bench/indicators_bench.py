"""Micro-benchmark: streaming RSI update cost vs. batch TA-Lib RSI.

Run with ``python -m bench.indicators_bench`` (from the repository root).

Why these two figures: a live bot calls :meth:`trading.streaming.StreamingRSI.update` once
per bar per symbol, so its per-call cost (target: well under 3 µs) bounds how many symbols
one process can follow; the batch figure is what a back-test or a chart pays for a whole
history, and shows how much the pure-Python streaming form costs relative to TA-Lib's C.
Each figure is the best of 3 runs (``time.perf_counter``), the usual way to filter out
scheduler noise in micro-benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import talib

from trading.indicators import rsi
from trading.streaming import StreamingRSI

N: int = 1_000_000
REPEATS: int = 3
PERIOD: int = 14


def _best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Best wall-clock time of ``repeats`` calls of ``fn``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _prices(n: int = N, seed: int = 0) -> np.ndarray:
    """A positive random walk around 100, deterministic so runs are comparable."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))


def run(n: int = N, repeats: int = REPEATS) -> dict[str, float]:
    """Measure and print the figures; return them for programmatic use.

    Keys: ``streaming_rsi_us_per_update`` (µs per :meth:`StreamingRSI.update`, including the
    call overhead a caller pays), ``batch_rsi_ms`` (``trading.indicators.rsi`` over ``n``
    values, i.e. validation + TA-Lib), ``talib_rsi_ms`` (raw ``talib.RSI``) and
    ``batch_rsi_ns_per_value``.
    """
    arr = _prices(n)
    values = arr.tolist()  # plain Python floats, as a live feed delivers them

    def streaming() -> None:
        update = StreamingRSI(PERIOD).update
        for v in values:
            update(v)

    stream_s = _best_of(streaming, repeats)
    batch_s = _best_of(lambda: rsi(arr, PERIOD), repeats)
    raw_s = _best_of(lambda: talib.RSI(arr, timeperiod=PERIOD), repeats)

    result = {
        "n": float(n),
        "streaming_rsi_us_per_update": stream_s / n * 1e6,
        "batch_rsi_ms": batch_s * 1e3,
        "talib_rsi_ms": raw_s * 1e3,
        "batch_rsi_ns_per_value": batch_s / n * 1e9,
    }
    print(
        f"streaming RSI({PERIOD}): {result['streaming_rsi_us_per_update']:.3f} µs/update "
        f"({n:,} updates, best of {repeats})"
    )
    print(
        f"batch RSI({PERIOD}) via trading.indicators.rsi: {result['batch_rsi_ms']:.2f} ms "
        f"for {n:,} values ({result['batch_rsi_ns_per_value']:.2f} ns/value)"
    )
    print(f"raw talib.RSI({PERIOD}): {result['talib_rsi_ms']:.2f} ms for {n:,} values")
    return result


if __name__ == "__main__":
    run()
