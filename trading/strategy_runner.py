"""Where an alert meets the bot's strategy: price series upkeep, then the strategy's decision.

The live service calls `StrategyRunner.decide`; the backtester drives the same strategy classes
over a whole history (`IndicatorStrategy.signals`), so both act on the same rule.

Series rules (SPEC §5): an alert with `interval` and `bar_time` closes that bar of the series
(symbol, interval) and the strategy evaluates on it; a price without `bar_time` updates the
forming bar (and the last price, which the service records). A bot with an interval of its own
trades on that interval's series; one without trades on the interval its alerts carry.

The runner's series are process-local caches, bounded to `capacity` closed bars each. The table
`price_bars` is the source of truth: a series is loaded from it on first use (after a restart,
say), and every bar close first takes the bars other processes stored meanwhile, so two
processes serving the same bots see the same series and decide alike. Indicators are computed
over the cached closes with the batch (TA-Lib) functions the backtester uses, not kept as
streaming state: a bar closed twice (a corrected close) or bars written by another process need
no state surgery, and the live numbers are the backtester's numbers bit for bit (for recursive
indicators, up to a seed effect of about 1e-30 once the history is longer than `capacity`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from db import series as store
from trading.alerts import Alert, parse_decimal
from trading.bots import BotConfig
from trading.positions import PositionState
from trading.series import (
    DEFAULT_CAPACITY,
    Bar,
    BarEvent,
    CandleSource,
    PriceSeries,
    floor_time,
    normalize_interval,
)
from trading.strategies import registry
from trading.strategies.base import EMPTY, Decision, StrategyContext

log = logging.getLogger(__name__)

SeriesKey = tuple[str, str]  # (symbol, interval)


def _interval(raw: str | None) -> str | None:
    if raw in (None, ""):
        return None
    try:
        return normalize_interval(raw)
    except ValueError:
        return None


def _optional_decimal(fields: dict[str, Any], name: str) -> Decimal | None:
    raw = fields.get(name)
    if raw in (None, ""):
        return None
    try:
        return parse_decimal(raw, allow_zero=True)
    except ValueError:
        return None


class StrategyRunner:
    def __init__(
        self,
        *,
        capacity: int = DEFAULT_CAPACITY,
        candles: CandleSource | None = None,
        keep_stored: int = 10 * DEFAULT_CAPACITY,
        prune_every: int = 500,
    ) -> None:
        """`candles` (a ccxt exchange, say) backfills a series the first time it is used;
        `keep_stored` bars per series stay in `price_bars`, pruned every `prune_every` closes."""
        self.capacity = capacity
        self.candles = candles
        self.keep_stored = max(keep_stored, capacity)
        self.prune_every = prune_every
        self._series: dict[SeriesKey, PriceSeries] = {}
        self._locks: defaultdict[SeriesKey, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._closes_since_prune: defaultdict[SeriesKey, int] = defaultdict(int)
        # Bar last evaluated per (bot, symbol, interval): a bar closed twice is evaluated once.
        self._evaluated: dict[tuple[int, str, str], datetime] = {}
        # Interval a bot without one of its own last received, per symbol.
        self._bot_intervals: dict[tuple[int, str], str] = {}

    # ------------------------------------------------------------ the decision

    async def decide(
        self, bot: BotConfig, alert: Alert, position: PositionState | None
    ) -> Decision:
        strategy = registry.create(bot.strategy, bot.strategy_params)
        data_interval = _interval(alert.interval) or _interval(bot.interval)
        trade_interval = (
            _interval(bot.interval)
            or data_interval
            or self._bot_intervals.get((bot.id, alert.symbol))
        )
        if data_interval is not None and bot.interval is None:
            self._bot_intervals[(bot.id, alert.symbol)] = data_interval

        event: BarEvent | None = None
        bar: Bar | None = None
        if data_interval is not None and alert.price is not None:
            event, bar = await self._record(alert, data_interval)

        series = await self._series_for(alert.symbol, trade_interval) if trade_interval else None
        is_bar_close = False
        note = ""
        if alert.bar_time is not None and trade_interval is not None:
            if data_interval != trade_interval:
                note = f"bar of interval {data_interval}; bot trades {trade_interval}"
            elif event == "late":
                note = f"late bar {_when(bar)}: the series is already at {_when(series.last)}"
            elif event in ("closed", "replaced") and bar is not None:
                key = (bot.id, alert.symbol, trade_interval)
                if self._evaluated.get(key) == bar.open_time:
                    note = f"bar {_when(bar)} already evaluated"
                else:
                    self._evaluated[key] = bar.open_time
                    is_bar_close = True
        elif alert.bar_time is not None and alert.price is not None:
            note = "price updated (send interval with bar_time to close bars)"

        context = StrategyContext(
            alert=alert,
            position=position,
            params=strategy.params,
            fields=alert.fields,
            series=series.closes if series is not None else EMPTY,
            is_bar_close=is_bar_close,
            bar_time=series.last.open_time if series is not None and series.last else None,
            interval=trade_interval,
            note=note,
        )
        return strategy.decide(context)

    # ------------------------------------------------------------ series upkeep

    async def series(self, symbol: str, interval: str) -> PriceSeries:
        """The cached series of (symbol, interval), loaded from storage on first use."""
        return await self._series_for(symbol, normalize_interval(interval))

    async def _series_for(self, symbol: str, interval: str) -> PriceSeries:
        key = (symbol, interval)
        found = self._series.get(key)
        if found is not None:
            return found
        async with self._locks[key]:
            return await self._load(key)

    async def _load(self, key: SeriesKey) -> PriceSeries:
        found = self._series.get(key)
        if found is not None:
            return found
        symbol, interval = key
        series = PriceSeries(symbol, interval, self.capacity)
        series.load(await store.load_bars(symbol, interval, self.capacity))
        if self.candles is not None:
            await self._backfill(series)
        self._series[key] = series
        return series

    async def _backfill(self, series: PriceSeries) -> None:
        last = series.last
        try:
            bars = await self.candles.fetch_candles(  # type: ignore[union-attr]
                series.symbol,
                series.interval,
                last.open_time if last else None,
                self.capacity,
            )
        except Exception:  # a candle source is a help, never a reason to refuse an alert
            log.warning(
                "candle backfill failed symbol=%s interval=%s",
                series.symbol,
                series.interval,
                exc_info=True,
            )
            return
        for bar in series.extend(bars):
            await store.save_bar(series.symbol, series.interval, bar, source="candles")

    async def _record(self, alert: Alert, interval: str) -> tuple[BarEvent, Bar | None]:
        """Fold the alert's price into the series of (symbol, interval) and store what changed."""
        assert alert.price is not None
        key = (alert.symbol, interval)
        async with self._locks[key]:
            series = await self._load(key)
            if alert.bar_time is not None:
                # Bars another process closed since we last looked come first.
                series.extend(
                    await store.closed_bars_after(
                        alert.symbol, interval, series.last.open_time if series.last else None
                    )
                )
                fields = alert.fields
                event, bar = series.close_bar(
                    floor_time(alert.bar_time, interval),
                    alert.price,
                    open=_optional_decimal(fields, "open"),
                    high=_optional_decimal(fields, "high"),
                    low=_optional_decimal(fields, "low"),
                    volume=_optional_decimal(fields, "volume"),
                )
                if event != "late":
                    await store.save_bar(alert.symbol, interval, bar)
                    await self._maybe_prune(key)
                return event, bar
            event, changed = series.update_forming(alert.price, alert.time or datetime.now(UTC))
            if event == "closed" and changed is not None:
                await store.save_bar(alert.symbol, interval, changed)
                await self._maybe_prune(key)
            if series.forming is not None and event != "stale":
                await store.save_bar(alert.symbol, interval, series.forming)
            return event, changed

    async def _maybe_prune(self, key: SeriesKey) -> None:
        self._closes_since_prune[key] += 1
        if self._closes_since_prune[key] < self.prune_every:
            return
        self._closes_since_prune[key] = 0
        removed = await store.prune_bars(*key, keep=self.keep_stored)
        if removed:
            log.info("pruned price bars symbol=%s interval=%s removed=%d", *key, removed)


def _when(bar: Bar | None) -> str:
    if bar is None:
        return "none"
    return bar.open_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
