"""Every query the product makes. Services call these; handlers never touch the ORM."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import DBConnectionError, IntegrityError, OperationalError
from tortoise.expressions import F, Q
from tortoise.functions import Count, Max, Sum
from tortoise.transactions import in_transaction

from db import sql
from db.models import (
    AuditLog,
    BotPrice,
    CurrentPosition,
    Instrument,
    Order,
    PositionEntry,
    StrategyConfig,
    TradeHistory,
    TradingBot,
    UsedSignature,
    WebhookLog,
)
from trading import money
from trading.bots import BotConfig, BotSpec, format_size, new_webhook_key, parse_size
from trading.brokers.base import OrderFill
from trading.errors import InvalidRequest, NotFound
from trading.positions import FillOutcome, PositionState
from trading.protection import Protection, TakeProfit, load_take_profits
from trading.symbols import split_symbol
from trading.views import BotView, PositionView, TradeView

__all__ = ["STORAGE_ERRORS", "IntegrityError"]

# The database cannot be reached or answered with an error: callers answer "retry later".
STORAGE_ERRORS = (DBConnectionError, OperationalError, ConnectionError, OSError)

log = logging.getLogger(__name__)


class ConcurrentUpdate(Exception):
    """Another writer changed the position since it was read; reload and apply again."""


class OrderSettled(ConcurrentUpdate):
    """The pending order whose fill was being stored is no longer pending (someone else stored
    or failed it): applying the fill again cannot help."""


class AlertTaken(Exception):
    """The alert's webhook log row is no longer this execution's: it was finished, or another
    process's start-up recovery claimed it (`received|accepted` -> `recovering`) and executes
    the alert itself. Nothing of this execution was stored."""


# An alert's log row is its intake's to finish while it reads one of these (see `trading.recovery`)
ALERT_RUNNING = ("received", "accepted")
_ALERT_IS_RUNNING = '"id" = ? AND "status" IN (?, ?) AND "finished_at" IS NULL'


def _still_running(batch: sql.Batch, log_id: int) -> None:
    """Refuse the batch (AlertTaken) unless the alert's log row is still its intake's."""
    batch.execute(
        f'UPDATE "webhook_logs" SET "status" = "status" WHERE {_ALERT_IS_RUNNING}',
        log_id,
        *ALERT_RUNNING,
        require=AlertTaken(f"webhook log {log_id} is no longer running here"),
    )


class PositionClaimed(Exception):
    """The position is being closed by someone else (its claim is held and not expired), or it
    changed since it was read."""


# ---------------------------------------------------------------- bots


async def _strategy_params(bot_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = await StrategyConfig.filter(bot_id__in=bot_ids).order_by("id")
    params: dict[int, dict[str, Any]] = {}
    for row in rows:
        params[row.bot_id] = row.params  # type: ignore[attr-defined]
    return params


def _config(row: TradingBot, params: dict[str, Any]) -> BotConfig:
    return BotConfig(
        id=row.id,
        name=row.name,
        symbols=list(row.symbols),
        strategy=row.strategy,
        strategy_params=params,
        size_kind=row.size_kind,  # type: ignore[arg-type]
        size_value=row.size_value,
        direction=row.direction,  # type: ignore[arg-type]
        max_entries=row.max_entries,
        sl=row.sl,
        tp=row.tp,
        trail=row.trail,
        interval=row.interval,
        max_lag_seconds=row.max_lag_seconds,
        approval=row.approval,  # type: ignore[arg-type]
        paused=row.paused,
        webhook_key=row.webhook_key,
        passphrase=row.passphrase,
        allow_ips=list(row.allow_ips),
        risk=dict(row.risk),
        hmac_secret=row.hmac_secret,
        max_alerts_per_minute=row.max_alerts_per_minute,
    )


async def _configs(rows: list[TradingBot]) -> list[BotConfig]:
    params = await _strategy_params([row.id for row in rows])
    return [_config(row, params.get(row.id, {})) for row in rows]


def bot_view(bot: BotConfig, base_url: str) -> BotView:
    quote = split_symbol(bot.symbols[0])[1] if bot.symbols else ""
    return BotView(
        id=bot.id,
        name=bot.name,
        symbols=bot.symbols,
        strategy=bot.strategy,
        strategy_params=bot.strategy_params,
        size=format_size(bot.size_kind, bot.size_value, quote),
        direction=bot.direction,
        max_entries=bot.max_entries,
        sl=str(bot.sl) if bot.sl else None,
        tp=str(bot.tp) if bot.tp else None,
        trail=str(bot.trail) if bot.trail else None,
        max_lag_seconds=bot.max_lag_seconds,
        approval=bot.approval,
        paused=bot.paused,
        has_passphrase=bool(bot.passphrase),
        signed=bool(bot.hmac_secret),
        max_alerts_per_minute=bot.max_alerts_per_minute,
        webhook_url=f"{base_url}/webhook/{bot.webhook_key}",
    )


async def create_bot(spec: BotSpec) -> BotConfig:
    kind, value = parse_size(spec.size)
    async with in_transaction():
        if await TradingBot.filter(name=spec.name, deleted_at=None).exists():
            raise InvalidRequest(f"a bot named {spec.name!r} already exists")
        row = await TradingBot.create(
            name=spec.name,
            symbols=spec.symbols,
            strategy=spec.strategy,
            size_kind=kind,
            size_value=value,
            direction=spec.direction,
            max_entries=spec.max_entries,
            sl=spec.sl,
            tp=spec.tp,
            trail=spec.trail,
            interval=spec.interval,
            max_lag_seconds=spec.max_lag_seconds,
            approval=spec.approval,
            webhook_key=new_webhook_key(),
            passphrase=spec.passphrase,
            hmac_secret=spec.hmac_secret,
            max_alerts_per_minute=spec.max_alerts_per_minute,
            allow_ips=spec.allow_ips,
            heartbeat_minutes=spec.heartbeat_minutes,
            break_even_after_tp1=spec.break_even_after_tp1,
        )
        await StrategyConfig.create(bot=row, strategy=spec.strategy, params=spec.strategy_params)
        for symbol in spec.symbols:
            await ensure_instrument(symbol)
    return _config(row, spec.strategy_params)


async def list_bots() -> list[BotConfig]:
    return await _configs(await TradingBot.filter(deleted_at=None).order_by("id"))


async def count_bots() -> int:
    return await TradingBot.filter(deleted_at=None).count()


_PARAMS_BY_KEY = (
    'SELECT "params" FROM "strategy_configs" WHERE "bot_id" = (SELECT "id" FROM "trading_bots" '
    'WHERE "webhook_key" = ? AND "deleted_at" IS NULL) ORDER BY "id" DESC LIMIT 1'
)


async def bot_by_key(key: str) -> BotConfig | None:
    """The bot a webhook key belongs to (every alert asks: lean SQL, one trip)."""
    names, select = sql.select_all(TradingBot)
    batch = sql.Batch()
    batch.fetch(f'{select} WHERE "webhook_key" = ? AND "deleted_at" IS NULL', key)
    batch.fetch(_PARAMS_BY_KEY, key)
    bots, params = await sql.run(batch)
    if not bots:
        return None
    row = SimpleNamespace(**sql.decode(TradingBot, bots[0], names))
    field = StrategyConfig._meta.fields_map["params"]
    return _config(row, field.to_python_value(params[0][0]) if params else {})  # type: ignore[arg-type]


async def bot_by_name(name: str) -> BotConfig:
    row = await TradingBot.get_or_none(name=name, deleted_at=None)
    if row is None:
        raise NotFound(f"no bot named {name!r}")
    return (await _configs([row]))[0]


async def bot_by_id(bot_id: int) -> BotConfig:
    """Deleted bots too: their orders and trades still name them."""
    row = await TradingBot.get_or_none(id=bot_id)
    if row is None:
        raise NotFound(f"no bot with id {bot_id}")
    return (await _configs([row]))[0]


async def active_bot_by_id(bot_id: int) -> BotConfig | None:
    row = await TradingBot.get_or_none(id=bot_id, deleted_at=None)
    return (await _configs([row]))[0] if row else None


async def set_paused(name: str, paused: bool) -> BotConfig:
    updated = await TradingBot.filter(name=name, deleted_at=None).update(paused=paused)
    if not updated:
        raise NotFound(f"no bot named {name!r}")
    return await bot_by_name(name)


async def set_monitoring(
    name: str, *, heartbeat_minutes: int | None, break_even_after_tp1: bool
) -> None:
    """What the monitor watches for a bot: the alert heartbeat (None: none) and the move of
    the stop-loss to break-even after the first take-profit."""
    if heartbeat_minutes is not None and not 1 <= heartbeat_minutes <= 10080:
        raise InvalidRequest("heartbeat must be between 1 minute and 7 days")
    updated = await TradingBot.filter(name=name, deleted_at=None).update(
        heartbeat_minutes=heartbeat_minutes, break_even_after_tp1=break_even_after_tp1
    )
    if not updated:
        raise NotFound(f"no bot named {name!r}")


async def break_even_after_tp1(bot_id: int) -> bool:
    row = await TradingBot.get_or_none(id=bot_id)
    return bool(row and row.break_even_after_tp1)


@dataclass(frozen=True, slots=True)
class HeartbeatBot:
    id: int
    name: str
    minutes: int
    created_at: datetime


async def heartbeat_bots() -> list[HeartbeatBot]:
    """Active bots that expect an alert at least every N minutes."""
    rows = await TradingBot.filter(
        heartbeat_minutes__isnull=False, deleted_at=None, paused=False
    ).order_by("id")
    return [
        HeartbeatBot(row.id, row.name, int(row.heartbeat_minutes or 0), row.created_at)
        for row in rows
    ]


async def alert_since(bot_id: int, since: datetime) -> datetime | None:
    """When the bot's latest alert after `since` arrived (refused requests do not count);
    None when none came. Bounded by the rows received since then (indexed on received_at)."""
    row = (
        await WebhookLog.filter(bot_id=bot_id, received_at__gt=since)
        .exclude(status="refused")
        .order_by("-received_at")
        .first()
    )
    return row.received_at if row else None


HEARTBEAT_ACTIONS = ("monitor.heartbeat_missed", "monitor.heartbeat_resumed")


async def last_heartbeat_notice(bot_name: str) -> tuple[str, datetime] | None:
    """The latest heartbeat warning or all-clear recorded for a bot, so a restarted monitor
    neither repeats a warning nor forgets to give the all-clear."""
    row = (
        await AuditLog.filter(action__in=HEARTBEAT_ACTIONS, target=bot_name).order_by("-id").first()
    )
    return (row.action, row.created_at) if row else None


async def set_hmac_secret(name: str, secret: str | None) -> BotConfig:
    updated = await TradingBot.filter(name=name, deleted_at=None).update(hmac_secret=secret)
    if not updated:
        raise NotFound(f"no bot named {name!r}")
    return await bot_by_name(name)


async def rotate_key(name: str) -> BotConfig:
    updated = await TradingBot.filter(name=name, deleted_at=None).update(
        webhook_key=new_webhook_key()
    )
    if not updated:
        raise NotFound(f"no bot named {name!r}")
    return await bot_by_name(name)


# ---------------------------------------------------------------- instruments and prices


# (database, symbol) -> (base, quote) of instruments known to exist. An instrument row is never
# deleted and its base and quote never change, so this is a plain cache, true in every process.
_instruments: dict[tuple[tuple[Any, ...], str], tuple[str, str]] = {}


def _database() -> tuple[Any, ...]:
    """Which database the default connection is (a process may open several in its life).
    Inside a transaction the connection is a wrapper: its parent client names the database."""
    connection = Tortoise.get_connection("default")
    connection = getattr(connection, "_parent", connection)
    names = ("filename", "host", "port", "database")
    return tuple(getattr(connection, name, None) for name in names)


async def ensure_instrument(symbol: str) -> tuple[str, str]:
    cache_key = (_database(), symbol)
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


# Whose prices move whose stops (SPEC §5). An alert's price is its bot's: `bot_prices` holds the
# last one per bot and symbol, and only that bot's stops act on it (in a monitor of any process).
# The exchange's prices (tickers) move every bot's stops; they are stored in `instruments` with
# this source, and alerts never write there. A bot's orders without a price and its positions'
# unrealized PnL use the newer of its own price and the symbol's (`newest`). (An `instruments` row
# whose source is not the exchange's was written by an alert before prices were kept per bot: it
# prices and values positions like an exchange price would, but no monitor acts on it.)
EXCHANGE_SOURCE = "ticker"


async def record_price(
    symbol: str, price: Decimal, at: datetime, source: str, bot_id: int | None = None
) -> None:
    """Store a price (lean SQL): an alert's as its bot's own (`bot_id`), never where another
    bot's orders, stops or figures would take it; one without a bot (the exchange's) as the
    symbol's, which every bot uses."""
    batch = sql.Batch()
    if bot_id is not None:
        _bot_price_upsert(batch, bot_id, symbol, price, at, source)
    else:
        _price_update(batch, symbol, price, at, source)
    await sql.run(batch)


