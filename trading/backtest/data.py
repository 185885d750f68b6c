"""OHLCV input for the backtester: a CSV file with a header, a pandas DataFrame, or stored bars.

CSV columns: `time,open,high,low,close,volume` (SPEC §7); `time` is the bar's open time, ISO-8601
(`2024-01-01T00:00:00Z`, an offset, or naive meaning UTC) or epoch seconds (milliseconds are
recognised by their size). Column names are matched without regard to case, and `timestamp`,
`date` or `datetime` are accepted for `time`; `volume` may be missing. Values may be separated by
`;` instead of `,` (as spreadsheets in many locales save CSV). A file whose times all decrease
(newest first, as many exports list them) is read in time order; any other disorder, a repeated
time, or a bar whose high is below its low is refused naming its line.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from trading.alerts import parse_time
from trading.series import Bar

FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.int64]

TIME_NAMES = ("time", "timestamp", "date", "datetime", "open_time")
PRICE_COLUMNS = ("open", "high", "low", "close")


class DataError(ValueError):
    """The OHLCV input is unusable; the message names the row or column."""


@dataclass(frozen=True, slots=True, eq=False)
class Ohlcv:
    """Bars as arrays: `time` in epoch seconds (bar open), prices and volume as floats."""

    time: TimeArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __len__(self) -> int:
        return len(self.close)

    def __post_init__(self) -> None:
        n = len(self.close)
        for name in ("time", "open", "high", "low", "volume"):
            if len(getattr(self, name)) != n:
                raise DataError(f"column {name} has {len(getattr(self, name))} values, close {n}")
        if n == 0:
            raise DataError("no bars")
        prices = np.concatenate([self.open, self.high, self.low, self.close])
        if not np.isfinite(prices).all() or (prices <= 0).any():
            row = _first_bad_row(self)
            raise DataError(f"row {row}: prices must be finite numbers above zero")
        if (self.high < self.low).any():
            row = int(np.flatnonzero(self.high < self.low)[0])
            raise DataError(
                f"row {row + 1}: high {self.high[row]:g} is below low {self.low[row]:g}"
            )
        if n > 1 and (np.diff(self.time) <= 0).any():
            row = int(np.flatnonzero(np.diff(self.time) <= 0)[0]) + 2
            raise DataError(
                f"row {row}: times must increase from row to row (or all decrease: newest first)"
            )

    def datetime_at(self, i: int) -> datetime:
        return datetime.fromtimestamp(int(self.time[i]), tz=UTC)

    def slice(self, start: int, stop: int | None = None) -> Ohlcv:
        s = slice(start, stop)
        return Ohlcv(
            self.time[s], self.open[s], self.high[s], self.low[s], self.close[s], self.volume[s]
        )


def _first_bad_row(data: Ohlcv) -> int:
    for name in PRICE_COLUMNS:
        values = getattr(data, name)
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
        if bad.size:
            return int(bad[0]) + 1
    return 0


def from_arrays(
    time: Sequence[Any] | npt.ArrayLike,
    open: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike | None = None,
) -> Ohlcv:
    """Bars from columns; `time` as epoch seconds, datetimes, numpy datetime64 or text."""
    closes = np.ascontiguousarray(close, dtype=np.float64)
    return Ohlcv(
        time=_times(time),
        open=np.ascontiguousarray(open, dtype=np.float64),
        high=np.ascontiguousarray(high, dtype=np.float64),
        low=np.ascontiguousarray(low, dtype=np.float64),
        close=closes,
        volume=(
            np.zeros(len(closes))
            if volume is None
            else np.ascontiguousarray(volume, dtype=np.float64)
        ),
    )


def _times(values: Any) -> TimeArray:
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[s]").astype(np.int64)
    if arr.dtype.kind in "iuf":
        seconds = arr.astype(np.float64)
        if seconds.size and np.nanmax(np.abs(seconds)) > 1e11:  # milliseconds
            seconds = seconds / 1000
        return np.floor(seconds).astype(np.int64)
    return np.array([_epoch(v, i + 1) for i, v in enumerate(arr.tolist())], dtype=np.int64)


def _epoch(value: Any, row: int) -> int:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return math.floor(moment.timestamp())
    try:
        return math.floor(parse_time(str(value).strip()).timestamp())
    except ValueError as exc:
        raise DataError(f"row {row}: time {exc}") from None


def _iso_fast(texts: list[str]) -> TimeArray | None:
    """numpy's C parser for the common `YYYY-MM-DDTHH:MM:SS[Z]` form; None if it does not fit."""
    if not texts or not all(len(t) in (19, 20) and t[10] in "T " for t in (texts[0], texts[-1])):
        return None
    try:
        stripped = [t[:-1] if t.endswith("Z") else t for t in texts]
        if any(len(t) != 19 for t in stripped):
            return None
        return np.array(stripped, dtype="datetime64[s]").astype(np.int64)
    except ValueError:
        return None


