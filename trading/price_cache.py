"""The last price per symbol, when it was observed and where it came from.

Prices arrive from alerts (in this process), from the `instruments` table (written by other
processes), and from the broker's tickers. A price that arrives replaces the one held unless it
is clearly older, so the sources can overlap in any order. A price older than `max_age` is
stale: the monitor acts on no stale price, and reports symbols whose last price went stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

SECOND_GRAIN = 1.0


@dataclass(frozen=True, slots=True)
class Quote:
    price: Decimal
    at: datetime  # when the price was observed (an alert's `time`, or its arrival)
    source: str  # alert | tick | instruments | ticker | …


class PriceCache:
    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._quotes: dict[str, Quote] = {}

    def put(self, symbol: str, price: Decimal, at: datetime, source: str) -> bool:
        """Hold a price that just arrived, unless it is clearly older than the one held (a late
        alert: a retry, an approval). "Clearly": by more than `SECOND_GRAIN`, since TradingView
        stamps alerts to the whole second while a price without a time is stamped on arrival.
        True when held."""
        held = self._quotes.get(symbol)
        if held is not None and (held.at - at).total_seconds() > SECOND_GRAIN:
            return False
        self._quotes[symbol] = Quote(price, at, source)
        return True

    def update(self, symbol: str, price: Decimal, at: datetime, source: str) -> bool:
        """Keep the price if it is newer than the one held; True when kept."""
        held = self._quotes.get(symbol)
        if held is not None and at <= held.at:
            return False
        self._quotes[symbol] = Quote(price, at, source)
        return True

    def get(self, symbol: str) -> Quote | None:
        return self._quotes.get(symbol)

    def age(self, symbol: str, now: datetime) -> float | None:
        held = self._quotes.get(symbol)
        return None if held is None else (now - held.at).total_seconds()

    def is_fresh(self, at: datetime, now: datetime) -> bool:
        return (now - at).total_seconds() <= self.max_age

    def fresh(self, symbol: str, now: datetime) -> Quote | None:
        """The held price if it is not stale."""
        held = self._quotes.get(symbol)
        if held is None or not self.is_fresh(held.at, now):
            return None
        return held

    def stale(self, symbols: list[str], now: datetime) -> dict[str, float | None]:
        """Of `symbols`, those without a fresh price: symbol -> age in seconds (None: no price
        seen at all)."""
        found: dict[str, float | None] = {}
        for symbol in symbols:
            age = self.age(symbol, now)
            if age is None or age > self.max_age:
                found[symbol] = age
        return found

    def oldest_age(self, symbols: list[str], now: datetime) -> float | None:
        """Age of the oldest price among `symbols` (inf when one has none), None if no symbols."""
        oldest: float | None = None
        for symbol in symbols:
            age = self.age(symbol, now)
            value = float("inf") if age is None else age
            oldest = value if oldest is None else max(oldest, value)
        return oldest