def _price_update(batch: sql.Batch, symbol: str, price: Decimal, at: datetime, source: str) -> None:
    """The one rule for price writes: an older price never replaces a newer one (an approved
    alert's price, a late ticker poll)."""
    batch.update(
        Instrument,
        {"last_price": price, "last_price_at": at, "last_price_source": source},
        '"symbol" = ? AND ("last_price_at" IS NULL OR "last_price_at" <= ?)',
        symbol,
        at,
    )


def _bot_price_upsert(
    batch: sql.Batch, bot_id: int, symbol: str, price: Decimal, at: datetime, source: str
) -> None:
    """The bot's own last price in the symbol, by the same rule as `_price_update` (one
    statement: SQLite and PostgreSQL both have INSERT … ON CONFLICT DO UPDATE … WHERE)."""
    fields = BotPrice._meta.fields_map
    batch.execute(
        'INSERT INTO "bot_prices" ("bot_id", "symbol", "price", "seen_at", "source") '
        "VALUES (?, ?, ?, ?, ?) "
        'ON CONFLICT ("bot_id", "symbol") DO UPDATE SET "price" = excluded."price", '
        '"seen_at" = excluded."seen_at", "source" = excluded."source" '
        'WHERE "bot_prices"."seen_at" <= excluded."seen_at"',
        bot_id,
        symbol,
        sql.encode(fields["price"], price),
        sql.encode(fields["seen_at"], at),
        sql.encode(fields["source"], source),
    )