def read_csv(source: str | Path | IO[str]) -> Ohlcv:
    """Bars from a CSV file (path or open text file) with a header.

    A plain file is parsed by numpy's C reader (about 2 s for a million bars); anything it
    cannot read goes through the `csv` module, whose errors name the line.
    """
    if isinstance(source, str | Path):
        try:
            return _read_fast(Path(source)) or _read_path(Path(source))
        except OSError as exc:
            raise DataError(f"cannot read {source}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise DataError(_not_utf8(Path(source))) from None
    return _read(source)


def _not_utf8(path: Path) -> str:
    """The first line that is not UTF-8 (a file saved as Latin-1, Windows-1252 or UTF-16)."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start : exc.start + 1].hex()
                return f"line {number}: not UTF-8 text (byte 0x{byte}); save the file as UTF-8"
    return "not UTF-8 text; save the file as UTF-8"


def _read_path(path: Path) -> Ohlcv:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return _read(handle)


def _delimiter(header: str) -> str:
    """`;` when the header is split by semicolons and has no comma, else `,`."""
    return ";" if ";" in header and "," not in header else ","


def _newest_first(times: TimeArray) -> bool:
    return len(times) > 1 and bool((np.diff(times) < 0).all())


def _read_fast(path: Path) -> Ohlcv | None:
    """numpy's loadtxt for well-formed files; None (use the careful reader) otherwise."""
    with path.open(encoding="utf-8-sig") as handle:
        first = handle.readline()
    delimiter = _delimiter(first)
    header = [name.strip().lower() for name in first.split(delimiter)]
    columns = {name: i for i, name in enumerate(header)}
    time_col = next((columns[name] for name in TIME_NAMES if name in columns), None)
    if time_col is None or any(name not in columns for name in PRICE_COLUMNS):
        return None
    wanted = [columns[name] for name in PRICE_COLUMNS]
    if "volume" in columns:
        wanted.append(columns["volume"])
    options: dict[str, Any] = {
        "delimiter": delimiter,
        "skiprows": 1,
        "comments": None,
        "ndmin": 1,
    }
    try:
        with path.open(encoding="utf-8-sig") as handle:
            numbers = np.loadtxt(handle, usecols=wanted, dtype=np.float64, **options)
        with path.open(encoding="utf-8-sig") as handle:
            stamps = np.loadtxt(handle, usecols=time_col, dtype="U40", **options)
        if numbers.ndim != 2 or len(numbers) == 0:
            return None
        if stamps[0][:1].isspace() or stamps[-1][-1:].isspace():
            stamps = np.strings.strip(stamps)
        if stamps[0].isdigit() and np.strings.isdigit(stamps).all():
            times = _times(stamps.astype(np.int64))
        else:
            lengths = np.strings.str_len(stamps)
            zulu = np.strings.endswith(stamps, "Z")
            plain = (lengths == 19) & ~zulu
            if not ((plain | ((lengths == 20) & zulu)).all()):
                return None  # offsets, fractions: the careful reader
            stamps = np.where(zulu, np.strings.slice(stamps, 0, 19), stamps)
            times = stamps.astype("datetime64[s]").astype(np.int64)
        if _newest_first(times):
            times, numbers = times[::-1], numbers[::-1]
        volume = numbers[:, 4] if numbers.shape[1] == 5 else np.zeros(len(numbers))
        return Ohlcv(
            np.ascontiguousarray(times),
            np.ascontiguousarray(numbers[:, 0]),
            np.ascontiguousarray(numbers[:, 1]),
            np.ascontiguousarray(numbers[:, 2]),
            np.ascontiguousarray(numbers[:, 3]),
            np.ascontiguousarray(volume),
        )
    except (ValueError, IndexError, TypeError, UnicodeError):
        return None  # DataError is a ValueError: the careful reader words it per line


def _read(handle: IO[str]) -> Ohlcv:
    """The careful reader: the csv module, and an error naming the file's line."""
    try:
        return _read_rows(handle)
    except DataError as exc:
        # Rows of the data are lines of the file after the header (and are read in file order).
        text = str(exc)
        if text.startswith("row "):
            number, _, rest = text[4:].partition(":")
            raise DataError(f"line {int(number) + 1}:{rest}") from None
        raise


def _read_rows(handle: IO[str]) -> Ohlcv:
    first = handle.readline()
    if not first.strip():
        raise DataError("the CSV file is empty")
    reader = csv.reader(itertools.chain([first], handle), delimiter=_delimiter(first))
    header = [name.strip().lower() for name in next(reader)]
    columns = {name: i for i, name in enumerate(header)}
    time_col = next((columns[name] for name in TIME_NAMES if name in columns), None)
    if time_col is None:
        raise DataError(f"no time column: the header needs one of {', '.join(TIME_NAMES)}")
    missing = [name for name in PRICE_COLUMNS if name not in columns]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}: expected {_expected()}")
    rows = [row for row in reader if row]  # csv gives [] for an empty line
    if not rows:
        raise DataError("the CSV file has a header but no bars")
    width = len(header)
    if min(map(len, rows)) < width:
        n, row = next((n, row) for n, row in enumerate(rows, start=2) if len(row) < width)
        raise DataError(f"line {n}: {len(row)} values, the header has {width}")
    texts = [row[time_col].strip() for row in rows]
    if all(t.isdigit() for t in (texts[0], texts[-1])) and all(t.isdigit() for t in texts):
        times = _times(np.array([int(t) for t in texts], dtype=np.int64))
    else:
        fast = _iso_fast(texts)
        times = fast if fast is not None else _times(texts)

    def column(name: str) -> FloatArray:
        index = columns[name]
        try:
            return np.array([row[index] for row in rows], dtype=np.float64)
        except ValueError:
            for n, row in enumerate(rows, start=2):
                try:
                    float(row[index])
                except ValueError:
                    raise DataError(
                        f"line {n}: {name} must be a number, got {row[index][:20]!r}"
                    ) from None
            raise

    volume = column("volume") if "volume" in columns else np.zeros(len(rows))
    opens, highs, lows, closes = (column(name) for name in PRICE_COLUMNS)
    if not _newest_first(times):
        return Ohlcv(times, opens, highs, lows, closes, volume)
    # Newest first: checked in the file's order (so an error names the file's line), then turned.
    Ohlcv(-times, opens, highs, lows, closes, volume)
    columns_in_time_order = (times, opens, highs, lows, closes, volume)
    return Ohlcv(*(np.ascontiguousarray(values[::-1]) for values in columns_in_time_order))


