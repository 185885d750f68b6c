"""What the position monitor tells owners besides closes: stale prices and silent bots.

Stale prices: a symbol where a bot with a watched position has no fresh price (neither its own
nor the exchange's) gets one warning per stale spell, and one all-clear when a fresh price
comes again or nothing there is watched any more (`PricesStale`, `PricesFresh`).

Heartbeat: a bot with `heartbeat_minutes` that got no alert for that long gets one warning, and
one all-clear when alerts come again (derived from `webhook_logs`, recorded in `audit_log`, so a
restart neither repeats the warning nor forgets the all-clear).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from trading.events import EventSink, HeartbeatMissed, HeartbeatResumed, PricesFresh, PricesStale
from trading.ports import Stores
from trading.price_cache import PriceCache
from trading.trigger_index import TriggerIndex

log = logging.getLogger(__name__)


class StalePrices:
    """The symbols reported stale, and the warnings and all-clears about them. The monitor's
    index is handed in on each call (the monitor rebuilds it at every load)."""

    def __init__(self, prices: PriceCache, events: EventSink, max_age: float) -> None:
        self.prices = prices
        self.events = events
        self.max_age = max_age
        self.symbols: set[str] = set()  # reported stale, no all-clear yet

    def pairs(
        self, index: TriggerIndex, symbols: list[str], now: datetime
    ) -> dict[str, float | None]:
        """Of `symbols`, those where a bot with a watched position has no fresh price (neither
        its own nor the exchange's): symbol -> the oldest such age (None: no price at all)."""
        pairs = [(symbol, bot) for symbol in symbols for bot in index.bots(symbol)]
        return self.prices.stale(pairs, now)

    def stale_tick(self, index: TriggerIndex, symbol: str, now: datetime) -> None:
        """A price too old to act on arrived for a symbol not reported stale yet."""
        if self.pairs(index, [symbol], now):
            self.report(index, [symbol], now)

    def fresh_tick(self, index: TriggerIndex, symbol: str, now: datetime) -> None:
        """A fresh price arrived for a symbol reported stale: all clear once no watching bot
        lacks a fresh price there."""
        if not self.pairs(index, [symbol], now):
            self.symbols.discard(symbol)
            self.events.publish(PricesFresh(symbols=(symbol,)))

    def report(self, index: TriggerIndex, symbols: list[str], now: datetime) -> None:
        stale = self.pairs(index, symbols, now)
        ages = [stale.get(s) for s in symbols]
        known = [a for a in ages if a is not None]
        self.symbols.update(symbols)
        log.warning("stale prices symbols=%s", ",".join(symbols))
        self.events.publish(
            PricesStale(
                symbols=tuple(symbols),
                oldest_age=max(known) if known and len(known) == len(ages) else None,
                max_age=self.max_age,
            )
        )

    def check(self, index: TriggerIndex, now: datetime) -> None:
        """Report symbols whose price went stale; forget those no longer watched."""
        watched = index.symbols()
        stale = self.prices.stale(index.pairs(), now)
        new = [s for s in stale if s not in self.symbols]
        self.symbols &= set(watched)
        # the bot whose price was stale has no position left to watch there
        recovered = tuple(sorted(s for s in self.symbols if s not in stale))
        if recovered:
            self.symbols -= set(recovered)
            self.events.publish(PricesFresh(symbols=recovered))
        if new:
            self.report(index, new, now)


@dataclass(slots=True)
class _Heartbeat:
    warned_at: datetime | None = None
    last_alert_at: datetime | None = None


class Heartbeats:
    """The alert heartbeat of every bot that asks for one; see the module docstring."""

    def __init__(self, events: EventSink, *, stores: Stores) -> None:
        self.events = events
        self.stores = stores
        self._bots: dict[int, _Heartbeat] = {}

    async def check(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        stores = self.stores
        bots = await stores.bots.heartbeat_bots()
        for gone in set(self._bots) - {b.id for b in bots}:
            del self._bots[gone]
        for hb in bots:
            state = self._bots.get(hb.id)
            if state is None:
                state = self._bots[hb.id] = _Heartbeat()
                notice = await stores.audit.last_heartbeat_notice(hb.name)
                if notice is not None and notice[0] == "monitor.heartbeat_missed":
                    state.warned_at = notice[1]
            if state.warned_at is not None:
                latest = await stores.alerts.alert_since(hb.id, state.warned_at)
                if latest is None:
                    continue
                since = state.last_alert_at or (state.warned_at - timedelta(minutes=hb.minutes))
                silent = (latest - since).total_seconds()
                state.warned_at, state.last_alert_at = None, latest
                await stores.audit.audit("monitor", "monitor.heartbeat_resumed", hb.name)
                log.info("alerts resumed bot=%s after %.0f s", hb.name, silent)
                self.events.publish(HeartbeatResumed(bot=hb.name, silent_seconds=silent))
                continue
            window = now - timedelta(minutes=hb.minutes)
            if hb.created_at > window:
                continue
            if await stores.alerts.alert_since(hb.id, window) is not None:
                continue
            last = await stores.alerts.alert_since(hb.id, hb.created_at - timedelta(seconds=1))
            state.warned_at, state.last_alert_at = now, last
            await stores.audit.audit(
                "monitor", "monitor.heartbeat_missed", hb.name, minutes=hb.minutes
            )
            log.warning("no alert bot=%s for %d min", hb.name, hb.minutes)
            self.events.publish(
                HeartbeatMissed(bot=hb.name, minutes=hb.minutes, last_alert_at=last)
            )