async def last_price(symbol: str, bot_id: int | None = None) -> Decimal | None:
    """The price an order without one fills at. For a bot (`bot_id`): the newer of its own
    alerts' price and the symbol's (the exchange's: alerts do not write it), so another bot's
    alert price never prices my order (SPEC §5). Without a bot: the symbol's."""
    row = await Instrument.get_or_none(symbol=symbol)
    shared = (
        _shared_price(row.last_price, row.last_price_at, row.last_price_source) if row else None
    )
    own = await BotPrice.get_or_none(bot_id=bot_id, symbol=symbol) if bot_id else None
    return newest(shared, (own.seen_at, own.price) if own is not None else None)


def _shared_price(
    price: Decimal | None, at: datetime | None, source: str | None
) -> tuple[datetime, Decimal] | None:
    """The symbol's price as a bot may use it: the exchange's. A row an alert wrote before
    prices were kept per bot (another bot's, perhaps) counts only where nothing else is known:
    it is given the oldest time, so any price of the bot's own or the exchange's wins."""
    if price is None:
        return None
    return ((at or _LONG_AGO) if source == EXCHANGE_SOURCE else _LONG_AGO, price)


_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)  # a price stored without its time: the oldest


def newest(
    shared: tuple[datetime, Decimal] | None, own: tuple[datetime, Decimal] | None
) -> Decimal | None:
    """The price a bot acts on: the newer of its own and the symbol's (exchange) price."""
    known = [pair for pair in (shared, own) if pair is not None]
    return max(known, key=lambda pair: pair[0])[1] if known else None


Stored = tuple[Decimal, datetime, str]


async def stored_prices(
    symbols: list[str],
) -> tuple[dict[str, Stored], dict[tuple[int, str], Stored]]:
    """The prices a monitor acts on, as stored by every process, in one read: the exchange's
    (symbol -> (price, seen at, source)) and each bot's own alert prices ((bot id, symbol) ->
    …). An instrument row whose latest price came from an alert is no exchange price."""
    marks = ", ".join("?" for _ in symbols)
    batch = sql.Batch()
    batch.fetch(
        'SELECT "symbol", "last_price", "last_price_at", "last_price_source" FROM "instruments" '
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


def _exact(value: Any) -> Decimal:
    """A stored price as it is: no quantizing in the 28-digit context, which raises on the
    largest prices a column holds (a monitor must not choke on any price a sender may send)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


_SEEN_AT = ("seen_at",)


def _seen_at(value: Any) -> datetime:
    return sql.decode(BotPrice, (value,), _SEEN_AT)["seen_at"]


async def record_prices(quotes: dict[str, tuple[Decimal, datetime]], source: str) -> None:
    """Store the exchange's prices of a ticker poll in one transaction (`_price_update` for
    each); with `EXCHANGE_SOURCE` every bot's stops act on them."""
    if not quotes:
        return
    batch = sql.Batch()
    for symbol, (price, at) in quotes.items():
        _price_update(batch, symbol, price, at, source)
    await sql.run(batch)


# ---------------------------------------------------------------- positions


@dataclass(frozen=True, slots=True)
class StoredPosition:
    # A `sql.Ref` instead of an int while the fill that opened the position is not committed
    # (an in-flight position: `FillWrite.after`); a loaded position always has its int id.
    id: int
    version: int
    state: PositionState
    sl: Decimal | None
    tp: Decimal | None
    trail: str | None
    take_profits: tuple[TakeProfit, ...] = ()
    trail_peak: Decimal | None = None
    trail_stop: Decimal | None = None
    closing_token: str | None = None  # who is closing it (the client order id of that order)
    closing_at: datetime | None = None
    bot_id: int = 0
    symbol: str = ""

    @property
    def protection(self) -> Protection:
        return Protection(
            sl=self.sl,
            tp=self.tp,
            trail=self.trail,
            take_profits=self.take_profits,
            trail_peak=self.trail_peak,
            trail_stop=self.trail_stop,
        )

    def claimed_by_other(self, token: str | None, now: datetime, ttl: float) -> bool:
        """Whether someone else holds an unexpired claim on the position."""
        return _claimed(self.closing_token, self.closing_at, token, now, ttl)

    @property
    def levels(self) -> PositionLevels:
        return PositionLevels(
            id=self.id,
            version=self.version,
            bot_id=self.bot_id,
            symbol=self.symbol,
            side=self.state.side,
            avg_price=self.state.avg_price,
            sl=self.sl,
            tp=self.tp,
            trail=self.trail,
            take_profits=self.take_profits,
            trail_peak=self.trail_peak,
            closing_token=self.closing_token,
            closing_at=self.closing_at,
        )


def _claimed(
    held: str | None, at: datetime | None, token: str | None, now: datetime, ttl: float
) -> bool:
    if held is None or held == token:
        return False
    return at is not None and now - at < timedelta(seconds=ttl)


@dataclass(frozen=True, slots=True)
class PositionLevels:
    """What the monitor reads of a position: its levels, not its books (cheap to load by the
    hundred thousand)."""

    id: int
    version: int
    bot_id: int
    symbol: str
    side: str
    avg_price: Decimal
    sl: Decimal | None
    tp: Decimal | None
    trail: str | None
    take_profits: tuple[TakeProfit, ...]
    trail_peak: Decimal | None
    closing_token: str | None
    closing_at: datetime | None

    def claimed_by_other(self, token: str | None, now: datetime, ttl: float) -> bool:
        return _claimed(self.closing_token, self.closing_at, token, now, ttl)