def _expected() -> str:
    return "time,open,high,low,close,volume"


def from_dataframe(frame: Any) -> Ohlcv:
    """Bars from a pandas DataFrame with open/high/low/close[/volume] columns (any case) and
    the time in a `time`-like column or in a DatetimeIndex. pandas is not a dependency of the
    product: anything with `.columns`, `__getitem__` and `.index` works."""
    names = {str(name).lower(): name for name in frame.columns}
    missing = [name for name in PRICE_COLUMNS if name not in names]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}")
    time_name = next((names[n] for n in TIME_NAMES if n in names), None)
    if time_name is not None:
        times = np.asarray(frame[time_name])
    else:
        times = np.asarray(frame.index)
        if times.dtype.kind == "M" and getattr(frame.index, "tz", None) is not None:
            times = np.asarray(frame.index.tz_convert("UTC").tz_localize(None))
    if times.dtype == object and times.size and hasattr(times[0], "to_pydatetime"):
        times = np.array([t.to_pydatetime() for t in times], dtype=object)

    def col(name: str) -> FloatArray:
        return np.asarray(frame[names[name]], dtype=np.float64)

    return from_arrays(
        times,
        col("open"),
        col("high"),
        col("low"),
        col("close"),
        col("volume") if "volume" in names else None,
    )


def from_bars(bars: Iterable[Bar]) -> Ohlcv:
    """Bars from a stored price series (closed bars only)."""
    closed = [bar for bar in bars if bar.closed]
    if not closed:
        raise DataError("no closed bars")
    return from_arrays(
        [math.floor(bar.open_time.timestamp()) for bar in closed],
        [float(bar.open) for bar in closed],
        [float(bar.high) for bar in closed],
        [float(bar.low) for bar in closed],
        [float(bar.close) for bar in closed],
        [float(bar.volume) for bar in closed],
    )


def to_csv(data: Ohlcv) -> str:
    """The bars as CSV text, times in ISO-8601 UTC (for samples and tests)."""
    out = io.StringIO()
    out.write(f"{_expected()}\n")
    columns = zip(
        data.time.tolist(),
        data.open.tolist(),
        data.high.tolist(),
        data.low.tolist(),
        data.close.tolist(),
        data.volume.tolist(),
        strict=True,
    )
    for when, *values in columns:
        stamp = datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.write(stamp + "," + ",".join(repr(v) for v in values) + "\n")
    return out.getvalue()
