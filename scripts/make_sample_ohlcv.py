"""Generate the deterministic, synthetic sample OHLCV file ``samples/synthetic_btcusdt_1h.csv``.

Regenerate (from the repository root; both forms write identical bytes)::

    python scripts/make_sample_ohlcv.py --out samples/synthetic_btcusdt_1h.csv
    python scripts/make_sample_ohlcv.py > samples/synthetic_btcusdt_1h.csv

These are not market prices (the name says so); `tradebot data download` fetches real candles.
Why a synthetic file: demos and tests need realistic-looking candles without network access
or exchange data licences, and they need the *same* candles on every machine. The series is
a geometric random walk from 42,000 driven by a seeded numpy RNG (PCG64), split into
regimes (trending up, trending down, choppy; calm or volatile) so that an RSI(14) 30/70
strategy triggers several complete trades. Format: header
``time,open,high,low,close,volume``, hourly bars with ISO-8601 UTC times
(``2024-01-01T00:00:00Z``), prices rounded to 2 decimals and volume to 4, with
``low <= min(open, close) <= max(open, close) <= high`` guaranteed after rounding.
"""

from __future__ import annotations

import argparse
import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

START_PRICE = 42_000.0
START_TIME = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_BARS = 2_000
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "synthetic_btcusdt_1h.csv"
DEFAULT_SEED = 3  # picked for 7 RSI(14) 30/70 round trips, range ~33k..68k

# (hourly log-drift, hourly volatility) per regime kind; chosen so trends push RSI(14) past
# 70 / below 30 and choppy stretches bring it back.
REGIMES: tuple[tuple[float, float], ...] = (
    (0.0010, 0.0050),  # steady bull
    (-0.0010, 0.0050),  # steady bear
    (0.0000, 0.0040),  # calm chop
    (0.0000, 0.0100),  # volatile chop
    (0.0020, 0.0080),  # euphoric rally
    (-0.0020, 0.0080),  # capitulation
)
BULLISH, BEARISH = frozenset({0, 4}), frozenset({1, 5})
# Steer the walk back towards the start price: once it is more than this far away (in log
# terms, about -22%/+28%), regimes that would push it further out are not drawn.
LOG_BAND = 0.25


def make_ohlcv(bars: int = DEFAULT_BARS, seed: int = DEFAULT_SEED) -> list[tuple[str, ...]]:
    """Return ``bars`` rows of ``(time, open, high, low, close, volume)`` as strings.

    Rows are formatted here (not in the writer) so callers — including the test that checks
    the committed sample is up to date — get exactly the bytes that end up in the file.
    """
    if bars < 1:
        raise ValueError(f"bars must be >= 1, got {bars}")
    rng = np.random.default_rng(seed)

    # Regime schedule: consecutive segments of 60..220 bars; the same kind never repeats
    # twice in a row, so the market visibly changes character.
    log_ret = np.empty(bars)
    vol = np.empty(bars)
    pos, last_kind, level = 0, -1, 0.0  # level = log(price / START_PRICE)
    while pos < bars:
        kind = int(rng.integers(len(REGIMES)))
        too_high = level > LOG_BAND and kind in BULLISH
        too_low = level < -LOG_BAND and kind in BEARISH
        if kind == last_kind or too_high or too_low:
            continue
        end = min(pos + int(rng.integers(60, 221)), bars)
        mu, sigma = REGIMES[kind]
        log_ret[pos:end] = mu + sigma * rng.standard_normal(end - pos)
        vol[pos:end] = sigma
        level += float(log_ret[pos:end].sum())
        pos, last_kind = end, kind

    close = START_PRICE * np.exp(np.cumsum(log_ret))
    # Open = previous close plus a tiny gap (crypto trades 24/7, so gaps are small).
    prev_close = np.concatenate(([START_PRICE], close[:-1]))
    open_ = prev_close * np.exp(0.0005 * rng.standard_normal(bars))
    # Wicks extend beyond the body by a half-normal amount proportional to the volatility.
    body_hi = np.maximum(open_, close)
    body_lo = np.minimum(open_, close)
    high = body_hi * np.exp(np.abs(rng.standard_normal(bars)) * vol * 0.6)
    low = body_lo * np.exp(-np.abs(rng.standard_normal(bars)) * vol * 0.6)
    # Volume: lognormal base, larger on big moves and in volatile regimes.
    volume = (
        rng.lognormal(mean=6.0, sigma=0.4, size=bars)
        * (1.0 + 40.0 * np.abs(log_ret))
        * (vol / 0.005)
    )

    rows: list[tuple[str, ...]] = []
    for i in range(bars):
        o, c = round(float(open_[i]), 2), round(float(close[i]), 2)
        # Round first, then enforce the invariants on the rounded numbers.
        h = max(round(float(high[i]), 2), o, c)
        lo = min(round(float(low[i]), 2), o, c)
        t = (START_TIME + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append((t, f"{o:.2f}", f"{h:.2f}", f"{lo:.2f}", f"{c:.2f}", f"{volume[i]:.4f}"))
    return rows


def render_csv(bars: int = DEFAULT_BARS, seed: int = DEFAULT_SEED) -> str:
    """Return the whole CSV document (header + rows, ``\\n`` line endings)."""
    buf = io.StringIO()
    buf.write("time,open,high,low,close,volume\n")
    for row in make_ohlcv(bars, seed):
        buf.write(",".join(row))
        buf.write("\n")
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        help=f"write here (the bundled sample: {SAMPLE.relative_to(SAMPLE.parents[1])}) "
        "instead of standard output",
    )
    parser.add_argument("--bars", type=int, default=DEFAULT_BARS, help="number of hourly bars")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="numpy RNG seed")
    args = parser.parse_args(argv)
    text = render_csv(args.bars, args.seed)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        # newline="" so Windows does not turn "\n" into "\r\n" and change the bytes.
        with args.out.open("w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