_LEVEL_COLUMNS = (
    "id",
    "version",
    "bot_id",
    "symbol",
    "side",
    "avg_price",
    "sl",
    "tp",
    "trail",
    "take_profits",
    "trail_peak",
    "closing_token",
    "closing_at",
)


def _levels(row: tuple[Any, ...]) -> PositionLevels:
    values = dict(zip(_LEVEL_COLUMNS, row, strict=True))
    values["take_profits"] = load_take_profits(values["take_profits"])
    return PositionLevels(**values)


def _state(row: CurrentPosition) -> PositionState:
    return PositionState(
        side=row.side,  # type: ignore[arg-type]
        qty=row.qty,
        avg_price=row.avg_price,
        entries=row.entries,
        opened_qty=row.opened_qty,
        opened_at=row.opened_at,
        exit_qty=row.exit_qty,
        exit_value=row.exit_value,
        realized_pnl=row.realized_pnl,
        fees=row.fees,
    )


def _stored(row: CurrentPosition) -> StoredPosition:
    return StoredPosition(
        row.id,
        row.version,
        _state(row),
        row.sl,
        row.tp,
        row.trail,
        take_profits=load_take_profits(row.take_profits),
        trail_peak=row.trail_peak,
        trail_stop=row.trail_stop,
        closing_token=row.closing_token,
        closing_at=row.closing_at,
        bot_id=row.bot_id,  # type: ignore[attr-defined]
        symbol=row.symbol,
    )


async def load_position(bot_id: int, symbol: str) -> StoredPosition | None:
    """A bot's open position in a symbol (several times per alert: lean SQL)."""
    names, select = sql.select_all(CurrentPosition)
    batch = sql.Batch()
    batch.fetch(f'{select} WHERE "bot_id" = ? AND "symbol" = ?', bot_id, symbol)
    (rows,) = await sql.run(batch)
    if not rows:
        return None
    return _stored(SimpleNamespace(**sql.decode(CurrentPosition, rows[0], names)))  # type: ignore[arg-type]


async def watched_positions() -> list[PositionLevels]:
    """Every open position with a stop, a target or a trailing stop (the monitor's index)."""
    rows = (
        await CurrentPosition.filter(
            Q(sl__isnull=False) | Q(tp__isnull=False) | Q(trail__isnull=False)
        )
        .order_by("id")
        .values_list(*_LEVEL_COLUMNS)
    )
    return [_levels(row) for row in rows]


async def positions_fingerprint() -> tuple[int, int, int]:
    """(count, highest id, sum of versions) of open positions: changes whenever a position is
    opened, closed, filled or has its levels changed, for one cheap query."""
    rows = (
        await CurrentPosition.all()
        .annotate(n=Count("id"), top=Max("id"), versions=Sum("version"))
        .values("n", "top", "versions")
    )
    row = rows[0] if rows else {}
    return int(row.get("n") or 0), int(row.get("top") or 0), int(row.get("versions") or 0)


async def position_versions() -> dict[int, int]:
    """id -> version of every open position: what changed since the monitor last looked."""
    rows = await CurrentPosition.all().values_list("id", "version")
    return {int(pid): int(version) for pid, version in rows}


async def positions_touched_since(since: datetime) -> list[PositionLevels]:
    """Positions opened, filled or given new levels since `since` (by `updated_at`)."""
    rows = await CurrentPosition.filter(updated_at__gte=since).values_list(*_LEVEL_COLUMNS)
    return [_levels(row) for row in rows]


async def positions_of(position_ids: list[int]) -> list[PositionLevels]:
    rows = await CurrentPosition.filter(id__in=position_ids).values_list(*_LEVEL_COLUMNS)
    return [_levels(row) for row in rows]


@dataclass(frozen=True, slots=True)
class Claim:
    """Claim a position before sending an order that closes (part of) it, so one closer acts
    at a time across processes; a claim older than `ttl` seconds is a crashed closer's."""

    position_id: int
    version: int
    token: str
    at: datetime
    ttl: float


def _take_claim(batch: sql.Batch, claim: Claim) -> None:
    """Claim the position unless someone else holds an unexpired claim (PositionClaimed)."""
    expired = claim.at - timedelta(seconds=claim.ttl)
    batch.update(
        CurrentPosition,
        {"closing_token": claim.token, "closing_at": claim.at},
        '"id" = ? AND "version" = ? AND ("closing_token" IS NULL OR "closing_at" < ?)',
        claim.position_id,
        claim.version,
        expired,
        require=PositionClaimed(f"position {claim.position_id} is claimed or changed"),
    )


async def release_claim(position_id: int, token: str) -> None:
    """Give a claim back (the order it guarded traded nothing)."""
    await CurrentPosition.filter(id=position_id, closing_token=token).update(
        closing_token=None, closing_at=None
    )


async def position_by_id(position_id: int) -> tuple[int, str] | None:
    """(bot id, symbol) of an open position."""
    row = await CurrentPosition.get_or_none(id=position_id)
    return (row.bot_id, row.symbol) if row else None  # type: ignore[attr-defined]


async def open_positions_of(bot_id: int) -> list[str]:
    return await CurrentPosition.filter(bot_id=bot_id).values_list("symbol", flat=True)  # type: ignore[return-value]


def _decoded(model: type[Any], rows: list[Any], names: tuple[str, ...]) -> list[SimpleNamespace]:
    """Rows of `model` decoded one by one: a row that cannot be read (a value no column type
    allows, written by hand) is left out and logged, and never hides the others."""
    decoded = []
    for row in rows:
        try:
            decoded.append(SimpleNamespace(**sql.decode(model, row, names)))
        except Exception:
            log.exception("%s row id=%r cannot be read: left out", model.__name__, row[0])
    return decoded


def _filters(bot_name: str | None, **equal: Any) -> tuple[str, list[Any]]:
    """A WHERE clause (empty when nothing to filter) on the bot's name and equal columns."""
    where, params = [], []
    if bot_name:
        where.append('"bot_id" IN (SELECT "id" FROM "trading_bots" WHERE "name" = ?)')
        params.append(bot_name)
    for column, value in equal.items():
        if value is not None:
            where.append(f'"{column}" = ?')
            params.append(value)
    return (f" WHERE {' AND '.join(where)}" if where else ""), params


async def _bot_names(bot_ids: set[int]) -> dict[int, str]:
    return dict(await TradingBot.filter(id__in=bot_ids).values_list("id", "name"))  # type: ignore[arg-type]


