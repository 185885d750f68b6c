"""Price series: the bars of one bot's symbol at one interval, as strategies and charts see them.

Bars come from the prices a bot's own alerts carry (SPEC §5): an alert with `interval` and
`bar_time` closes that bar; a price without `bar_time` updates the forming bar. A broker's
candles can fill the same series. Memory is bounded: a series keeps its last `capacity` closed
bars; the table `price_bars` is the source of truth and refills a series after a restart.

Intervals are what TradingView's `{{interval}}` writes, up to one month (SPEC §5). The accepted
grammar (ASCII, surrounding blanks ignored, at most 4 digits, leading zeros allowed):

    minutes   N, Nm, Nmin        1 ≤ N ≤ 1440        → "N"      (TradingView: 1, 15, 60, 240)
    hours     NH, Nh             1 ≤ N ≤ 24          → "N*60"   (a trader's 1h, 4h)
    seconds   NS, Ns             1 ≤ N ≤ 59          → "NS"     (15S)
    days      ND, Nd, D          1 ≤ N ≤ 31          → "ND"     (1D, 3D)
    weeks     NW, Nw, W          1 ≤ N ≤ 4           → "NW"     (1W)
    months    1M, M                                  → "1M"     (a lower-case m is minutes)

Months beyond one (3M, 12M), tick and range charts (1T, 1R), zero, signs, fractions, non-ASCII
digits and anything longer are refused with a ValueError saying what is accepted; nothing else
is ever raised, whatever the input. Normalized names are at most 4 characters.

No bar opens in the future: a bar whose open time is more than `MAX_FUTURE` (5 minutes of
clock skew, as SPEC §5 allows `time` and `bar_time`) after now is refused by `close_bar`
(`future`), never taken by `update_forming`, `load` or `extend`, so one such price cannot make
every later bar of the series "late".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

DEFAULT_CAPACITY = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MONDAY_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # TradingView's weekly bars open on Monday
MAX_FUTURE = timedelta(minutes=5)  # clock skew allowed to a bar's open time (SPEC §5)

# count (optional, at most 4 ASCII digits) and unit (optional: minutes)
_INTERVAL = re.compile(r"([0-9]{0,4})(S|MIN|M|H|D|W)?", re.ASCII | re.IGNORECASE)
# The normalized names: what series, storage and every other caller use.
_NORMAL = re.compile(r"([1-9][0-9]{0,3})([SDWM]?)", re.ASCII)
_LIMITS = {"S": 59, "": 1440, "H": 24, "D": 31, "W": 4, "M": 1}
_UNIT_SECONDS = {"S": 1, "": 60, "D": 86400, "W": 7 * 86400}
_ACCEPTED = (
    "must be a TradingView bar length up to one month (minutes 1-1440 such as 1, 15, 60, 240; "
    "seconds 1S-59S; hours 1H-24H; days 1D-31D; weeks 1W-4W; or 1M)"
)


def normalize_interval(raw: object) -> str:
    """TradingView's name for an interval: `60` for `1h`/`60m`, `1D` for `D`, `15S`, `1M`...

    Total: any input gives a normalized name (see the module docstring for the grammar) or a
    ValueError naming what is accepted.
    """
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f"{_ACCEPTED}, got a {type(raw).__name__}")
    if isinstance(raw, int):
        if 1 <= raw <= _LIMITS[""]:
            return str(raw)
        raise ValueError(f"{_ACCEPTED}, got {raw if abs(raw) < 10**12 else 'a huge number'}")
    given = raw.strip()
    shown = repr(given[:16]) + ("…" if len(given) > 16 else "")
    match = _INTERVAL.fullmatch(given) if given.isascii() and len(given) <= 8 else None
    if match is None or not given:
        raise ValueError(f"{_ACCEPTED}, got {shown}")
    digits, suffix = match.group(1), match.group(2) or ""
    if suffix == "m" or suffix.upper() == "MIN":
        unit = ""  # "15m" is minutes; "1M" is a month
    else:
        unit = suffix.upper()
    if not digits and unit in ("", "H", "S"):
        raise ValueError(f"{_ACCEPTED}, got {shown}")  # a bare "m", "h" or "s" says no length
    count = int(digits) if digits else 1
    if not 1 <= count <= _LIMITS[unit]:
        raise ValueError(f"{_ACCEPTED}, got {shown}")
    if unit == "H":
        return str(count * 60)
    return f"{count}{unit}"


def is_interval(text: object) -> bool:
    """Whether `text` is a normalized interval name (what a series is stored under)."""
    if not isinstance(text, str):
        return False
    try:
        return normalize_interval(text) == text
    except ValueError:
        return False


def _parts(interval: str) -> tuple[int, str]:
    """Count and unit of an interval, normalizing it first (ValueError if it is not one)."""
    normal = normalize_interval(interval)
    match = _NORMAL.fullmatch(normal)
    assert match is not None
    return int(match.group(1)), match.group(2)


def interval_seconds(interval: str) -> int | None:
    """Length of an interval in seconds; None for a month (its length varies).

    ValueError for anything `normalize_interval` refuses."""
    count, unit = _parts(interval)
    if unit == "M":
        return None
    return count * _UNIT_SECONDS[unit]


def floor_time(at: datetime, interval: str) -> datetime:
    """Open time of the bar of `interval` that contains `at` (UTC, as TradingView aligns bars).

    ValueError for a bad interval or a time whose bar would open before year 1."""
    count, unit = _parts(interval)
    at = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    if unit == "M":
        return datetime(at.year, at.month, 1, tzinfo=UTC)
    seconds = count * _UNIT_SECONDS[unit]
    origin = MONDAY_EPOCH if unit == "W" else EPOCH
    elapsed = (at - origin) // timedelta(seconds=1)
    try:
        return origin + timedelta(seconds=elapsed - elapsed % seconds)
    except OverflowError:
        raise ValueError(f"no {interval} bar opens at {at:%Y-%m-%d %H:%M:%S}") from None


def bar_end(open_time: datetime, interval: str) -> datetime:
    """When a bar that opened at `open_time` closes (ValueError past year 9999)."""
    count, unit = _parts(interval)
    try:
        if unit != "M":
            return open_time + timedelta(seconds=count * _UNIT_SECONDS[unit])
        months = open_time.year * 12 + open_time.month - 1 + count
        return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"a {interval} bar opening at {open_time} ends past year 9999") from None


def future_limit(now: datetime | None = None) -> datetime:
    """The latest open time a bar may have now: `now` plus the allowed clock skew."""
    return (now or datetime.now(UTC)) + MAX_FUTURE


@dataclass(frozen=True, slots=True)
class Bar:
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = Decimal(0)
    closed: bool = True

    def merged(self, price: Decimal) -> Bar:
        """This bar with one more trade price in it."""
        return replace(self, high=max(self.high, price), low=min(self.low, price), close=price)


BarEvent = Literal["closed", "replaced", "late", "forming", "stale", "future"]


class CandleSource(Protocol):
    """Where closed candles come from besides alerts (a ccxt exchange, say)."""

    async def fetch_candles(
        self, symbol: str, interval: str, since: datetime | None, limit: int
    ) -> list[Bar]:
        """Closed bars of `symbol` at `interval` opening at or after `since`, oldest first."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PriceSeries:
    """The last `capacity` closed bars of one symbol at one interval, and the forming bar.

    Closes are also kept in a numpy buffer twice the capacity long, so `closes` is a view (no
    copy) and appending is O(1) amortized: when the buffer is full, its newer half moves down.
    `clock` tells the time bars are judged against (no bar opens after now + `MAX_FUTURE`).
    """

    __slots__ = ("_bars", "_buf", "_end", "capacity", "clock", "forming", "interval", "symbol")

    def __init__(
        self,
        symbol: str,
        interval: str,
        capacity: int = DEFAULT_CAPACITY,
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2 bars")
        if not is_interval(interval):
            raise ValueError(f"not a normalized interval: {str(interval)[:16]!r}")
        self.symbol = symbol
        self.interval = interval
        self.capacity = capacity
        self.clock = clock
        self._bars: list[Bar] = []
        self._buf = np.empty(2 * capacity, dtype=np.float64)
        self._end = 0
        self.forming: Bar | None = None

    # ------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._bars)

    @property
    def bars(self) -> list[Bar]:
        """Closed bars, oldest first (a copy)."""
        return list(self._bars)

    @property
    def last(self) -> Bar | None:
        return self._bars[-1] if self._bars else None

    @property
    def closes(self) -> npt.NDArray[np.float64]:
        """Closes of the closed bars, oldest first: a read-only view, valid until the next
        change of the series."""
        view = self._buf[self._end - len(self._bars) : self._end]
        view.flags.writeable = False
        return view

    def in_future(self, open_time: datetime) -> bool:
        """Whether a bar opening at `open_time` would open after now + `MAX_FUTURE`."""
        return open_time > future_limit(self.clock())

    # ------------------------------------------------------------ writing

    def _append(self, bar: Bar) -> None:
        if len(self._bars) == self.capacity:
            del self._bars[0]
        self._bars.append(bar)
        if self._end == len(self._buf):
            keep = len(self._bars) - 1
            self._buf[:keep] = self._buf[self._end - keep : self._end]
            self._end = keep
        self._buf[self._end] = float(bar.close)
        self._end += 1

    def close_bar(
        self,
        open_time: datetime,
        close: Decimal,
        *,
        open: Decimal | None = None,
        high: Decimal | None = None,
        low: Decimal | None = None,
        volume: Decimal | None = None,
    ) -> tuple[BarEvent, Bar]:
        """Close the bar opening at `open_time` with `close`.

        Returns what happened: `closed` (a new bar), `replaced` (the last bar closed again: its
        close is corrected), `late` (older than the last bar: not taken into memory) or
        `future` (opening after now + `MAX_FUTURE`: not taken either).
        Open/high/low come from the forming bar of that time when there is one, else from the
        given values, else the close.
        """
        forming = self.forming if self.forming and self.forming.open_time == open_time else None
        last = self.last
        if last is not None and open_time == last.open_time:
            base: Bar | None = last
        else:
            base = forming
        o = open if open is not None else (base.open if base else close)
        h = high if high is not None else (base.high if base else close)
        lo = low if low is not None else (base.low if base else close)
        bar = Bar(
            open_time=open_time,
            open=o,
            high=max(h, o, close),
            low=min(lo, o, close),
            close=close,
            volume=volume if volume is not None else (base.volume if base else Decimal(0)),
        )
        if self.in_future(open_time):
            return "future", bar
        if last is not None and open_time < last.open_time:
            return "late", bar
        if self.forming is not None and self.forming.open_time <= open_time:
            self.forming = None
        if last is not None and open_time == last.open_time:
            self._bars[-1] = bar
            self._buf[self._end - 1] = float(close)
            return "replaced", bar
        self._append(bar)
        return "closed", bar

    def update_forming(self, price: Decimal, at: datetime) -> tuple[BarEvent, Bar | None]:
        """A price without `bar_time`: fold it into the forming bar of its time.

        When the price belongs to a later bar than the forming one, the forming bar is closed
        first (`closed`, returning it): bars built from ticks alone still complete. A price for
        a bar already closed is `stale`, one timed after now + `MAX_FUTURE` is `future`; both
        change nothing. ValueError for a time no bar of the interval can hold (before year 1).
        """
        open_time = floor_time(at, self.interval)
        if self.in_future(open_time):
            return "future", None
        last = self.last
        if last is not None and open_time <= last.open_time:
            return "stale", None
        rolled: Bar | None = None
        if self.forming is not None and self.forming.open_time < open_time:
            rolled = replace(self.forming, closed=True)
            self._append(rolled)
            self.forming = None
        if self.forming is None:
            self.forming = Bar(open_time, price, price, price, price, closed=False)
        else:
            self.forming = self.forming.merged(price)
        return ("closed", rolled) if rolled is not None else ("forming", self.forming)

    def load(self, bars: Iterable[Bar]) -> None:
        """Replace the contents with stored bars (oldest first; an unclosed last bar is the
        forming one). Bars opening after now + `MAX_FUTURE` are left out."""
        self._bars = []
        self._end = 0
        self.forming = None
        limit = future_limit(self.clock())
        for bar in bars:
            if bar.open_time > limit:
                continue
            if bar.closed:
                if self._bars and bar.open_time <= self._bars[-1].open_time:
                    continue
                self._append(bar)
            else:
                self.forming = bar
        if self.forming is not None and self._bars:
            if self.forming.open_time <= self._bars[-1].open_time:
                self.forming = None

    def extend(self, bars: Iterable[Bar]) -> list[Bar]:
        """Append closed bars newer than the last one (from storage or a candle source);
        return those taken. Bars opening after now + `MAX_FUTURE` are left out."""
        taken = []
        limit = future_limit(self.clock())
        for bar in bars:
            last = self.last
            if not bar.closed or bar.open_time > limit:
                continue
            if last is not None and bar.open_time <= last.open_time:
                continue
            self._append(bar)
            taken.append(bar)
            if self.forming is not None and self.forming.open_time <= bar.open_time:
                self.forming = None
        return taken


def interval_label(interval: str) -> str:
    """How a trader says it: `60` → `1h`, `15` → `15m`, `1D` stays."""
    if interval.isascii() and interval.isdigit():
        minutes = int(interval)
        if minutes % 60 == 0:
            return f"{minutes // 60}h"
        return f"{minutes}m"
    return interval
