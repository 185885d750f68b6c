"""Price series: the bars of one symbol at one interval, as strategies and charts see them.

Bars come from the prices alerts carry (SPEC §5): an alert with `interval` and `bar_time` closes
that bar; a price without `bar_time` updates the forming bar. A broker's candles can fill the
same series. Memory is bounded: a series keeps its last `capacity` closed bars; the table
`price_bars` is the source of truth and refills a series after a restart.

Intervals are named as TradingView's `{{interval}}` names them: minutes as a number (`1`, `60`,
`240`), seconds with `S` (`15S`), days/weeks/months with `D`/`W`/`M` (`1D`, `1W`, `1M`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

DEFAULT_CAPACITY = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MONDAY_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # TradingView's weekly bars open on Monday

_INTERVAL = re.compile(r"^(\d*)([SMHDW]?)$")
_UNIT_SECONDS = {"S": 1, "": 60, "H": 3600, "D": 86400, "W": 7 * 86400}


def normalize_interval(raw: str) -> str:
    """TradingView's name for an interval: `60` for `1h`/`60m`, `1D` for `D`, `15S`, `1M`...

    Raises ValueError naming what is accepted.
    """
    given = str(raw).strip()
    text = given.upper()
    if text.endswith("MIN"):
        text = text[:-3]
    elif len(text) > 1 and given.endswith("m") and text[:-1].isdigit():
        text = text[:-1]  # "15m" is minutes; "1M" is a month
    match = _INTERVAL.match(text)
    if not match or (not match.group(1) and not match.group(2)):
        raise ValueError(
            f"interval must be minutes (1, 15, 60), or a count with S, H, D, W or M "
            f"(15S, 4H, 1D, 1W, 1M), got {str(raw)[:16]!r}"
        )
    count = int(match.group(1) or 1)
    unit = match.group(2)
    if count <= 0:
        raise ValueError("interval must be positive")
    if unit == "H":
        return str(count * 60)
    if unit == "":
        return str(count)
    return f"{count}{unit}"


def interval_seconds(interval: str) -> int | None:
    """Length of a (normalized) interval in seconds; None for months (they vary)."""
    match = _INTERVAL.match(interval)
    if not match:
        raise ValueError(f"not a normalized interval: {interval!r}")
    count = int(match.group(1) or 1)
    unit = match.group(2)
    if unit == "M":
        return None
    return count * _UNIT_SECONDS[unit]


def floor_time(at: datetime, interval: str) -> datetime:
    """Open time of the bar of `interval` that contains `at` (UTC, as TradingView aligns bars)."""
    at = at.astimezone(UTC)
    seconds = interval_seconds(interval)
    if seconds is None:
        count = int(interval[:-1] or 1)
        months = at.year * 12 + at.month - 1
        months -= months % count
        return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)
    origin = MONDAY_EPOCH if interval.endswith("W") else EPOCH
    elapsed = int((at - origin).total_seconds())
    return origin + timedelta(seconds=elapsed - elapsed % seconds)


def bar_end(open_time: datetime, interval: str) -> datetime:
    """When a bar that opened at `open_time` closes."""
    seconds = interval_seconds(interval)
    if seconds is not None:
        return open_time + timedelta(seconds=seconds)
    count = int(interval[:-1] or 1)
    months = open_time.year * 12 + open_time.month - 1 + count
    return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)


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


BarEvent = Literal["closed", "replaced", "late", "forming", "stale"]


class CandleSource(Protocol):
    """Where closed candles come from besides alerts (a ccxt exchange, say)."""

    async def fetch_candles(
        self, symbol: str, interval: str, since: datetime | None, limit: int
    ) -> list[Bar]:
        """Closed bars of `symbol` at `interval` opening at or after `since`, oldest first."""
        ...


class PriceSeries:
    """The last `capacity` closed bars of one symbol at one interval, and the forming bar.

    Closes are also kept in a numpy buffer twice the capacity long, so `closes` is a view (no
    copy) and appending is O(1) amortized: when the buffer is full, its newer half moves down.
    """

    __slots__ = ("_bars", "_buf", "_end", "capacity", "forming", "interval", "symbol")

    def __init__(self, symbol: str, interval: str, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 2:
            raise ValueError("capacity must be at least 2 bars")
        self.symbol = symbol
        self.interval = interval
        self.capacity = capacity
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
        close is corrected), or `late` (older than the last bar: not taken into memory).
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
        a bar already closed is `stale` and changes nothing.
        """
        open_time = floor_time(at, self.interval)
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
        forming one)."""
        self._bars = []
        self._end = 0
        self.forming = None
        for bar in bars:
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
        return those taken."""
        taken = []
        for bar in bars:
            last = self.last
            if not bar.closed or (last is not None and bar.open_time <= last.open_time):
                continue
            self._append(bar)
            taken.append(bar)
            if self.forming is not None and self.forming.open_time <= bar.open_time:
                self.forming = None
        return taken


def interval_label(interval: str) -> str:
    """How a trader says it: `60` → `1h`, `15` → `15m`, `1D` stays."""
    if interval.isdigit():
        minutes = int(interval)
        if minutes % 60 == 0:
            return f"{minutes // 60}h"
        return f"{minutes}m"
    return interval