async def list_positions(
    bot_name: str | None = None, position_id: int | None = None
) -> list[PositionView]:
    """Open positions (oldest first) with their unrealized PnL at the symbol's last price.

    Every stored value works (`trading.money`), and rows are read and shown one by one: a row
    that cannot be read is left out, one whose PnL cannot be computed is shown without it, each
    logged. One bad position never breaks `/positions`, `/status`, `/pnl` or `GET /positions`
    for every bot."""
    names, select = sql.select_all(CurrentPosition)
    where, params = _filters(bot_name, id=position_id)
    batch = sql.Batch()
    batch.fetch(f'{select}{where} ORDER BY "id"', *params)
    (raw,) = await sql.run(batch)
    rows = _decoded(CurrentPosition, raw, names)
    bots = await _bot_names({row.bot_id for row in rows})
    prices = await _last_prices(sorted({row.symbol for row in rows}))
    views = []
    for row in rows:
        shared, own = prices
        price = newest(shared.get(row.symbol), own.get((row.bot_id, row.symbol)))
        try:
            views.append(_position_view(row, bots.get(row.bot_id, "?"), price))
        except Exception:
            log.exception("position #%s %s cannot be shown: left out", row.id, row.symbol)
    return views


async def _last_prices(
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
        row.symbol: _shared_price(row.last_price, row.last_price_at, row.last_price_source)
        for row in _decoded(
            Instrument,
            shared_raw,
            ("id", "symbol", "last_price", "last_price_at", "last_price_source"),
        )
    }
    own = {
        (row.bot_id, row.symbol): (row.seen_at, row.price)
        for row in _decoded(BotPrice, own_raw, ("id", "bot_id", "symbol", "price", "seen_at"))
    }
    return shared, own


def _position_view(row: Any, bot: str, price: Decimal | None) -> PositionView:
    unrealized = None
    if price is not None:
        try:
            unrealized = _state(row).unrealized_pnl(price)
        except ArithmeticError:
            log.exception("position #%s: unrealized PnL at %s cannot be computed", row.id, price)
    return PositionView(
        id=row.id,
        bot=bot,
        symbol=row.symbol,
        side=row.side,
        qty=row.qty,
        avg_price=row.avg_price,
        entries=row.entries,
        opened_at=row.opened_at,
        sl=row.sl,
        tp=row.tp,
        trail=row.trail,
        realized_pnl=row.realized_pnl,
        fees=row.fees,
        last_price=price,
        unrealized_pnl=unrealized,
        quote=row.quote,
    )


# ---------------------------------------------------------------- orders and fills


async def create_order(
    *,
    client_order_id: str,
    bot_id: int,
    symbol: str,
    side: str,
    qty: Decimal,
    price: Decimal,
    broker: str,
    intent: str,
    reason: str,
    webhook_log_id: int | None,
    claim: Claim | None = None,
    refused: str | None = None,
    running_alert: int | None = None,
) -> int:
    """Write the order row before the broker is called. With `claim`, the position is claimed
    in the same transaction (PositionClaimed if someone else holds it): no closing order is
    ever sent by two closers. With `refused` (the reason), the row of an order an instant broker
    refused, stored as rejected. With `running_alert` (its log id), only while the intake still
    runs that alert (AlertTaken once another process's recovery claimed it)."""
    fields: dict[str, Any] = {
        "client_order_id": client_order_id,
        "bot_id": bot_id,
        "symbol": symbol,
        "side": side,
        "qty": qty,
        "price": price,
        "broker": broker,
        "intent": intent,
        "reason": reason,
        "webhook_log_id": webhook_log_id,
    }
    if refused is not None:
        fields.update(status="rejected", error=refused[:2000])
    batch = sql.Batch()
    if running_alert is not None:
        _still_running(batch, running_alert)
    if claim is not None:
        _take_claim(batch, claim)
    order = batch.insert(Order, fields)
    results = await sql.run(batch)
    return int(results[order.index])


async def finish_order(order_id: int, status: str, error: str) -> None:
    await Order.filter(id=order_id, status="pending").update(status=status, error=error[:2000])


async def pending_order(client_order_id: str) -> Order | None:
    return await Order.get_or_none(client_order_id=client_order_id, status="pending")


async def pending_orders() -> list[Order]:
    return await Order.filter(status="pending").order_by("id")


async def order_by_id(order_id: int) -> Order:
    return await Order.get(id=order_id)


@dataclass(frozen=True, slots=True)
class FillWrite:
    """A fill's statements, and the ids they store: the open position afterwards (None when
    flat) and the order, each a `sql.Ref` while the batch has not run."""

    batch: sql.Batch
    position: int | sql.Ref | None
    order: int | sql.Ref
    after: StoredPosition | None  # the position as this batch leaves it (None: flat)
    # what it adds to its currency's realized PnL and exposure (see `DbPaperLedger`)
    account_moves: tuple[Decimal, Decimal]

    async def ids(self, results: Awaitable[list[Any]]) -> tuple[int | None, int]:
        """(open position id or None, order id) once `results` (the batch's) are in;
        ConcurrentUpdate if the batch was not stored because one it followed was not."""
        try:
            stored = await results
        except sql.DependencyFailed:
            raise ConcurrentUpdate("the fill it followed was not stored") from None
        position, order = self.position, self.order
        return (
            int(position.value(stored)) if isinstance(position, sql.Ref) else position,
            int(order.value(stored)) if isinstance(order, sql.Ref) else order,
        )


@dataclass(frozen=True, slots=True)
class PendingFill:
    """A fill submitted to the writer (`submit_fill`): `stored()` waits for its commit."""

    write: FillWrite
    future: asyncio.Future[list[Any]]

    async def stored(self) -> tuple[int | None, int]:
        """(open position id or None, order id) once committed; ConcurrentUpdate if it was not
        stored because the position changed. Shielded: a caller giving up (cancelled) must not
        cancel the commit's outcome for the orders planned on it."""
        return await self.write.ids(asyncio.shield(self.future))


async def record_fill(**fill: Any) -> tuple[int | None, int]:
    """`fill_write`, run: (the id of the open position afterwards, None when flat; the order's
    id) once committed."""
    write = fill_write(**fill)
    return await write.ids(sql.run(write.batch))


async def submit_fill(**fill: Any) -> PendingFill:
    """`fill_write`, queued to the writer: its place is fixed now, its commit awaited later (see
    `sql.submit`), so the next order on the position can be planned meanwhile."""
    write = fill_write(**fill)
    return PendingFill(write, await sql.submit(write.batch))


