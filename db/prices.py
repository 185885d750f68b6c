"""Instruments and last prices (the `PriceStore`): the exchange's per symbol in `instruments`,
each bot's own alert prices in `bot_prices`. Which one a bot acts on: `trading.prices`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from tortoise.exceptions import IntegrityError

from db import sql
from db.models import BotPrice, Instrument
from db.rows import decoded
from db.tortoise_seam import database_identity
from trading.ports import StoredPrice
from trading.prices import newest, shared_price
from trading.records import EXCHANGE_SOURCE
from trading.symbols import split_symbol

# (database, symbol) -> (base, quote) of instruments known to exist. An instrument row is never
# deleted and its base and quote never change, so this is a plain cache, true in every process.
_instruments: dict[tuple[tuple[Any, ...], str], tuple[str, str]] = {}


async def ensure_instrument(symbol: str) -> tuple[str, str]:
    cache_key = (database_identity(), symbol)
    known = _instruments.get(cache_key)
    if known is not None:
        return known
    row = await Instrument.get_or_none(symbol=symbol)
    if row is None:
        base, quote = split_symbol(symbol)
        try:
            row = await Instrument.create(symbol=symbol, base=base, quote=quote)
        except IntegrityError:
            row = await Instrument.get(symbol=symbol)
    _instruments[cache_key] = (row.base, row.quote)
    return row.base, row.quote


# Whose prices move whose stops (SPEC §5, `trading.prices`). An alert's price is its bot's:
# `bot_prices` holds the last one per bot and symbol, and only that bot's stops act on it. The
# exchange's prices (tickers) are stored in `instruments` with `EXCHANGE_SOURCE`, and alerts
# never write there.


def price_update(batch: sql.Batch, symbol: str, price: Decimal, at: datetime, source: str) -> None:
    """The one rule for price writes: an older price never replaces a newer one (an approved
    alert's price, a late ticker poll)."""
    batch.update(
        Instrument,
        {"last_price": price, "last_price_at": at, "last_price_source": source},
        '"symbol" = ? AND ("last_price_at" IS NULL OR "last_price_at" <= ?)',
        symbol,
        at,
    )


def bot_price_upsert(
    batch: sql.Batch, bot_id: int, symbol: str, price: Decimal, at: datetime, source: str
) -> None:
    """The bot's own last price in the symbol, by the same rule as `price_update` (one
    statement: SQLite and PostgreSQL both have INSERT … ON CONFLICT DO UPDATE … WHERE)."""
    price_field, seen_at_field, source_field = _upsert_fields()
    batch.execute(
        'INSERT INTO "bot_prices" ("bot_id", "symbol", "price", "seen_at", "source") '
        "VALUES (?, ?, ?, ?, ?) "
        'ON CONFLICT ("bot_id", "symbol") DO UPDATE SET "price" = excluded."price", '
        '"seen_at" = excluded."seen_at", "source" = excluded."source" '
        'WHERE "bot_prices"."seen_at" <= excluded."seen_at"',
        bot_id,
        symbol,
        sql.encode(price_field, price),
        sql.encode(seen_at_field, at),
        sql.encode(source_field, source),
    )


@cache
def _upsert_fields() -> tuple[Any, Any, Any]:
    """`BotPrice`'s price, seen_at and source fields (looked up once, not per alert)."""
    return (
        sql.field_of(BotPrice, "price"),
        sql.field_of(BotPrice, "seen_at"),
        sql.field_of(BotPrice, "source"),
    )


def _exact(value: Any) -> Decimal:
    """A stored price as it is: no quantizing in the 28-digit context, which raises on the
    largest prices a column holds (a monitor must not choke on any price a sender may send)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


_SEEN_AT = ("seen_at",)


def _seen_at(value: Any) -> datetime:
    return sql.decode(BotPrice, (value,), _SEEN_AT)["seen_at"]


async def valuation_prices(
    symbols: list[str],
) -> tuple[dict[str, tuple[datetime, Decimal]], dict[tuple[int, str], tuple[datetime, Decimal]]]:
    """The prices positions are valued at, in one read: the symbols' (exchange) prices and each
    bot's own alert prices, as (seen at, price); a position takes the newer of its symbol's and
    its bot's (`newest`), never another bot's."""
    if not symbols:
        return {}, {}
    batch = sql.Batch()
    marks = ", ".join("?" for _ in symbols)
    batch.fetch(
        f'SELECT "id", "symbol", "last_price", "last_price_at", "last_price_source" '
        f'FROM "instruments" '
        f'WHERE "symbol" IN ({marks}) AND "last_price" IS NOT NULL',
        *symbols,
    )
    batch.fetch(
        f'SELECT "id", "bot_id", "symbol", "price", "seen_at" FROM "bot_prices" '
        f'WHERE "symbol" IN ({marks})',
        *symbols,
    )
    shared_raw, own_raw = await sql.run(batch)
    shared = {
        row.symbol: shared_price(row.last_price, row.last_price_at, row.last_price_source)
        for row in decoded(
            Instrument,
            shared_raw,
            ("id", "symbol", "last_price", "last_price_at", "last_price_source"),
        )
    }
    own = {
        (row.bot_id, row.symbol): (row.seen_at, row.price)
        for row in decoded(BotPrice, own_raw, ("id", "bot_id", "symbol", "price", "seen_at"))
    }
    return shared, own


class SqlPriceStore:
    """`trading.ports.PriceStore` on the `instruments` and `bot_prices` tables."""

    async def ensure_instrument(self, symbol: str) -> tuple[str, str]:
        return await ensure_instrument(symbol)

    async def record_price(
        self, symbol: str, price: Decimal, at: datetime, source: str, bot_id: int | None = None
    ) -> None:
        """Store a price (lean SQL): an alert's as its bot's own (`bot_id`), never where another
        bot's orders, stops or figures would take it; one without a bot (the exchange's) as the
        symbol's, which every bot uses."""
        batch = sql.Batch()
        if bot_id is not None:
            bot_price_upsert(batch, bot_id, symbol, price, at, source)
        else:
            price_update(batch, symbol, price, at, source)
        await sql.run(batch)

    async def last_price(self, symbol: str, bot_id: int | None = None) -> Decimal | None:
        """The price an order without one fills at. For a bot (`bot_id`): the newer of its own
        alerts' price and the symbol's (the exchange's: alerts do not write it), so another
        bot's alert price never prices my order (SPEC §5). Without a bot: the symbol's."""
        row = await Instrument.get_or_none(symbol=symbol)
        shared = (
            shared_price(row.last_price, row.last_price_at, row.last_price_source) if row else None
        )
        own = await BotPrice.get_or_none(bot_id=bot_id, symbol=symbol) if bot_id else None
        return newest(shared, (own.seen_at, own.price) if own is not None else None)

    async def stored_prices(
        self, symbols: list[str]
    ) -> tuple[dict[str, StoredPrice], dict[tuple[int, str], StoredPrice]]:
        """The prices a monitor acts on, as stored by every process, in one read: the
        exchange's (symbol -> (price, seen at, source)) and each bot's own alert prices
        ((bot id, symbol) -> …). An instrument row whose latest price came from an alert is no
        exchange price."""
        marks = ", ".join("?" for _ in symbols)
        batch = sql.Batch()
        batch.fetch(
            'SELECT "symbol", "last_price", "last_price_at", "last_price_source" '
            'FROM "instruments" '
            f'WHERE "symbol" IN ({marks}) AND "last_price_source" = ? '
            'AND "last_price" IS NOT NULL AND "last_price_at" IS NOT NULL',
            *symbols,
            EXCHANGE_SOURCE,
        )
        batch.fetch(
            'SELECT "bot_id", "symbol", "price", "seen_at", "source" FROM "bot_prices" '
            f'WHERE "symbol" IN ({marks})',
            *symbols,
        )
        exchange_rows, bot_rows = await sql.run(batch)
        exchange = {
            str(symbol): (_exact(price), _seen_at(at), str(source))
            for symbol, price, at, source in exchange_rows
        }
        alerts = {
            (int(bot_id), str(symbol)): (_exact(price), _seen_at(at), str(source))
            for bot_id, symbol, price, at, source in bot_rows
        }
        return exchange, alerts

    async def record_prices(self, quotes: dict[str, tuple[Decimal, datetime]], source: str) -> None:
        """Store the exchange's prices of a ticker poll in one transaction (`price_update` for
        each); with `EXCHANGE_SOURCE` every bot's stops act on them."""
        if not quotes:
            return
        batch = sql.Batch()
        for symbol, (price, at) in quotes.items():
            price_update(batch, symbol, price, at, source)
        await sql.run(batch)
