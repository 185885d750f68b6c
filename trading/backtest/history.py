"""Stored prices for the chat: the history `/backtest` replays and the bars `/chart` draws.

These are the async halves (database reads, in the event loop); the CPU halves (the backtest
and the drawing, in `handlers.charts`) are plain functions meant for `asyncio.to_thread`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trading.backtest.data import Ohlcv, from_bars, read_csv
from trading.backtest.engine import BacktestConfig, backtestable
from trading.errors import InvalidRequest, NotFound
from trading.ports import SeriesStore
from trading.records import ChartFill
from trading.series import Bar, normalize_interval
from trading.strategies import registry
from trading.strategies.base import IndicatorStrategy
from trading.symbols import normalize_symbol

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "synthetic_btcusdt_1h.csv"
MIN_BARS = 50
CONFIG_KEYS = {
    "size": "size",
    "qty": "size",
    "direction": "direction",
    "max_entries": "max_entries",
    "sl": "sl",
    "tp": "tp",
    "trail": "trail",
    "fee_bps": "fee_bps",
    "slippage_bps": "slippage_bps",
    "cash": "initial_cash",
}


@dataclass(frozen=True, slots=True)
class History:
    symbol: str
    interval: str | None
    data: Ohlcv
    note: str = ""  # shown under the report, e.g. when sample data stands in


@dataclass(frozen=True, slots=True)
class ChartData:
    symbol: str
    interval: str
    bars: list[Bar]
    fills: list[ChartFill]
    bot: str | None = None


@dataclass(frozen=True, slots=True)
class BacktestRequest:
    strategy: str
    params: dict[str, Any]
    config: BacktestConfig


def parse_request(strategy: str, words: list[str]) -> BacktestRequest:
    """`/backtest rsi BTCUSDT period=10 oversold=25 size=10% sl=2%` after the symbol: strategy
    parameters and bot settings (size/qty, direction, max_entries, sl, tp, trail, fee_bps,
    slippage_bps, cash) as key=value. Raises InvalidRequest naming the bad word."""
    params: dict[str, str] = {}
    settings: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        key = key.strip().lower().replace("-", "_")
        if not sep or not key or not value.strip():
            raise InvalidRequest(f"expected key=value, got {word[:40]!r}")
        if key in CONFIG_KEYS:
            settings[CONFIG_KEYS[key]] = value.strip()
        else:
            params[key] = value.strip()
    try:
        checked = registry.validate_params(strategy, params)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if not issubclass(registry.strategy_class(strategy), IndicatorStrategy):
        raise InvalidRequest(
            f"{strategy} trades what alerts say, so there is nothing to replay; backtest one of "
            f"{', '.join(backtestable())}"
        )
    try:
        config = BacktestConfig(**settings)
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        if callable(errors):
            error = errors()[0]
            field = ".".join(str(p) for p in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            raise InvalidRequest(f"{field}: {message}") from None
        raise InvalidRequest(str(exc)) from None
    return BacktestRequest(strategy, checked, config)


async def _pick_series(
    series: SeriesStore, symbol: str, interval: str | None, bot: str | None
) -> tuple[int | None, str] | None:
    """Which stored series to show: the bot's own (bars are per bot, SPEC §5) when a bot is
    named and has one, else the symbol's series with the most bars (any bot's, or the bars
    stored before series were per bot). At `interval` when given."""
    try:
        chosen = normalize_interval(interval) if interval else None
    except ValueError as exc:
        raise InvalidRequest(f"interval: {exc}") from None
    if bot is not None:
        bot_id = await series.bot_id_of(bot)
        if bot_id is None:
            raise NotFound(f"no bot named {bot[:32]!r}")
        own = await series.series_of(symbol, bot_id=bot_id, interval=chosen)
        if own:
            return own[0][0], own[0][1]
    stored = await series.series_of(symbol, interval=chosen)
    return (stored[0][0], stored[0][1]) if stored else None


async def load_history(
    series: SeriesStore,
    symbol: str,
    interval: str | None = None,
    *,
    bot: str | None = None,
    limit: int = 20_000,
) -> History:
    """The stored closed bars of `symbol` (of `bot`'s series, or the fullest one; at
    `interval`, or the one with most bars).

    With fewer than 50 stored bars, the shipped sample file stands in (said in `note`), so a
    fresh install can still show what a backtest looks like.
    """
    symbol = normalize_symbol(symbol)
    picked = await _pick_series(series, symbol, interval, bot)
    bars = await series.load_bars(picked[0], symbol, picked[1], limit) if picked else []
    closed = [bar for bar in bars if bar.closed]
    if picked is not None and len(closed) >= MIN_BARS:
        return History(symbol, picked[1], from_bars(closed))
    if SAMPLE.exists():
        have = f"only {len(closed)} stored bars" if closed else "no stored bars"
        return History(
            symbol,
            "60",
            read_csv(SAMPLE),
            note=f"⚠️ {have} of {symbol}: synthetic sample data (BTCUSDT 1h) shown instead",
        )
    raise NotFound(
        f"no price history for {symbol}: alerts with interval and bar_time build it "
        f"({len(closed)} bars so far, {MIN_BARS} needed)"
    )


async def load_chart(
    series: SeriesStore,
    symbol: str,
    *,
    bot: str | None = None,
    interval: str | None = None,
    limit: int = 200,
) -> ChartData:
    """The last `limit` bars of `symbol` (of `bot`'s series when it has one) and the fills (of
    `bot`, or every bot) among them."""
    symbol = normalize_symbol(symbol)
    picked = await _pick_series(series, symbol, interval, bot)
    bars = await series.load_bars(picked[0], symbol, picked[1], limit) if picked else []
    if not bars or picked is None:
        raise NotFound(
            f"no price bars for {symbol} yet: alerts with interval and bar_time build them"
        )
    fills = await series.fills_between(symbol, bars[0].open_time, bot=bot)
    return ChartData(symbol, picked[1], bars, fills, bot)


class ResearchService:
    """What the chat's `/backtest` and `/chart` read: stored bars and fills, through the series
    store the composition root hands in (front ends hold services, never stores)."""

    def __init__(self, *, series: SeriesStore) -> None:
        self.series = series

    async def history(
        self, symbol: str, interval: str | None = None, *, bot: str | None = None
    ) -> History:
        return await load_history(self.series, symbol, interval, bot=bot)

    async def chart(
        self, symbol: str, *, bot: str | None = None, interval: str | None = None
    ) -> ChartData:
        return await load_chart(self.series, symbol, bot=bot, interval=interval)