def fill_write(
    *,
    order_id: int | None,
    fill: OrderFill,
    side: str,
    bot_id: int,
    symbol: str,
    quote: str,
    before: StoredPosition | None,
    outcome: FillOutcome,
    reason: str,
    stops: Protection,
    claim: str | None = None,
    finish_log: tuple[int, dict[str, Any]] | None = None,
    new_order: dict[str, Any] | None = None,
    follows: sql.Batch | None = None,
) -> FillWrite:
    """The statements that store a fill atomically: the order, the position, its entries and
    the closed trade, and with `finish_log` (id, fields) the outcome on the alert's webhook log
    row (one commit).

    The order is the pending row `order_id`, or with `new_order` (its fields) a row inserted
    here, filled: an instant broker's order (the paper broker) and its fill are one transaction.

    Running them raises ConcurrentUpdate if the position changed since `before` was read (the
    caller reloads and applies the fill again). A new order's fill is stored only while its
    alert's log row is still the intake's (AlertTaken: another process's recovery claimed it and
    executes the alert itself); a pending order's fill happened at the broker, and is stored
    whatever became of the row. A position left open gives back `claim`, the
    closer's claim on it. `before.id` may be a `sql.Ref` to a fill submitted earlier; with
    `follows` (the batch of the fill `before` is the outcome of, not committed when planned),
    the fill is not stored unless that one was.
    """
    levels: dict[str, Any] = {
        "sl": stops.sl,
        "tp": stops.tp,
        "trail": stops.trail,
        "take_profits": [level.to_json() for level in stops.take_profits],
    }
    if stops.sets_trail_peak or stops.trail is None:
        levels.update(trail_peak=stops.trail_peak, trail_stop=stops.trail_stop)
    batch = sql.Batch()  # one transaction, one trip to the database
    batch.follows = follows
    filled = {
        "status": "filled",
        "filled_qty": fill.qty,
        "avg_fill_price": fill.price,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "broker_order_id": fill.broker_order_id,
    }
    order: int | sql.Ref
    if new_order is not None:
        order = batch.insert(Order, {**new_order, **filled})
    elif order_id is not None:
        order = order_id
        batch.update(
            Order,
            {**filled, "updated_at": datetime.now(UTC)},
            '"id" = ? AND "status" = ?',
            order_id,
            "pending",
            require=OrderSettled(f"order {order_id} is no longer pending"),
        )
    else:
        raise ValueError("fill_write needs the pending order's id or a new order's fields")
    old_id: int | sql.Ref | None = before.id if before else None
    new_id: int | sql.Ref | None = None
    if before is not None:
        moved = ConcurrentUpdate(f"position {before.id} changed")
        if outcome.position is None or outcome.reopened:
            batch.execute(
                'DELETE FROM "current_positions" WHERE "id" = ? AND "version" = ?',
                before.id,
                before.version,
                require=moved,
            )
        else:
            state = outcome.position
            batch.update(
                CurrentPosition,
                {
                    "qty": state.qty,
                    "avg_price": state.avg_price,
                    "entries": state.entries,
                    "opened_qty": state.opened_qty,
                    "exit_qty": state.exit_qty,
                    "exit_value": state.exit_value,
                    "realized_pnl": state.realized_pnl,
                    "fees": state.fees,
                    **levels,
                    "version": before.version + 1,
                    "updated_at": fill.time,
                },
                '"id" = ? AND "version" = ?',
                before.id,
                before.version,
                require=moved,
            )
            new_id = before.id
            if claim is not None:
                batch.update(
                    CurrentPosition,
                    {"closing_token": None, "closing_at": None},
                    '"id" = ? AND "closing_token" = ?',
                    before.id,
                    claim,
                )
    if outcome.position is not None and new_id is None:
        state = outcome.position
        new_id = batch.insert(
            CurrentPosition,
            {
                "bot_id": bot_id,
                "symbol": symbol,
                "quote": quote,
                "side": state.side,
                "qty": state.qty,
                "avg_price": state.avg_price,
                "entries": state.entries,
                "opened_qty": state.opened_qty,
                "realized_pnl": state.realized_pnl,
                "fees": state.fees,
                **levels,
                "opened_at": state.opened_at,
            },
            on_conflict=ConcurrentUpdate(f"a position for {symbol} was opened meanwhile"),
        )
    if outcome.closed is not None and old_id is not None:
        batch.insert(
            TradeHistory,
            {
                "position_id": old_id,
                "bot_id": bot_id,
                "symbol": symbol,
                "quote": quote,
                "reason": reason,
                **outcome.closed.fields(),  # side, qty, prices, pnl, fees, entries, times
            },
        )
    for leg in outcome.legs:
        batch.insert(
            PositionEntry,
            {
                "position_id": new_id if leg.kind == "open" or old_id is None else old_id,
                "bot_id": bot_id,
                "order_id": order,
                "symbol": symbol,
                "kind": leg.kind,
                "side": side,
                "qty": leg.qty,
                "price": leg.price,
                "fee": leg.fee,
                "gross_pnl": leg.gross_pnl,
                "reason": reason,
                "created_at": fill.time,
            },
        )
    if finish_log is not None:
        outcome_fields = {**finish_log[1], "order_id": order}
        answered = outcome_fields.pop("http_status", None)
        if new_order is not None:  # nothing was sent anywhere: stored only if still running
            batch.update(
                WebhookLog,
                outcome_fields,
                _ALERT_IS_RUNNING,
                finish_log[0],
                *ALERT_RUNNING,
                require=AlertTaken(f"webhook log {finish_log[0]} is no longer running here"),
            )
        else:
            batch.update(WebhookLog, outcome_fields, '"id" = ?', finish_log[0])
        if answered is not None:  # unless the sender was answered 202 meanwhile
            batch.execute(
                'UPDATE "webhook_logs" SET "http_status" = ? '
                'WHERE "id" = ? AND "http_status" <> 202',
                answered,
                finish_log[0],
            )
    after = None
    if outcome.position is not None and new_id is not None:
        kept = before is not None and new_id is before.id  # updated, not inserted
        peak = (
            (stops.trail_peak, stops.trail_stop)
            if "trail_peak" in levels
            else (before.trail_peak, before.trail_stop)
            if kept and before is not None
            else (None, None)
        )
        after = StoredPosition(
            batch.ref(new_id) if isinstance(new_id, sql.Ref) and new_id.owner is None else new_id,  # type: ignore[arg-type]
            before.version + 1 if kept and before is not None else 0,
            outcome.position,
            stops.sl,
            stops.tp,
            stops.trail,
            take_profits=stops.take_profits,
            trail_peak=peak[0],
            trail_stop=peak[1],
            closing_token=before.closing_token if kept and before and claim is None else None,
            closing_at=before.closing_at if kept and before and claim is None else None,
            bot_id=bot_id,
            symbol=symbol,
        )
    return FillWrite(batch, new_id, order, after, _account_moves(before, outcome))


def _account_moves(before: StoredPosition | None, outcome: FillOutcome) -> tuple[Decimal, Decimal]:
    """What a fill adds to its currency's realized PnL and exposure, as `DbPaperLedger` derives
    them from stored rows: realized = closed trades + open positions' realized part, exposure =
    open positions' qty × entry price."""
    after = outcome.position
    with money.wide():  # exact for any stored position (`trading.money`)
        realized = (after.realized_pnl if after else Decimal(0)) - (
            before.state.realized_pnl if before else Decimal(0)
        )
        if outcome.closed is not None:
            realized += outcome.closed.pnl
        exposure = (after.qty * after.avg_price if after else Decimal(0)) - (
            before.state.qty * before.state.avg_price if before else Decimal(0)
        )
    return realized, exposure


