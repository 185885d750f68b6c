"""Candles from an exchange into the backtester's CSV file (`tradebot data download`).

Through ccxt's `fetch_ohlcv` on the public API (no keys), page by page: each page asks for the
bars from the cursor on, and the cursor moves to the page's last bar plus one timeframe. Only
closed bars are written (the forming one would be wrong by the next run), oldest first, as
`time,open,high,low,close,volume` with ISO-8601 UTC times: what `read_csv` reads.

Resumable and safe to interrupt: a new file appears (renamed into place) with its first page,
then every page is appended as whole lines in one write. Run again with the same file and the
download continues after the file's last bar, so nothing is fetched or written twice; a partial
last line (a crash in the middle of a write) is cut off first.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from trading.errors import TradingError

HEADER = "time,open,high,low,close,volume"
PAGE_LIMIT = (
    1000  # bars asked per page; an exchange that gives fewer per page is paged all the same
)
RETRY_DELAYS = (1.0, 2.0, 4.0)  # seconds between attempts of a page that met a network error
TAIL_BYTES = 4096  # enough of the file's end for its last two lines

Progress = Callable[[int, int], None]  # (milliseconds covered, milliseconds to cover)


class DownloadError(TradingError):
    """A download that cannot go on; `option` names what the user gave wrong (`exchange`,
    `symbol`, `timeframe`, `since`, `until`, `out`), None when the exchange is at fault."""

    def __init__(self, option: str | None, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True, slots=True)
class CandleRequest:
    exchange: str  # a ccxt exchange id: binance, kraken...
    symbol: str  # BTCUSDT, BTC/USDT or BINANCE:BTCUSDT
    timeframe: str  # the exchange's timeframe name: 1m, 1h, 1d...
    since: datetime
    until: datetime | None = None  # None: up to now
    api_url: str = ""  # TRADEBOT_CCXT_API_URL: the exchange's API at another address
    limit: int = PAGE_LIMIT
    timeout_ms: int = 10_000


@dataclass(frozen=True, slots=True)
class DownloadSummary:
    path: Path
    market: str  # the exchange's name for the market: BTC/USDT
    added: int  # bars this run wrote
    total: int  # bars in the file now
    first: datetime | None  # the file's first and last bar
    last: datetime | None
    resumed_after: datetime | None  # the file's last bar before this run (None: a new file)
    starts_after_since: bool = False  # the file begins after --since (earlier bars are not added)


def parse_date(text: str, option: str) -> datetime:
    """`2024-01-01`, `2024-01-01T12:00`, `2024-01-01T12:00:00Z` or with an offset; naive is
    UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DownloadError(
            option, f"expected a date like 2024-01-01 or 2024-01-01T12:00:00Z, got {text!r}"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ms(moment: datetime) -> int:
    return math.floor(moment.timestamp() * 1000)


def _number(value: Any) -> str:
    """A price as plain decimal text (no exponent): 0.00001, 42000.5."""
    text = format(Decimal(repr(float(value))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _line(row: Sequence[Any]) -> str:
    opened, *values = row[:6]
    volume = values[4] if len(values) > 4 and values[4] is not None else 0
    return ",".join([_iso(int(opened)), *(_number(v) for v in values[:4]), _number(volume)])


# ---------------------------------------------------------------- the file


@dataclass(frozen=True, slots=True)
class _FileState:
    exists_with_bars: bool
    first_ms: int | None = None
    last_ms: int | None = None


def _parse_time(line: bytes, path: Path) -> int:
    stamp = line.split(b",", 1)[0].decode("ascii", "replace").strip()
    try:
        return _ms(parse_date(stamp, "out"))
    except DownloadError:
        raise DownloadError(
            "out", f"{path}: a line starts with {stamp[:30]!r}, not a time; choose another file"
        ) from None


def _inspect(path: Path, timeframe_ms: int) -> _FileState:
    """What `path` already holds; cuts a partial last line (an interrupted write) off."""
    if not path.exists():
        return _FileState(False)
    if path.is_dir():
        raise DownloadError("out", f"{path} is a folder")
    try:
        with path.open("rb+") as handle:
            first = handle.readline()
            if not first:
                return _FileState(False)
            if first.rstrip(b"\r\n").decode("utf-8", "replace").strip().lower() != HEADER:
                raise DownloadError(
                    "out",
                    f"{path} exists and is not a candle file (its first line is "
                    f"{first[:60].decode('utf-8', 'replace').strip()!r}); choose another file",
                )
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read()
            if not tail.endswith(b"\n"):  # a line cut short: drop it, it is fetched again
                cut = tail.rfind(b"\n")
                handle.truncate(size - len(tail) + cut + 1)
                tail = tail[: cut + 1]
            lines = [line for line in tail.split(b"\n") if line.strip()]
            handle.seek(len(first))
            second = handle.readline()
    except OSError as exc:
        raise DownloadError("out", f"cannot read {path}: {exc.strerror}") from None
    if not second.strip() or lines[-1].rstrip(b"\r").lower() == HEADER.encode():
        return _FileState(False)
    last = _parse_time(lines[-1], path)
    first_ms = _parse_time(second, path)
    if len(lines) >= 2 and lines[-2].rstrip(b"\r").lower() != HEADER.encode():
        step = last - _parse_time(lines[-2], path)
        if step <= 0 or step % timeframe_ms:
            raise DownloadError(
                "out",
                f"{path} holds bars {step // 1000} s apart, not the {timeframe_ms // 1000} s of "
                "this timeframe; choose another file",
            )
    return _FileState(True, first_ms, last)


def _writable(path: Path) -> None:
    """Refuse a file that could not be written before anything is fetched (nothing created)."""
    if path.exists():
        if not os.access(path, os.W_OK):
            raise DownloadError("out", f"cannot write {path}: permission denied")
        return
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise DownloadError("out", f"cannot write {path}: {folder} is not a writable folder")


class _Writer:
    """Whole lines only: a new file is renamed into place with its first page, then pages are
    appended in one write each."""

    def __init__(self, path: Path, fresh: bool) -> None:
        self.path = path
        self.fresh = fresh
        self.handle: Any = None

    def write(self, lines: list[str]) -> None:
        text = "".join(line + "\n" for line in lines)
        try:
            if self.fresh:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                part = self.path.with_name(self.path.name + ".part")
                try:
                    with part.open("w", encoding="utf-8", newline="") as handle:
                        handle.write(HEADER + "\n" + text)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.replace(part, self.path)
                except BaseException:
                    part.unlink(missing_ok=True)
                    raise
                self.fresh = False
                return
            if self.handle is None:
                self.handle = self.path.open("a", encoding="utf-8", newline="")
            self.handle.write(text)
            self.handle.flush()
        except OSError as exc:
            raise DownloadError("out", f"cannot write {self.path}: {exc.strerror}") from None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _count_bars(path: Path) -> int:
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(0, lines - 1)


# ---------------------------------------------------------------- the exchange


def _exchange(request: CandleRequest) -> Any:
    import ccxt.async_support as ccxt_async

    from trading.brokers.ccxt_broker import build_exchange
    from trading.brokers.ccxt_config import CcxtConfig

    exchange_id = request.exchange.strip().lower()
    if exchange_id not in ccxt_async.exchanges:
        close = difflib.get_close_matches(exchange_id, ccxt_async.exchanges, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise DownloadError("exchange", f"ccxt has no exchange {request.exchange!r}{hint}")
    config = CcxtConfig(
        exchange=exchange_id, api_url=request.api_url, timeout_ms=request.timeout_ms
    )
    return build_exchange(config)  # TRADEBOT_CCXT_API_URL: the broker's own URL rewrite


def _timeframe_ms(exchange: Any, timeframe: str) -> int:
    offered = exchange.timeframes or {}
    if not exchange.has.get("fetchOHLCV") or not offered:
        raise DownloadError("exchange", f"{exchange.id} offers no candles through ccxt")
    if timeframe not in offered:
        raise DownloadError(
            "timeframe", f"{exchange.id} offers {', '.join(offered)}; not {timeframe!r}"
        )
    return int(exchange.parse_timeframe(timeframe) * 1000)


def _unreachable(exchange: Any, exc: Exception, api_url: str) -> DownloadError:
    where = f" at {api_url}" if api_url else ""
    return DownloadError(None, f"{exchange.id}{where} is unreachable ({type(exc).__name__})")


async def _market(exchange: Any, symbol: str, api_url: str) -> str:
    from ccxt.base import errors as ccxt_errors

    from trading.brokers.markets import MarketIndex

    try:
        markets = await exchange.load_markets()
    except (ccxt_errors.NetworkError, ccxt_errors.ExchangeError) as exc:
        raise _unreachable(exchange, exc, api_url) from None
    market_type = str(exchange.options.get("defaultType") or "spot")
    try:
        return str(MarketIndex(markets, market_type=market_type).resolve(symbol)["symbol"])
    except TradingError:
        raise DownloadError("symbol", f"{exchange.id} has no market {symbol!r}") from None


async def _page(
    exchange: Any, market: str, timeframe: str, since: int, limit: int, delays: Sequence[float]
) -> list[list[Any]]:
    """One page, tried again after a network error (the rate limit, a timeout, a 5xx)."""
    import asyncio

    from ccxt.base import errors as ccxt_errors

    for attempt in range(len(delays) + 1):
        try:
            return list(await exchange.fetch_ohlcv(market, timeframe, since, limit))
        except ccxt_errors.BadSymbol:
            raise DownloadError("symbol", f"{exchange.id} has no market {market!r}") from None
        except ccxt_errors.NetworkError as exc:
            if attempt == len(delays):
                raise DownloadError(
                    None,
                    f"{exchange.id} stopped answering ({type(exc).__name__}); the file holds "
                    "every bar fetched so far, run the same command again to continue",
                ) from None
            await asyncio.sleep(delays[attempt])
        except ccxt_errors.ExchangeError as exc:
            text = str(exc).removeprefix(f"{exchange.id} ")[:200]
            raise DownloadError(None, f"{exchange.id} refused the candles: {text}") from None
    raise AssertionError("unreachable")


async def download(
    request: CandleRequest,
    out: Path,
    progress: Progress | None = None,
    *,
    retry_delays: Sequence[float] = RETRY_DELAYS,
) -> DownloadSummary:
    """Fetch `request`'s closed bars into `out`, continuing after the bars `out` holds."""
    now_ms = _ms(datetime.now(UTC))
    since_ms = _ms(request.since)
    until_ms = _ms(request.until) if request.until is not None else now_ms
    if since_ms >= now_ms:
        raise DownloadError("since", f"{_iso(since_ms)} is in the future")
    if until_ms <= since_ms:
        raise DownloadError("until", f"{_iso(until_ms)} is not after the start, {_iso(since_ms)}")
    exchange = _exchange(request)
    try:
        timeframe_ms = _timeframe_ms(exchange, request.timeframe)
        _writable(out)
        state = _inspect(out, timeframe_ms)
        start_ms = since_ms
        if state.last_ms is not None:
            start_ms = state.last_ms + timeframe_ms
        end_ms = min(until_ms, now_ms)
        market = await _market(exchange, request.symbol, request.api_url)
        added = await _fetch(
            exchange, market, request, out, state, start_ms, end_ms, progress, retry_delays
        )
    finally:
        await exchange.close()
    return _summary(out, market, added, state, since_ms, timeframe_ms)


def _summary(
    out: Path, market: str, added: int, before: _FileState, since_ms: int, timeframe_ms: int
) -> DownloadSummary:
    after = _inspect(out, timeframe_ms) if added or before.exists_with_bars else before
    total = _count_bars(out) if after.exists_with_bars else 0

    def moment(ms: int | None) -> datetime | None:
        return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None

    return DownloadSummary(
        path=out,
        market=market,
        added=added,
        total=total,
        first=moment(after.first_ms),
        last=moment(after.last_ms),
        resumed_after=moment(before.last_ms),
        starts_after_since=before.first_ms is not None and before.first_ms > since_ms,
    )


async def _fetch(
    exchange: Any,
    market: str,
    request: CandleRequest,
    out: Path,
    state: _FileState,
    start_ms: int,
    end_ms: int,
    progress: Progress | None,
    retry_delays: Sequence[float],
) -> int:
    """The pages from `start_ms` to `end_ms` (exclusive) appended to `out`; how many bars."""
    timeframe_ms = int(exchange.parse_timeframe(request.timeframe) * 1000)
    now_ms = _ms(datetime.now(UTC))
    span = max(1, end_ms - start_ms)
    writer = _Writer(out, fresh=not state.exists_with_bars)
    cursor, added = start_ms, 0
    try:
        while cursor < end_ms:  # the cursor moves by at least one bar per page
            wanted = min(request.limit, -(-(end_ms - cursor) // timeframe_ms))
            rows = await _page(exchange, market, request.timeframe, cursor, wanted, retry_delays)
            fresh: dict[int, list[Any]] = {}
            for row in rows:
                opened = int(row[0])
                closed = opened + timeframe_ms <= now_ms
                if cursor <= opened < end_ms and closed and None not in row[1:5]:
                    fresh[opened] = row
            if not fresh:
                break
            page = [fresh[opened] for opened in sorted(fresh)]
            writer.write([_line(row) for row in page])
            added += len(page)
            cursor = int(page[-1][0]) + timeframe_ms
            if progress is not None:
                progress(min(cursor, end_ms) - start_ms, span)
    finally:
        writer.close()
    if progress is not None:
        progress(span, span)
    return added
