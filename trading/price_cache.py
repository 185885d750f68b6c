"""The last prices per symbol, whose they are, when they were observed and where they came from.

Whose price moves whose stops (SPEC §5): a price from a bot's alert is held for that bot
(`bot_id`), and only that bot's stops act on it; a price from the exchange (a ticker, the price
feed) is held for everyone (`bot_id=None`). A bot's stops act on the newer of its own price and
the exchange's (`latest`). Another bot's alert price is never one of them, so no key that one
signal provider knows can move the stops of a position that belongs to another bot.

Prices arrive from alerts (in this process), from the database (written by other processes),
and from the broker's tickers. A price that arrives replaces the one held unless it is clearly
older, so the sources can overlap in any order. A price older than `max_age` is stale: the
monitor acts on no stale price, and reports symbols whose bots have no fresh price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

SECOND_GRAIN = 1.0

# Whose price: a bot's id (its own alerts) or None (the exchange's: every bot's).
Owner = int | None


@dataclass(frozen=True, slots=True)
class Quote:
    price: Decimal
    at: datetime  # when the price was observed (an alert's `time`, or its arrival)
    source: str  # alert | tick | instruments | ticker | …
    bot_id: Owner = None  # whose price: None for the exchange's


class PriceCache:
    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._quotes: dict[tuple[str, Owner], Quote] = {}

    def put(
        self, symbol: str, price: Decimal, at: datetime, source: str, bot_id: Owner = None
    ) -> bool:
        """Hold a price that just arrived, unless it is clearly older than the one its stops
        would act on now (a late alert: a retry, an approval): for a bot's price, the newer of
        the bot's own and the exchange's; for the exchange's, the exchange's (a bot's price
        never holds back the exchange's). "Clearly": by more than `SECOND_GRAIN`, since
        TradingView stamps alerts to the whole second while a price without a time is stamped
        on arrival. True when held."""
        held = self.latest(symbol, bot_id)
        if held is not None and (held.at - at).total_seconds() > SECOND_GRAIN:
            return False
        self._quotes[(symbol, bot_id)] = Quote(price, at, source, bot_id)
        return True

    def update(
        self, symbol: str, price: Decimal, at: datetime, source: str, bot_id: Owner = None
    ) -> bool:
        """Keep the price if it is newer than the one held for the same owner; True when kept."""
        held = self._quotes.get((symbol, bot_id))
        if held is not None and at <= held.at:
            return False
        self._quotes[(symbol, bot_id)] = Quote(price, at, source, bot_id)
        return True

    def get(self, symbol: str, bot_id: Owner = None) -> Quote | None:
        """The price held for exactly this owner (a bot's own, or the exchange's)."""
        return self._quotes.get((symbol, bot_id))

    def latest(self, symbol: str, bot_id: Owner) -> Quote | None:
        """The price a bot's stops act on: the newer of its own and the exchange's (for
        `bot_id=None`, the exchange's)."""
        feed = self._quotes.get((symbol, None))
        if bot_id is None:
            return feed
        own = self._quotes.get((symbol, bot_id))
        if own is None or (feed is not None and feed.at > own.at):
            return feed
        return own

    def age(self, symbol: str, now: datetime, bot_id: Owner = None) -> float | None:
        held = self.latest(symbol, bot_id)
        return None if held is None else (now - held.at).total_seconds()

    def is_fresh(self, at: datetime, now: datetime) -> bool:
        return (now - at).total_seconds() <= self.max_age

    def fresh(self, symbol: str, now: datetime, bot_id: Owner = None) -> Quote | None:
        """The price the bot's stops act on (`latest`) if it is not stale."""
        held = self.latest(symbol, bot_id)
        if held is None or not self.is_fresh(held.at, now):
            return None
        return held

    def stale(self, pairs: Iterable[tuple[str, Owner]], now: datetime) -> dict[str, float | None]:
        """Of the symbols of `pairs` (symbol, bot), those where some bot has no fresh price:
        symbol -> the oldest such age in seconds (None: no price seen at all)."""
        found: dict[str, float | None] = {}
        for symbol, bot_id in pairs:
            age = self.age(symbol, now, bot_id)
            if age is None or age > self.max_age:
                known = found.get(symbol, 0.0)
                found[symbol] = None if age is None or known is None else max(age, known)
        return found

    def oldest_age(self, pairs: Iterable[tuple[str, Owner]], now: datetime) -> float | None:
        """Age of the oldest price among `pairs` (inf when one has none), None if no pairs."""
        oldest: float | None = None
        for symbol, bot_id in pairs:
            age = self.age(symbol, now, bot_id)
            value = float("inf") if age is None else age
            oldest = value if oldest is None else max(oldest, value)
        return oldest