async def update_stops(
    position_id: int, sl: Decimal | None, tp: Decimal | None, trail: str | None
) -> None:
    """Change a position's levels. The version moves so monitors in other processes see it."""
    async with in_transaction():
        row = await CurrentPosition.get_or_none(id=position_id)
        if row is None:
            raise NotFound(f"position #{position_id} is already closed")
        await CurrentPosition.filter(id=position_id).update(
            sl=sl, tp=tp, trail=trail, version=row.version + 1, updated_at=datetime.now(UTC)
        )


async def ratchet_trailing(
    symbol: str,
    side: str,
    peak: Decimal,
    seen_at: datetime,
    stops: dict[str, Decimal],
    bot_id: int | None = None,
) -> int:
    """Raise the stored best price of `side` positions of `symbol` that trail to `peak` (a price
    seen at `seen_at`), for every position opened before then whose best price is not as good;
    `stops` gives the trailing stop at `peak` per trail setting ("1%" -> stop). `bot_id`: whose
    price it was: a bot's own alert raises that bot's positions only; None (the exchange's)
    every bot's. One statement per trail setting, whatever the number of positions."""
    worse = "trail_peak__lt" if side == "long" else "trail_peak__gt"
    mine = {} if bot_id is None else {"bot_id": bot_id}
    changed = 0
    async with in_transaction():
        for trail, stop in stops.items():
            changed += (
                await CurrentPosition.filter(
                    symbol=symbol, side=side, trail=trail, opened_at__lte=seen_at, **mine
                )
                .filter(Q(trail_peak__isnull=True) | Q(**{worse: peak}))
                .update(trail_peak=peak, trail_stop=stop)
            )
    return changed


async def trail_settings(symbol: str, side: str, bot_id: int | None = None) -> list[str]:
    """The distinct trailing settings of open `side` positions of `symbol` (of one bot's)."""
    mine = {} if bot_id is None else {"bot_id": bot_id}
    rows = await (
        CurrentPosition.filter(symbol=symbol, side=side, trail__isnull=False, **mine)
        .distinct()
        .values_list("trail", flat=True)
    )
    return [str(row) for row in rows]


# ---------------------------------------------------------------- trades


async def list_trades(bot_name: str | None = None, limit: int = 50) -> list[TradeView]:
    """Closed trades, newest first; rows read one by one as `list_positions` does them."""
    names, select = sql.select_all(TradeHistory)
    where, params = _filters(bot_name)
    batch = sql.Batch()
    batch.fetch(f'{select}{where} ORDER BY "closed_at" DESC, "id" DESC LIMIT ?', *params, limit)
    (raw,) = await sql.run(batch)
    rows = _decoded(TradeHistory, raw, names)
    bots = await _bot_names({row.bot_id for row in rows})
    views = []
    for row in rows:
        try:
            views.append(
                TradeView(
                    id=row.id,
                    bot=bots.get(row.bot_id, "?"),
                    symbol=row.symbol,
                    side=row.side,
                    qty=row.qty,
                    entry_price=row.entry_price,
                    exit_price=row.exit_price,
                    pnl=row.pnl,
                    fees=row.fees,
                    entries=row.entries,
                    opened_at=row.opened_at,
                    closed_at=row.closed_at,
                    reason=row.reason,
                    quote=row.quote,
                )
            )
        except Exception:
            log.exception("trade #%s cannot be shown: left out", row.id)
    return views


# ---------------------------------------------------------------- paper ledger


