"""The position monitor: stop-loss, take-profit and trailing stops that fire once, fast, and
survive restarts (SPEC §1, §6).

Prices come in three ways: alerts in this process (`price_seen`, called by the trading service
before the alert's own decision, and awaited: a tick that crosses a stop has closed the position
when the webhook answers), the database (other processes' alerts, `bot_prices`, and exchange
prices, `instruments`; polled every `interval`), and the broker's tickers when it has them
(`fetch_tickers`, polled, or `watch_tickers`, streamed). A price older than `price_max_age` is
stale: nothing acts on it, the health check says so and owners get one warning per stale spell
(and one all-clear).

Whose price moves whose stops (SPEC §5): an alert's price is its bot's, and moves the stops,
targets and trailing peaks of that bot's positions only; an exchange price (tickers) moves
every bot's. So a key that one signal provider knows cannot close another bot's position,
whichever way the price travels (this process, the database, start-up, a retry).

A tick is checked against the trigger index (`trading.trigger_index`) in O(log n + k). A
position that fires leaves the index at once, so faster ticks cannot fire it twice; its close
goes through `TradingService.close_triggered`, the path a manual close takes, which claims the
position in the database before the order is sent (so a racing webhook close or a second monitor
cannot close it again). The close fills at the tick's price (a gap through the stop fills at the
tick, not at the stop) with the broker's slippage. A failed close is retried with backoff and
reported; after the last attempt the position is watched again, so the next price re-fires it.

The index is rebuilt from the database at start-up, kept in step by the service's
`position_changed` calls, and compared with the database every `resync_interval` for changes made
by other processes. Trailing peaks are written behind, in one statement per symbol, side and trail
setting: a graceful stop writes every ratchet; a crash loses at most those of the last write
(milliseconds), never an older one.

Stale-price warnings and the bots' alert heartbeat are `trading.monitor_notices`; the loop here
runs them. Storage is the `stores` handed in (`trading.ports.Stores`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from trading.bots import BotConfig
from trading.errors import NotFound, TradingError
from trading.events import ErrorEvent, EventSink, TriggerFailed
from trading.fill_pipeline import PositionBusy
from trading.levels import Level
from trading.monitor_notices import Heartbeats, StalePrices
from trading.ports import Stores
from trading.positions import Side, q12
from trading.price_cache import Owner, PriceCache
from trading.records import EXCHANGE_SOURCE, PositionLevels
from trading.service import TradingService
from trading.trigger_index import Trigger, TriggerIndex, Watch, trail_stop_price

log = logging.getLogger(__name__)

FULL_RESYNC_EVERY = 12  # changed resyncs between two full comparisons
RESYNC_SLACK = 60.0  # seconds: fill times come from the broker's clock


@runtime_checkable
class TickerSource(Protocol):
    """A broker that can quote many symbols at once (a ccxt exchange's `fetch_tickers`)."""

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Decimal]:
        """Last price per symbol (symbols it does not quote are left out)."""
        ...


@runtime_checkable
class TickerStream(Protocol):
    """A broker that pushes prices (an exchange's websocket `watchTickers`)."""

    def watch_tickers(self, symbols: list[str]) -> AsyncIterator[dict[str, Decimal]]:
        """Batches of last prices, as the exchange sends them, until cancelled."""
        ...


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    price_max_age: float = 300.0  # seconds: an older price is stale
    interval: float = 1.0  # seconds between passes of the loop (polls, stale and heartbeat checks)
    resync_interval: float = 5.0  # seconds between comparisons of the index with the database
    heartbeat_interval: float = 30.0  # seconds between checks of the bots' alert heartbeats
    retry_backoff: float = 1.0  # seconds before the first retry of a failed close; doubles
    max_attempts: int = 5  # closing attempts per trigger before it is re-armed
    poll_instruments: bool = True  # read prices other processes stored (alerts', exchange's)


