"""Where an alert meets the bot's strategy: price series upkeep, then the strategy's decision.

The live service calls `StrategyRunner.decide`; the backtester drives the same strategy classes
over a whole history (`IndicatorStrategy.signals`), so both act on the same rule.

Series rules (SPEC §5): an alert with `interval` and `bar_time` closes that bar of its bot's
series (bot, symbol, interval) and the strategy evaluates on it; a price without `bar_time`
updates the forming bar (and the last price, which the service records). A bot with an interval
of its own trades on that interval's series; one without trades on the interval its alerts
carry. Series are per bot: an alert's price moves the strategy of its own bot only, so another
bot's alerts (a wrong price, a bar closed early) never change what my bot decides. Candles of
an exchange (`candles`, a ccxt broker) are copied into each bot's series the first time it is
used: one kind of series, one set of rules.

The runner's series are process-local caches, bounded to `capacity` closed bars each and to
`max_series` series (the least recently used is dropped, and reloaded when needed). The table
`price_bars` is the source of truth: a series is loaded from it on first use (after a restart,
say), and every bar close first takes the bars other processes stored meanwhile, so two
processes serving the same bots see the same series and decide alike. Indicators are computed
over the cached closes with the batch (TA-Lib) functions the backtester uses, not kept as
streaming state: a bar closed twice (a corrected close) or bars written by another process need
no state surgery, and the live numbers are the backtester's numbers bit for bit (for recursive
indicators, up to a seed effect of about 1e-30 once the history is longer than `capacity`).

Nothing one alert says sticks in a way that breaks other alerts: an interval that is not a bar
length (the door refuses it; a stored bot may still hold one from an older version) or a time
no bar can have is a note in the decision, never an exception, a cache entry or a lock; a bar
opening after now + `MAX_FUTURE` is never stored, and stored ones (from an older version) are
ignored and deleted when the series is loaded; a series whose update failed half way is dropped
from the cache and reloaded from the table.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from trading.alerts import Action, Alert, parse_decimal
from trading.bots import BotConfig
from trading.locks import KeyedLocks
from trading.ports import SeriesStore
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
from trading.strategies.base import EMPTY, Decision, IndicatorStrategy, StrategyContext

log = logging.getLogger(__name__)

SeriesKey = tuple[int, str, str]  # (bot id, symbol, interval)
DEFAULT_MAX_SERIES = 512
CLOSES = (Action.CLOSE, Action.CLOSE_LONG, Action.CLOSE_SHORT)


def _interval(raw: str | None) -> tuple[str | None, str]:
    """The normalized interval, or None and why not (empty when there is none)."""
    if raw in (None, ""):
        return None, ""
    try:
        return normalize_interval(raw), ""
    except ValueError as exc:
        return None, str(exc)


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
        series: SeriesStore,
        capacity: int = DEFAULT_CAPACITY,
        candles: CandleSource | None = None,
        keep_stored: int = 10 * DEFAULT_CAPACITY,
        prune_every: int = 500,
        max_series: int = DEFAULT_MAX_SERIES,
    ) -> None:
        """`series` stores the bars (`price_bars`); `candles` (a ccxt exchange, say) backfills a
        series the first time it is used;
        `keep_stored` bars per series stay in `price_bars`, pruned every `prune_every` closes;
        at most `max_series` series are cached."""
        self.store = series
        self.capacity = capacity
        self.candles = candles
        self.keep_stored = max(keep_stored, capacity)
        self.prune_every = prune_every
        self.max_series = max(1, max_series)
        self._series: OrderedDict[SeriesKey, PriceSeries] = OrderedDict()
        self._locks = KeyedLocks()
        self._closes_since_prune: defaultdict[SeriesKey, int] = defaultdict(int)
        # Bar last evaluated per (bot, symbol, interval): a bar closed twice is evaluated once.
        self._evaluated: dict[SeriesKey, datetime] = {}
        # Interval a bot without one of its own last received, per symbol.
        self._bot_intervals: dict[tuple[int, str], str] = {}

    # ------------------------------------------------------------ the decision

    async def decide(
        self, bot: BotConfig, alert: Alert, position: PositionState | None
    ) -> Decision:
        strategy = registry.create(bot.strategy, bot.strategy_params)
        alert_interval, alert_problem = _interval(alert.interval)
        bot_interval, bot_problem = _interval(bot.interval)
        notes: list[str] = []
        if alert_problem:
            notes.append(f"interval {alert.interval!s:.16}: {alert_problem}")
        if bot_problem:
            notes.append(
                f"the bot's interval {bot.interval!s:.16} is not valid any more "
                f"({bot_problem}): give it a new one"
            )
        data_interval = None if alert_problem else (alert_interval or bot_interval)
        # A bot whose own interval is no longer valid trades no series: never a bar length it
        # was not set up for.
        trade_interval = (
            None
            if bot_problem
            else bot_interval or data_interval or self._bot_intervals.get((bot.id, alert.symbol))
        )

        event: BarEvent | None = None
        bar: Bar | None = None
        if data_interval is not None and alert.price is not None:
            try:
                event, bar = await self._record(bot.id, alert, data_interval)
            except ValueError as exc:  # a time no bar of the interval can hold
                notes.append(f"price not recorded: {exc}")
        if bot.interval is None and alert_interval is not None:
            self._bot_intervals[(bot.id, alert.symbol)] = alert_interval

        series = (
            await self._series_for((bot.id, alert.symbol, trade_interval))
            if trade_interval
            else None
        )
        is_bar_close = False
        if not notes and alert.bar_time is not None and trade_interval is not None:
            if data_interval != trade_interval:
                notes.append(f"bar of interval {data_interval}; bot trades {trade_interval}")
            elif event == "future":
                notes.append(f"bar {_when(bar)} opens in the future: not taken")
            elif event == "late":
                last = series.last if series is not None else None
                notes.append(f"late bar {_when(bar)}: the series is already at {_when(last)}")
            elif event in ("closed", "replaced") and bar is not None:
                if self._evaluated.get((bot.id, alert.symbol, trade_interval)) == bar.open_time:
                    notes.append(f"bar {_when(bar)} already evaluated")
                else:
                    is_bar_close = True
        elif not notes and alert.bar_time is not None and alert.price is not None:
            notes.append("price updated (send interval with bar_time to close bars)")

        context = StrategyContext(
            alert=alert,
            position=position,
            params=strategy.params,
            fields=alert.fields,
            series=series.closes if series is not None else EMPTY,
            is_bar_close=is_bar_close,
            bar_time=series.last.open_time if series is not None and series.last else None,
            interval=trade_interval,
            note="; ".join(notes),
        )
        if bot_problem and isinstance(strategy, IndicatorStrategy) and alert.action not in CLOSES:
            return Decision.ignore(context.note)  # its indicators have no series to read
        decision = strategy.decide(context)
        if is_bar_close and bar is not None and trade_interval is not None:
            self._evaluated[(bot.id, alert.symbol, trade_interval)] = bar.open_time
        return decision

    # ------------------------------------------------------------ series upkeep

    async def series(self, bot_id: int, symbol: str, interval: str) -> PriceSeries:
        """The cached series of a bot's (symbol, interval), loaded from storage on first use."""
        return await self._series_for((bot_id, symbol, normalize_interval(interval)))

    def _cached(self, key: SeriesKey) -> PriceSeries | None:
        found = self._series.get(key)
        if found is not None:
            self._series.move_to_end(key)
        return found

    async def _series_for(self, key: SeriesKey) -> PriceSeries:
        found = self._cached(key)
        if found is not None:
            return found
        async with self._locks.hold(_lock_name(key)):
            return await self._load(key)

    async def _load(self, key: SeriesKey) -> PriceSeries:
        """The series of `key` (the caller holds its lock): cached, or built from storage."""
        found = self._cached(key)
        if found is not None:
            return found
        bot_id, symbol, interval = key
        series = PriceSeries(symbol, interval, self.capacity)
        dropped = await self.store.drop_future_bars(symbol)
        if dropped:
            log.warning("deleted %d stored bars of %s opening in the future", dropped, symbol)
        series.load(await self.store.load_bars(bot_id, symbol, interval, self.capacity))
        if self.candles is not None:
            await self._backfill(bot_id, series)
        self._series[key] = series
        while len(self._series) > self.max_series:
            evicted, _ = self._series.popitem(last=False)
            self._closes_since_prune.pop(evicted, None)
        return series

    def _forget(self, key: SeriesKey) -> None:
        """Drop a cached series (an update of it failed half way): the next use reloads it."""
        self._series.pop(key, None)

    async def _backfill(self, bot_id: int, series: PriceSeries) -> None:
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
            await self.store.save_bar(bot_id, series.symbol, series.interval, bar, source="candles")

    async def _record(
        self, bot_id: int, alert: Alert, interval: str
    ) -> tuple[BarEvent, Bar | None]:
        """Fold the alert's price into its bot's series of (symbol, interval) and store what
        changed. ValueError (nothing changed) for a time no bar of the interval can hold."""
        assert alert.price is not None
        key = (bot_id, alert.symbol, interval)
        async with self._locks.hold(_lock_name(key)):
            series = await self._load(key)
            # A time no bar of the interval can hold is refused before anything changes.
            open_time = floor_time(alert.bar_time or alert.time or datetime.now(UTC), interval)
            try:
                return await self._apply(key, series, alert, open_time)
            except BaseException:
                self._forget(key)  # memory may be ahead of the table: reload next time
                raise

    async def _apply(
        self, key: SeriesKey, series: PriceSeries, alert: Alert, open_time: datetime
    ) -> tuple[BarEvent, Bar | None]:
        assert alert.price is not None
        bot_id, symbol, interval = key
        if alert.bar_time is not None:
            # Bars another process closed since we last looked come first.
            series.extend(
                await self.store.closed_bars_after(
                    bot_id, symbol, interval, series.last.open_time if series.last else None
                )
            )
            fields = alert.fields
            event, bar = series.close_bar(
                open_time,
                alert.price,
                open=_optional_decimal(fields, "open"),
                high=_optional_decimal(fields, "high"),
                low=_optional_decimal(fields, "low"),
                volume=_optional_decimal(fields, "volume"),
            )
            if event in ("closed", "replaced"):
                await self.store.save_bar(bot_id, symbol, interval, bar)
                await self._maybe_prune(key)
            return event, bar
        event, changed = series.update_forming(alert.price, alert.time or datetime.now(UTC))
        if event == "closed" and changed is not None:
            await self.store.save_bar(bot_id, symbol, interval, changed)
            await self._maybe_prune(key)
        if series.forming is not None and event in ("closed", "forming"):
            await self.store.save_bar(bot_id, symbol, interval, series.forming)
        return event, changed

    async def _maybe_prune(self, key: SeriesKey) -> None:
        self._closes_since_prune[key] += 1
        if self._closes_since_prune[key] < self.prune_every:
            return
        self._closes_since_prune[key] = 0
        removed = await self.store.prune_bars(*key, keep=self.keep_stored)
        if removed:
            log.info("pruned price bars bot=%s symbol=%s interval=%s removed=%d", *key, removed)


def _lock_name(key: SeriesKey) -> str:
    return "{}:{}:{}".format(*key)


def _when(bar: Bar | None) -> str:
    if bar is None:
        return "none"
    return bar.open_time.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