class DbPaperLedger:
    """Paper account figures derived from stored rows (see `trading.brokers.paper`).

    Realized PnL is the sum of closed trades (`trade_history`, rows written once and never
    changed) plus the realized part of open positions. The closed part of one currency is kept
    with the count and highest id it covers, so the check before an opening order reads only the
    trades closed since (one small query, not the whole history); a count that does not add up
    (rows committed out of id order by another process) recomputes it from all rows.
    """

    def __init__(self) -> None:
        self._closed: dict[str, tuple[int, int, Decimal]] = {}  # quote -> (count, max id, sum)

    async def account(self, quote: str) -> tuple[Decimal, Decimal]:
        """(realized PnL, exposure) of one currency: before every opening order, so one trip
        of lean SQL reads the trades closed since last time and the open positions.

        On SQLite ids are handed out under the single writer's lock, so they grow in commit
        order and "id above the last one seen" is exact. Elsewhere a transaction can commit a
        lower id after a higher one, so the count is checked as well (and everything added up
        again when it does not match)."""
        seen = self._closed.get(quote)
        top = seen[1] if seen else 0
        batch = sql.Batch()
        batch.fetch(
            'SELECT "id", "pnl" FROM "trade_history" WHERE "quote" = ? AND "id" > ?', quote, top
        )
        batch.fetch(
            'SELECT "realized_pnl", "qty", "avg_price" FROM "current_positions" WHERE "quote" = ?',
            quote,
        )
        in_order = sql.ids_in_commit_order()
        if not in_order:
            batch.fetch('SELECT COUNT("id") FROM "trade_history" WHERE "quote" = ?', quote)
        new_rows, positions, *counted = await sql.run(batch)
        stored = money.from_column
        count = (seen[0] if seen else 0) + len(new_rows)
        closed = money.total(
            [seen[2] if seen else Decimal(0), *(stored(row[1]) for row in new_rows)]
        )
        if new_rows:
            top = max(int(row[0]) for row in new_rows)
        if counted and int(counted[0][0][0] or 0) != count:
            # rows committed out of id order by another process: add them all up again
            rows = await TradeHistory.filter(quote=quote).values_list("id", "pnl")
            count, closed = len(rows), money.total(pnl for _id, pnl in rows)
            top = max((int(row_id) for row_id, _pnl in rows), default=0)
        self._closed[quote] = (count, top, closed)
        realized, exposure = closed, Decimal(0)
        with money.wide():  # exact sums of any stored values (`trading.money`)
            for pnl, qty, price in positions:
                realized += stored(pnl)
                exposure += stored(qty) * stored(price)
        return realized, exposure

    async def realized(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        trades = await TradeHistory.all().values_list("quote", "pnl")
        positions = await CurrentPosition.all().values_list("quote", "realized_pnl")
        with money.wide():
            for currency, pnl in [*trades, *positions]:
                totals[currency] += pnl
        return dict(totals)

    async def exposure(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        rows = await CurrentPosition.all().values_list("quote", "qty", "avg_price")
        with money.wide():
            for currency, qty, price in rows:
                totals[currency] += qty * price
        return dict(totals)


# ---------------------------------------------------------------- webhook logs and audit


async def insert_webhook_log(
    *, price: tuple[str, Decimal, datetime, str] | None = None, **fields: Any
) -> int:
    """Insert a log row (every request: lean SQL). Raises IntegrityError when its `dedup_key`
    was seen before. With `price` (symbol, price, seen at, source), the alert's price is
    recorded in the same transaction as the price of the row's bot (`bot_id`), as
    `record_price` does: one commit for all."""
    batch = sql.Batch()
    row = batch.insert(WebhookLog, fields)
    if price is not None:
        await ensure_instrument(price[0])
        _bot_price_upsert(batch, fields["bot_id"], *price)
    return int((await sql.run(batch))[row.index])


async def update_webhook_log(log_id: int, **fields: Any) -> None:
    await WebhookLog.filter(id=log_id).update(**fields)


async def finish_alert_log(
    log_id: int, *, status: str, reason: str, order_id: int | None, answered: int | None
) -> bool:
    """Finish an alert's log row with an outcome that was not written with a fill: only while
    the row is still running (not finished by a fill's own commit, nor claimed by another
    process's recovery). `answered`: the answer code, kept at 202 if the sender got that
    meanwhile. False when the row was not the intake's to finish any more."""
    batch = sql.Batch()
    done = batch.update(
        WebhookLog,
        {
            "status": status,
            "reason": reason,
            "order_id": order_id,
            "finished_at": datetime.now(UTC),
        },
        _ALERT_IS_RUNNING,
        log_id,
        *ALERT_RUNNING,
    )
    if answered is not None:
        batch.execute(
            'UPDATE "webhook_logs" SET "http_status" = ? WHERE "id" = ? AND "http_status" <> 202',
            answered,
            log_id,
        )
    return bool((await sql.run(batch))[done])


async def webhook_log_by_dedup(dedup_key: str) -> WebhookLog | None:
    return await WebhookLog.get_or_none(dedup_key=dedup_key)


async def remember_signature(digest: str, bot_id: int, expires_at: datetime) -> bool:
    """Record an accepted webhook signature; False when it was used before (a replay). The
    primary key makes the check atomic across processes; expired rows are pruned on the way."""
    now = datetime.now(UTC)
    if secrets.randbelow(50) == 0:
        await UsedSignature.filter(expires_at__lt=now).delete()
    try:
        await UsedSignature.create(digest=digest, bot_id=bot_id, expires_at=expires_at)
    except IntegrityError:
        return False
    return True


async def bump_webhook_log(log_id: int, seen_at: datetime) -> bool:
    """Count one more identical refusal on an aggregated row (False if the row is gone)."""
    return bool(
        await WebhookLog.filter(id=log_id).update(
            repeat_count=F("repeat_count") + 1, last_seen_at=seen_at
        )
    )


@dataclass(frozen=True, slots=True)
class RecentRequest:
    """A webhook log row as /alerts shows it (`repeats`: identical refusals it stands for)."""

    id: int
    bot: str | None
    status: str
    action: str | None
    symbol: str | None
    reason: str | None
    received_at: datetime
    repeats: int


async def recent_webhook_logs(limit: int = 20, bot_name: str | None = None) -> list[RecentRequest]:
    query = WebhookLog.all().prefetch_related("bot").order_by("-id").limit(limit)
    if bot_name:
        query = query.filter(bot__name=bot_name)
    return [
        RecentRequest(
            id=row.id,
            bot=row.bot.name if row.bot else None,
            status=row.status,
            action=row.action,
            symbol=row.symbol,
            reason=row.reason,
            received_at=row.received_at,
            repeats=row.repeat_count,
        )
        for row in await query
    ]


async def audit(
    actor: str, action: str, target: str = "", outcome: str = "ok", **details: Any
) -> None:
    await AuditLog.create(
        actor=actor, action=action, target=target[:128], outcome=outcome, details=details
    )


async def ping() -> None:
    """Raise if the database does not answer."""
    await TradingBot.all().limit(1).values_list("id")


# ---------------------------------------------------------------- start-up recovery of alerts


@dataclass(frozen=True, slots=True)
class UnfinishedAlert:
    """A webhook-log row of an alert stored for execution that never finished (the process
    stopped in between); `trading.recovery` settles it at start-up."""

    id: int
    bot_id: int | None
    status: str
    alert: dict[str, Any] | None
    symbol: str | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class AlertOrder:
    """What start-up recovery reads of the order an alert sent (fits reconcile's PendingOrder)."""

    id: int
    client_order_id: str
    symbol: str
    status: str
    intent: str
    error: str | None
    created_at: datetime


async def unfinished_alerts(
    statuses: tuple[str, ...], *, received_after: datetime, received_before: datetime
) -> list[UnfinishedAlert]:
    """Log rows in one of `statuses` with no `finished_at`, received in the window, oldest first
    (bounded by the received_at index)."""
    rows = await WebhookLog.filter(
        received_at__gte=received_after,
        received_at__lt=received_before,
        status__in=list(statuses),
        finished_at__isnull=True,
    ).order_by("id")
    return [
        UnfinishedAlert(
            id=row.id,
            bot_id=row.bot_id,  # type: ignore[attr-defined]
            status=row.status,
            alert=dict(row.alert) if row.alert else None,
            symbol=row.symbol,
            received_at=row.received_at,
        )
        for row in rows
    ]


async def move_unfinished_log(
    log_id: int, expected: tuple[str, ...], new: str, **fields: Any
) -> bool:
    """Move a log row that has not finished from one of `expected` to `new`, with `fields`.
    A conditional update: of two processes racing for the row, exactly one gets True."""
    return bool(
        await WebhookLog.filter(
            id=log_id, status__in=list(expected), finished_at__isnull=True
        ).update(status=new, **fields)
    )


async def orders_of_alert(log_id: int) -> list[AlertOrder]:
    """The orders an alert's execution wrote (at most one in practice), oldest first."""
    rows = await Order.filter(webhook_log_id=log_id).order_by("id")
    return [
        AlertOrder(
            id=row.id,
            client_order_id=row.client_order_id,
            symbol=row.symbol,
            status=row.status,
            intent=row.intent,
            error=row.error,
            created_at=row.created_at,
        )
        for row in rows
    ]


async def prune_webhook_logs(before: datetime) -> int:
    """Delete `webhook_logs` rows received before `before` (retention); rows of alerts still
    running or waiting for approval are kept whatever their age. Returns how many went."""
    return int(
        await WebhookLog.filter(received_at__lt=before)
        .exclude(status__in=("received", "accepted", "pending_approval"))
        .delete()
    )