class Monitor:
    """Watches every open position of every bot; see the module docstring."""

    def __init__(
        self,
        trading: TradingService,
        events: EventSink,
        config: MonitorConfig | None = None,
        *,
        stores: Stores,
        tickers: TickerSource | TickerStream | None = None,
        name: str = "monitor",
    ) -> None:
        self.trading = trading
        self.events = events
        self.config = config or MonitorConfig()
        self.stores = stores
        self.tickers = tickers
        self.name = name
        self.index = TriggerIndex()
        self.prices = PriceCache(self.config.price_max_age)
        self.stale = StalePrices(self.prices, events, self.config.price_max_age)
        self.heartbeats = Heartbeats(events, stores=stores)
        self._keys: dict[tuple[int, str], int] = {}  # (bot id, symbol) -> position id
        self._versions: dict[int, int] = {}  # position id -> version the monitor last loaded
        self._closing: dict[int, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._bots: dict[int, BotConfig] = {}
        # (symbol, whose price: a bot or None for the exchange's, side) -> peaks to store
        self._ratchets: dict[tuple[str, Owner, str], list[tuple[Decimal, datetime]]] = {}
        self._flush: asyncio.Task[None] | None = None
        self._stream: asyncio.Task[None] | None = None
        self._stream_symbols: frozenset[str] = frozenset()
        self._polled: dict[tuple[str, Owner], tuple[Decimal, datetime]] = {}
        self._fingerprint: tuple[int, int, int] | None = None
        self._synced_at: datetime | None = None
        self._failing: set[int] = set()
        self._resyncs = 0
        # health
        self.loaded = False
        self.running = False
        self.beat: float | None = None  # monotonic time of the loop's last pass
        self.passes = 0
        self.lag_ms = 0.0
        self.restarts = 0
        self.last_error = ""
        self.source_error = ""
        self._source_failed_at: float | None = None
        self.closes = 0
        self.last_trigger_ms: float | None = None  # tick -> closing order stored, last trigger

    # ------------------------------------------------------------ start-up and index upkeep

    async def load(self) -> None:
        """Build the index from the database and take the stored prices of its symbols."""
        self.index = TriggerIndex()
        self._keys.clear()
        self._fingerprint = await self.stores.positions.positions_fingerprint()
        self._synced_at = datetime.now(UTC)
        self._versions = await self.stores.positions.position_versions()
        self._bots.clear()
        now = datetime.now(UTC)
        for stored in await self.stores.positions.watched_positions():
            if stored.id not in self._closing:
                self._watch(stored, now)
        await self._poll_stored()
        self.loaded = True
        log.info(
            "monitor loaded name=%s positions=%d watched=%d symbols=%d",
            self.name,
            len(self._versions),
            len(self.index),
            len(self.index.symbols()),
        )
        for symbol, bot_id in self.index.pairs():
            self._check_cached(symbol, bot_id)

    def _watch(self, stored: PositionLevels, now: datetime) -> None:
        """(Re)index a stored position; one someone else is closing is looked at again later."""
        self._versions[stored.id] = stored.version
        self._keys[(stored.bot_id, stored.symbol)] = stored.id
        previous_peak = self.index.trail_peak(stored.id)
        self.index.remove(stored.id)
        if stored.claimed_by_other(None, now, self.trading.claim_ttl):
            self._spawn(self._recheck(stored.bot_id, stored.symbol), f"recheck-{stored.id}")
            return
        watch = watch_of(stored, previous_peak)
        if watch is not None:
            self.index.add(watch)

    async def position_changed(self, bot_id: int, symbol: str) -> None:
        """A fill in this process changed the bot's position: watch it as stored now, and act
        at once if the last fresh price already reaches a level it has now (a gap through two
        take-profits, a break-even stop already crossed); returns when those closes are done.
        Called outside the service's locks, so awaiting the closes cannot deadlock."""
        stored = await self.stores.positions.load_position(bot_id, symbol)
        old = self._keys.pop((bot_id, symbol), None)
        if old is not None and (stored is None or stored.id != old):
            self.index.remove(old)
            self._versions.pop(old, None)
        if stored is None:
            return
        self._watch(stored.levels, datetime.now(UTC))
        tasks = self._check_cached(symbol, bot_id)
        if tasks:
            await asyncio.wait(tasks)

    async def _recheck(
        self, bot_id: int, symbol: str, *, wait: float = 0.0, evaluate: bool = True
    ) -> None:
        """Watch a position again as stored, once nobody else holds a claim on it; with
        `evaluate`, act at once if the last fresh price reaches one of its levels (else the
        next price does)."""
        if wait:
            await asyncio.sleep(wait)
        delay = max(0.05, min(self.config.retry_backoff, self.trading.claim_ttl))
        while True:
            stored = await self.stores.positions.load_position(bot_id, symbol)
            if stored is None:
                self._forget(bot_id, symbol)
                return
            now = datetime.now(UTC)
            if not stored.claimed_by_other(None, now, self.trading.claim_ttl):
                if stored.id not in self._closing:
                    self._watch(stored.levels, now)
                    if evaluate:
                        self._check_cached(symbol, bot_id)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, max(self.config.retry_backoff, 2.0))

    def _forget(self, bot_id: int, symbol: str) -> None:
        old = self._keys.pop((bot_id, symbol), None)
        if old is not None:
            self.index.remove(old)
            self._versions.pop(old, None)

    async def resync(self) -> int:
        """Take in what other processes changed; returns how many positions were reloaded.

        One aggregate query when nothing changed. When something did, the positions touched
        lately (`updated_at`) are reloaded; every `FULL_RESYNC_EVERY`-th time every (id, version)
        is compared instead, which also drops positions closed elsewhere (until then such a
        position, if it fires, is found gone and dropped)."""
        fingerprint = await self.stores.positions.positions_fingerprint()
        if fingerprint == self._fingerprint:
            return 0
        started = datetime.now(UTC)
        self._resyncs += 1
        if self._synced_at is None or self._resyncs % FULL_RESYNC_EVERY == 0:
            changed = await self._resync_all()
        else:
            since = self._synced_at - timedelta(seconds=RESYNC_SLACK)
            changed = 0
            for levels in await self.stores.positions.positions_touched_since(since):
                if self._versions.get(levels.id) != levels.version and (
                    levels.id not in self._closing
                ):
                    self._watch(levels, started)
                    changed += 1
        self._fingerprint, self._synced_at = fingerprint, started
        self._bots.clear()  # bots' settings may have changed too
        return changed

    async def _resync_all(self) -> int:
        versions = await self.stores.positions.position_versions()
        gone = [pid for pid in self._versions if pid not in versions]
        for pid in gone:
            watch = self.index.remove(pid)
            self._versions.pop(pid, None)
            if watch is not None:
                self._keys.pop((watch.bot_id, watch.symbol), None)
        changed = [
            pid
            for pid, version in versions.items()
            if self._versions.get(pid) != version and pid not in self._closing
        ]
        now = datetime.now(UTC)
        for levels in await self.stores.positions.positions_of(changed) if changed else []:
            self._watch(levels, now)
        for pid in changed:
            self._versions.setdefault(pid, versions[pid])
        return len(changed)

    # ------------------------------------------------------------ prices

    def on_price(
        self,
        symbol: str,
        price: Decimal,
        at: datetime,
        source: str,
        *,
        bot_id: Owner,
        arrival: bool = True,
    ) -> list[asyncio.Task[None]]:
        """The monitor's entry point for one tick. Returns the closes it started.

        `bot_id`: whose price it is: a bot's (its own alert: only that bot's positions act on
        it), or None for the exchange's (every bot's positions do). `arrival`: the price just
        arrived (an alert, a ticker, a changed stored row): it replaces the held one unless
        clearly older (a late alert). Otherwise it is taken only if newer than the held one.
        """
        if arrival:
            if not self.prices.put(symbol, price, at, source, bot_id):
                return []
        elif not self.prices.update(symbol, price, at, source, bot_id):
            return []
        now = datetime.now(UTC)
        if not self.prices.is_fresh(at, now):
            if symbol not in self.stale.symbols:
                self.stale.stale_tick(self.index, symbol, now)
            return []
        if symbol in self.stale.symbols:
            self.stale.fresh_tick(self.index, symbol, now)
        triggers = self.index.check(symbol, price, bot_id)
        if self.index.ratchets:
            self._queue_ratchets(now)
        if not triggers:
            return []
        started = time.perf_counter()
        return [self._close(trigger, started) for trigger in triggers]

    async def price_seen(
        self, symbol: str, price: Decimal, at: datetime, source: str, *, bot_id: Owner
    ) -> None:
        """A price from this process (an alert of bot `bot_id`, or the exchange's with None):
        act on it, and return when its closes are done, so the alert that crossed a stop is
        answered after the close."""
        tasks = self.on_price(symbol, price, at, source, bot_id=bot_id)
        if tasks:
            await asyncio.wait(tasks)

    def _check_cached(self, symbol: str, bot_id: int) -> list[asyncio.Task[None]]:
        """Check the bot's positions in `symbol` against the price they act on (the newer of
        the bot's own and the exchange's), if it is fresh."""
        now = datetime.now(UTC)
        quote = self.prices.fresh(symbol, now, bot_id)
        if quote is None:
            return []
        triggers = self.index.check(symbol, quote.price, bot_id)
        if self.index.ratchets:
            self._queue_ratchets(now)
        started = time.perf_counter()
        return [self._close(trigger, started) for trigger in triggers]

    async def _poll_stored(self) -> None:
        """Prices other processes stored: each watched bot's own alert prices and the
        exchange's. A row that changed since the last poll is a new price (rows are written in
        arrival order), whatever its time says."""
        symbols = self.index.symbols()
        if not symbols:
            return
        exchange, alerts = await self.stores.prices.stored_prices(symbols)
        for symbol, (price, at, source) in exchange.items():
            self._take_stored(symbol, None, price, at, source)
        for (bot_id, symbol), (price, at, source) in alerts.items():
            if self.index.watches_bot(symbol, bot_id):
                self._take_stored(symbol, bot_id, price, at, source)

    def _take_stored(
        self, symbol: str, bot_id: Owner, price: Decimal, at: datetime, source: str
    ) -> None:
        key = (symbol, bot_id)
        if self._polled.get(key) == (price, at):
            return
        self._polled[key] = (price, at)
        held = self.prices.get(symbol, bot_id)
        if held is not None and (held.price, held.at) == (price, at):
            return  # this process's own price
        self.on_price(symbol, price, at, source or "stored", bot_id=bot_id)

    async def _poll_tickers(self) -> None:
        source = self.tickers
        symbols = self.index.symbols()
        # A price feed (`trading.price_feed`) also quotes symbols no stop watches (bots', and
        # positions without levels): it is polled even when the index is empty.
        if source is None or not (symbols or getattr(source, "quotes_unwatched", False)):
            return
        if isinstance(source, TickerStream):
            self._follow_stream(source, symbols)
            return
        try:
            quotes = await source.fetch_tickers(symbols)
        except TradingError as exc:
            if not self.source_error:  # logged once per outage, not once per poll
                self._source_failed_at = time.monotonic()
                log.warning("ticker poll failed: %s (retrying every pass)", exc.user_message)
            self.source_error = f"tickers: {exc.user_message}"
            return
        if self.source_error:
            log.warning(
                "tickers answer again after %.0f s",
                time.monotonic() - (self._source_failed_at or time.monotonic()),
            )
        self.source_error = ""
        await self._take_tickers(quotes)

    async def _take_tickers(self, quotes: dict[str, Decimal]) -> None:
        """The exchange's prices: every bot's stops act on them."""
        if not quotes:
            return
        now = datetime.now(UTC)
        await self.stores.prices.record_prices(
            {s: (p, now) for s, p in quotes.items()}, EXCHANGE_SOURCE
        )
        for symbol, price in quotes.items():
            self.on_price(symbol, price, now, EXCHANGE_SOURCE, bot_id=None)

    def _follow_stream(self, source: TickerStream, symbols: list[str]) -> None:
        wanted = frozenset(symbols)
        if self._stream is not None and not self._stream.done() and wanted == self._stream_symbols:
            return
        if self._stream is not None:
            self._stream.cancel()
        self._stream_symbols = wanted
        self._stream = asyncio.create_task(self._stream_prices(source, sorted(wanted)))

    async def _stream_prices(self, source: TickerStream, symbols: list[str]) -> None:
        try:
            async for quotes in source.watch_tickers(symbols):
                self.source_error = ""
                await self._take_tickers(quotes)
        except TradingError as exc:
            self.source_error = f"ticker stream: {exc.user_message}"
            log.warning("ticker stream failed: %s", exc.user_message)

    def check_stale(self, now: datetime | None = None) -> None:
        """Report symbols whose price went stale; forget those no longer watched."""
        self.stale.check(self.index, now or datetime.now(UTC))

    # ------------------------------------------------------------ closing

    def _close(self, trigger: Trigger, started: float) -> asyncio.Task[None]:
        pid = trigger.watch.position_id
        task = asyncio.create_task(self._execute(trigger, started), name=f"close-{pid}")
        self._closing[pid] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _bot(self, bot_id: int) -> BotConfig:
        bot = self._bots.get(bot_id)
        if bot is None:
            bot = self._bots[bot_id] = await self.stores.bots.bot_by_id(bot_id)
        return bot

    async def _execute(self, trigger: Trigger, started: float) -> None:
        watch = trigger.watch
        pid = watch.position_id
        price = trigger.price
        log.info(
            "trigger %s position=%d bot=%d symbol=%s side=%s level=%s price=%s",
            trigger.reason,
            pid,
            watch.bot_id,
            watch.symbol,
            watch.side,
            trigger.level,
            price,
        )
        # A position that keeps failing is reported on its first round only.
        quiet = pid in self._failing
        try:
            for attempt in range(1, self.config.max_attempts + 1):
                error = await self._attempt(trigger, price, started if attempt == 1 else None)
                if error is None:
                    self._failing.discard(pid)
                    break
                last = attempt == self.config.max_attempts
                retry_in = None if last else self.config.retry_backoff * 2 ** (attempt - 1)
                bot = self._bots.get(watch.bot_id)
                log.warning(
                    "close failed position=%d symbol=%s attempt=%d: %s",
                    pid,
                    watch.symbol,
                    attempt,
                    error,
                )
                if (attempt == 1 or last) and not quiet:
                    self.events.publish(
                        TriggerFailed(
                            bot=bot.name if bot else str(watch.bot_id),
                            symbol=watch.symbol,
                            reason=trigger.reason,
                            attempt=attempt,
                            error=error,
                            retry_in=retry_in,
                        )
                    )
                if retry_in is None:
                    # Re-armed after a pause: the next price after it fires the position again.
                    self._failing.add(pid)
                    pause = self.config.retry_backoff * 2**attempt
                    self._spawn(
                        self._recheck(watch.bot_id, watch.symbol, wait=pause, evaluate=False),
                        f"rearm-{pid}",
                    )
                    break
                await asyncio.sleep(retry_in)
                fresh = self.prices.fresh(watch.symbol, datetime.now(UTC), watch.bot_id)
                price = fresh.price if fresh is not None else price
        finally:
            if self._closing.get(pid) is asyncio.current_task():
                del self._closing[pid]

    async def _attempt(self, trigger: Trigger, price: Decimal, started: float | None) -> str | None:
        """One closing attempt; the error to report, or None when there is nothing to retry."""
        watch = trigger.watch
        try:
            bot = await self._bot(watch.bot_id)
            result = await self.trading.close_triggered(
                bot,
                watch.symbol,
                reason=trigger.reason,
                price=price,
                expected_version=watch.version,
                expected_id=watch.position_id,
                take_profit=watch.tp_level if trigger.reason == "take_profit" else None,
            )
        except NotFound:
            return None  # closed meanwhile (a manual close, another monitor)
        except PositionBusy as exc:
            log.info("position %d busy: %s", watch.position_id, exc.user_message)
            self._spawn(self._recheck(watch.bot_id, watch.symbol), f"recheck-{watch.position_id}")
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database, say: the position is still open, so retry
            log.exception("close crashed position=%d", watch.position_id)
            return f"{type(exc).__name__}: {exc}"
        if result.status == "executed":
            self.closes += 1
            if started is not None:
                self.last_trigger_ms = (time.perf_counter() - started) * 1000
            return None
        if result.status == "rejected":
            return result.reason
        log.info("close of position %d ignored: %s", watch.position_id, result.reason)
        recheck = self._recheck(watch.bot_id, watch.symbol, wait=self.config.retry_backoff)
        self._spawn(recheck, f"recheck-{watch.position_id}")
        return None

    # ------------------------------------------------------------ trailing peaks

    def _queue_ratchets(self, seen_at: datetime) -> None:
        for symbol, bot_id, side, peak in self.index.ratchets:
            stack = self._ratchets.setdefault((symbol, bot_id, side), [])
            # A later, better peak covers every position an earlier one covered.
            while stack and (peak >= stack[-1][0] if side == "long" else peak <= stack[-1][0]):
                stack.pop()
            stack.append((peak, seen_at))
        self.index.ratchets.clear()
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._write_ratchets(), name="trail-writer")

    async def _write_ratchets(self) -> None:
        """Write trailing peaks behind the ticks, coalesced: one write in flight at a time."""
        while self._ratchets:
            batch, self._ratchets = self._ratchets, {}
            try:
                for (symbol, bot_id, side), stack in batch.items():
                    trails = await self.stores.positions.trail_settings(symbol, side, bot_id)
                    for peak, seen_at in stack:
                        stops = {
                            trail: q12(trail_stop_price(peak, _level(trail), side))  # type: ignore[arg-type]
                            for trail in trails
                        }
                        await self.stores.positions.ratchet_trailing(
                            symbol, side, peak, seen_at, stops, bot_id
                        )
            except Exception:
                log.exception("writing trailing peaks failed; retrying with the next pass")
                for key, stack in batch.items():
                    self._ratchets.setdefault(key, [])[:0] = stack
                return

    async def flush(self) -> None:
        """Wait until every trailing peak seen so far is stored."""
        while self._flush is not None and not self._flush.done():
            await asyncio.wait({self._flush})
        if self._ratchets:
            self._flush = asyncio.create_task(self._write_ratchets(), name="trail-writer")
            await self._flush

    async def check_heartbeats(self, now: datetime | None = None) -> None:
        """Warn of bots whose alerts stopped, and give the all-clear when they come again."""
        await self.heartbeats.check(now)

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        """The monitor's loop, restarted with backoff when it crashes (each crash reported)."""
        delay = first_delay = max(0.01, self.config.retry_backoff)
        while True:
            began = time.monotonic()
            try:
                await self._loop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.restarts += 1
                self.loaded = False  # rebuilt from the database on restart
                self.last_error = f"{type(exc).__name__}: {exc}"[:200]
                log.exception("monitor crashed; restarting in %.0f s", delay)
                self.events.publish(
                    ErrorEvent(
                        where="monitor",
                        message=f"{self.last_error}; restarting in {delay:g} s",
                    )
                )
                if time.monotonic() - began > 300:
                    delay = first_delay
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)

    async def _loop(self) -> None:
        try:
            await self._passes()
        finally:
            self.running = False

    async def _passes(self) -> None:
        if not self.loaded:
            await self.load()
        self.running = True
        self.beat = time.monotonic()
        config = self.config
        last_resync = last_heartbeat = time.monotonic()
        first = True
        expected = time.monotonic()
        while True:
            self.lag_ms = max(0.0, (time.monotonic() - expected) * 1000)
            if config.poll_instruments:
                await self._poll_stored()
            await self._poll_tickers()
            self.check_stale()
            now = time.monotonic()
            if now - last_resync >= config.resync_interval:
                await self.resync()
                last_resync = now
            if first or now - last_heartbeat >= config.heartbeat_interval:
                await self.check_heartbeats()
                last_heartbeat = now
            if self._ratchets and (self._flush is None or self._flush.done()):
                self._flush = asyncio.create_task(self._write_ratchets(), name="trail-writer")
            first = False
            self.passes += 1
            self.beat = time.monotonic()
            expected = self.beat + config.interval
            await asyncio.sleep(config.interval)

    async def close(self, timeout: float = 10.0) -> None:
        """Let running closes finish, store the trailing peaks, stop the helpers."""
        if self._stream is not None:
            self._stream.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream
        closing = {t for t in self._tasks if t.get_name().startswith("close-")}
        if closing:
            await asyncio.wait(closing, timeout=timeout)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------ health

    def health(self) -> dict[str, Any]:
        """`/health`'s monitor check: status, lag, oldest price age and why."""
        now = datetime.now(UTC)
        symbols = self.index.symbols()
        pairs = self.index.pairs()
        oldest = self.prices.oldest_age(pairs, now)
        stale = sorted(self.prices.stale(pairs, now))
        beat_age = None if self.beat is None else time.monotonic() - self.beat
        if oldest is not None and oldest != float("inf"):
            oldest = round(oldest, 1)
        report: dict[str, Any] = {
            "status": "ok",
            "lag_ms": round(self.lag_ms, 1),
            "oldest_price_age_s": None if oldest == float("inf") else oldest,
            "positions": len(self.index),
            "symbols": len(symbols),
            "closes": self.closes,
            "restarts": self.restarts,
            "passes": self.passes,
            "detail": f"watching {len(self.index)} position(s) on {len(symbols)} symbol(s)",
        }
        if self.last_trigger_ms is not None:
            report["last_trigger_ms"] = round(self.last_trigger_ms, 2)
        problems = []
        if not self.running or beat_age is None:
            report["status"] = "down"
            problems.append(
                f"restarting after {self.last_error}" if self.last_error else "not started"
            )
        elif beat_age > max(10.0, 5 * self.config.interval):
            report["status"] = "down"
            problems.append(f"loop stalled for {beat_age:.0f} s")
        if stale:
            if report["status"] == "ok":
                report["status"] = "degraded"
            report["stale"] = stale
            problems.append(
                f"stale prices: {', '.join(stale[:5])}"
                f" (older than {self.config.price_max_age:.0f} s)"
            )
        if self.source_error:
            if report["status"] == "ok":
                report["status"] = "degraded"
            problems.append(self.source_error)
        if problems:
            report["detail"] = "; ".join(problems)
        return report


