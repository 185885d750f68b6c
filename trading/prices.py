"""Which stored price a bot acts on (SPEC §5).

An alert's price is its bot's: only that bot's stops act on it. The exchange's prices (tickers,
stored with `EXCHANGE_SOURCE`) move every bot's stops. A bot's orders without a price and its
positions' unrealized PnL use the newer of its own price and the symbol's (`newest`). (A symbol
price whose source is not the exchange's was written by an alert before prices were kept per
bot: it prices and values positions like an exchange price would, but only where nothing else is
known, and no monitor acts on it.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from trading.records import EXCHANGE_SOURCE

LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)  # a price stored without its time: the oldest


def shared_price(
    price: Decimal | None, at: datetime | None, source: str | None
) -> tuple[datetime, Decimal] | None:
    """The symbol's price as a bot may use it: the exchange's. A row an alert wrote before
    prices were kept per bot (another bot's, perhaps) counts only where nothing else is known:
    it is given the oldest time, so any price of the bot's own or the exchange's wins."""
    if price is None:
        return None
    return ((at or LONG_AGO) if source == EXCHANGE_SOURCE else LONG_AGO, price)


def newest(
    shared: tuple[datetime, Decimal] | None, own: tuple[datetime, Decimal] | None
) -> Decimal | None:
    """The price a bot acts on: the newer of its own and the symbol's (exchange) price."""
    known = [pair for pair in (shared, own) if pair is not None]
    return max(known, key=lambda pair: pair[0])[1] if known else None