@functools.lru_cache(maxsize=4096)
def _level(text: str) -> Level:
    """Trail settings repeat ("1%", "2%"): parse each once (Level is frozen)."""
    return Level.parse(text)


def watch_of(stored: PositionLevels, ratcheted_peak: Decimal | None = None) -> Watch | None:
    """What the index watches of a stored position (None: no level at all)."""
    side: Side = "long" if stored.side == "long" else "short"
    tp, tp_level = stored.tp, None
    if stored.take_profits:
        unfilled = [i for i, level in enumerate(stored.take_profits) if not level.filled]
        tp_level = unfilled[0] if unfilled else None
        tp = stored.take_profits[tp_level].price if tp_level is not None else None
    trail = _level(stored.trail) if stored.trail else None
    peak = None
    if trail is not None:
        candidates = [p for p in (stored.trail_peak, ratcheted_peak) if p is not None]
        if not candidates:
            candidates = [stored.avg_price]
        peak = max(candidates) if side == "long" else min(candidates)
    if stored.sl is None and tp is None and trail is None:
        return None
    return Watch(
        position_id=stored.id,
        version=stored.version,
        bot_id=stored.bot_id,
        symbol=stored.symbol,
        side=side,
        sl=stored.sl,
        tp=tp,
        tp_level=tp_level,
        trail=trail,
        trail_peak=peak,
    )
