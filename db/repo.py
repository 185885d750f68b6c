"""Every query the product makes. Services call these; handlers never touch the ORM."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from db.models import (
    AuditLog,
    CurrentPosition,
    Instrument,
    Order,
    PositionEntry,
    StrategyConfig,
    TradeHistory,
    TradingBot,
    WebhookLog,
)
from trading.bots import BotConfig, BotSpec, format_size, new_webhook_key, parse_size
from trading.brokers.base import OrderFill
from trading.errors import InvalidRequest, NotFound
from trading.positions import FillOutcome, PositionState
from trading.symbols import split_symbol
from trading.views import BotView, PositionView, TradeView

__all__ = ["IntegrityError"]


class ConcurrentUpdate(Exception):
    """Another writer changed the position since it was read; reload and apply again."""


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
            allow_ips=spec.allow_ips,
        )
        await StrategyConfig.create(bot=row, strategy=spec.strategy, params=spec.strategy_params)
        for symbol in spec.symbols:
            await ensure_instrument(symbol)
    return _config(row, spec.strategy_params)


async def list_bots() -> list[BotConfig]:
    return await _configs(await TradingBot.filter(deleted_at=None).order_by("id"))


async def count_bots() -> int:
    return await TradingBot.filter(deleted_at=None).count()


async def bot_by_key(key: str) -> BotConfig | None:
    row = await TradingBot.get_or_none(webhook_key=key, deleted_at=None)
    return (await _configs([row]))[0] if row else None


async def bot_by_name(name: str) -> BotConfig:
    row = await TradingBot.get_or_none(name=name, deleted_at=None)
    if row is None:
        raise NotFound(f"no bot named {name!r}")
    return (await _configs([row]))[0]


async def bot_by_id(bot_id: int) -> BotConfig:
    row = await TradingBot.get_or_none(id=bot_id)
    if row is None:
        raise NotFound(f"no bot with id {bot_id}")
    return (await _configs([row]))[0]


async def set_paused(name: str, paused: bool) -> BotConfig:
    updated = await TradingBot.filter(name=name, deleted_at=None).update(paused=paused)
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


async def ensure_instrument(symbol: str) -> tuple[str, str]:
    row = await Instrument.get_or_none(symbol=symbol)
    if row is None:
        base, quote = split_symbol(symbol)
        try:
            row = await Instrument.create(symbol=symbol, base=base, quote=quote)
        except IntegrityError:
            row = await Instrument.get(symbol=symbol)
    return row.base, row.quote


async def record_price(symbol: str, price: Decimal, at: datetime, source: str) -> None:
    await Instrument.filter(symbol=symbol).update(
        last_price=price, last_price_at=at, last_price_source=source
    )


async def last_price(symbol: str) -> Decimal | None:
    row = await Instrument.get_or_none(symbol=symbol)
    return row.last_price if row else None


# ---------------------------------------------------------------- positions


@dataclass(frozen=True, slots=True)
class StoredPosition:
    id: int
    version: int
    state: PositionState
    sl: Decimal | None
    tp: Decimal | None
    trail: str | None


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


async def load_position(bot_id: int, symbol: str) -> StoredPosition | None:
    row = await CurrentPosition.get_or_none(bot_id=bot_id, symbol=symbol)
    if row is None:
        return None
    return StoredPosition(row.id, row.version, _state(row), row.sl, row.tp, row.trail)


async def position_by_id(position_id: int) -> tuple[int, str] | None:
    """(bot id, symbol) of an open position."""
    row = await CurrentPosition.get_or_none(id=position_id)
    return (row.bot_id, row.symbol) if row else None  # type: ignore[attr-defined]


async def open_positions_of(bot_id: int) -> list[str]:
    return await CurrentPosition.filter(bot_id=bot_id).values_list("symbol", flat=True)  # type: ignore[return-value]


async def list_positions(bot_name: str | None = None) -> list[PositionView]:
    query = CurrentPosition.all().prefetch_related("bot").order_by("id")
    if bot_name:
        query = query.filter(bot__name=bot_name)
    rows = await query
    prices = {
        row.symbol: row.last_price
        for row in await Instrument.filter(symbol__in=[r.symbol for r in rows])
    }
    views = []
    for row in rows:
        price = prices.get(row.symbol)
        views.append(
            PositionView(
                id=row.id,
                bot=row.bot.name,
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
                unrealized_pnl=_state(row).unrealized_pnl(price) if price is not None else None,
                quote=row.quote,
            )
        )
    return views


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
) -> int:
    row = await Order.create(
        client_order_id=client_order_id,
        bot_id=bot_id,
        symbol=symbol,
        side=side,
        qty=qty,
        price=price,
        broker=broker,
        intent=intent,
        reason=reason,
        webhook_log_id=webhook_log_id,
    )
    return row.id


async def finish_order(order_id: int, status: str, error: str) -> None:
    await Order.filter(id=order_id, status="pending").update(status=status, error=error[:2000])


async def pending_orders() -> list[Order]:
    return await Order.filter(status="pending").order_by("id")


async def order_by_id(order_id: int) -> Order:
    return await Order.get(id=order_id)


async def record_fill(
    *,
    order_id: int,
    fill: OrderFill,
    side: str,
    bot_id: int,
    symbol: str,
    quote: str,
    before: StoredPosition | None,
    outcome: FillOutcome,
    reason: str,
    stops: tuple[Decimal | None, Decimal | None, str | None],
) -> int | None:
    """Store a fill atomically: the order, the position, its entries and the closed trade.

    Returns the id of the open position afterwards (None when flat). Raises ConcurrentUpdate if
    the position changed since `before` was read (the caller reloads and applies the fill again).
    """
    sl, tp, trail = stops
    async with in_transaction():
        updated = await Order.filter(id=order_id, status="pending").update(
            status="filled",
            filled_qty=fill.qty,
            avg_fill_price=fill.price,
            fee=fill.fee,
            fee_currency=fill.fee_currency,
            broker_order_id=fill.broker_order_id,
        )
        if not updated:
            raise ConcurrentUpdate(f"order {order_id} is no longer pending")
        old_id = before.id if before else None
        new_id: int | None = None
        if before is not None:
            if outcome.position is None or outcome.reopened:
                changed = await CurrentPosition.filter(
                    id=before.id, version=before.version
                ).delete()
            else:
                state = outcome.position
                changed = await CurrentPosition.filter(id=before.id, version=before.version).update(
                    qty=state.qty,
                    avg_price=state.avg_price,
                    entries=state.entries,
                    opened_qty=state.opened_qty,
                    exit_qty=state.exit_qty,
                    exit_value=state.exit_value,
                    realized_pnl=state.realized_pnl,
                    fees=state.fees,
                    sl=sl,
                    tp=tp,
                    trail=trail,
                    version=before.version + 1,
                    updated_at=fill.time,
                )
                new_id = before.id
            if not changed:
                raise ConcurrentUpdate(f"position {before.id} changed")
        if outcome.position is not None and new_id is None:
            state = outcome.position
            try:
                row = await CurrentPosition.create(
                    bot_id=bot_id,
                    symbol=symbol,
                    quote=quote,
                    side=state.side,
                    qty=state.qty,
                    avg_price=state.avg_price,
                    entries=state.entries,
                    opened_qty=state.opened_qty,
                    realized_pnl=state.realized_pnl,
                    fees=state.fees,
                    sl=sl,
                    tp=tp,
                    trail=trail,
                    opened_at=state.opened_at,
                )
            except IntegrityError:
                raise ConcurrentUpdate(f"a position for {symbol} was opened meanwhile") from None
            new_id = row.id
        if outcome.closed is not None and old_id is not None:
            trade = outcome.closed
            await TradeHistory.create(
                position_id=old_id,
                bot_id=bot_id,
                symbol=symbol,
                quote=quote,
                side=trade.side,
                qty=trade.qty,
                entry_price=trade.entry_price,
                exit_price=trade.exit_price,
                pnl=trade.pnl,
                fees=trade.fees,
                entries=trade.entries,
                opened_at=trade.opened_at,
                closed_at=trade.closed_at,
                reason=reason,
            )
        for leg in outcome.legs:
            position_id = new_id if leg.kind == "open" or old_id is None else old_id
            await PositionEntry.create(
                position_id=position_id,
                bot_id=bot_id,
                order_id=order_id,
                symbol=symbol,
                kind=leg.kind,
                side=side,
                qty=leg.qty,
                price=leg.price,
                fee=leg.fee,
                gross_pnl=leg.gross_pnl,
                reason=reason,
                created_at=fill.time,
            )
    return new_id


async def update_stops(
    position_id: int, sl: Decimal | None, tp: Decimal | None, trail: str | None
) -> None:
    await CurrentPosition.filter(id=position_id).update(sl=sl, tp=tp, trail=trail)


# ---------------------------------------------------------------- trades


async def list_trades(bot_name: str | None = None, limit: int = 50) -> list[TradeView]:
    query = TradeHistory.all().prefetch_related("bot").order_by("-closed_at", "-id").limit(limit)
    if bot_name:
        query = query.filter(bot__name=bot_name)
    return [
        TradeView(
            id=row.id,
            bot=row.bot.name,
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
        for row in await query
    ]


# ---------------------------------------------------------------- paper ledger


class DbPaperLedger:
    """Paper account figures derived from stored rows (see `trading.brokers.paper`)."""

    async def realized(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for quote, pnl in await TradeHistory.all().values_list("quote", "pnl"):
            totals[quote] += pnl
        for quote, pnl in await CurrentPosition.all().values_list("quote", "realized_pnl"):
            totals[quote] += pnl
        return dict(totals)

    async def exposure(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for quote, qty, price in await CurrentPosition.all().values_list(
            "quote", "qty", "avg_price"
        ):
            totals[quote] += qty * price
        return dict(totals)


# ---------------------------------------------------------------- webhook logs and audit


async def insert_webhook_log(**fields: Any) -> int:
    """Insert a log row. Raises IntegrityError when its `dedup_key` was seen before."""
    row = await WebhookLog.create(**fields)
    return row.id


async def update_webhook_log(log_id: int, **fields: Any) -> None:
    await WebhookLog.filter(id=log_id).update(**fields)


async def webhook_log_by_dedup(dedup_key: str) -> WebhookLog | None:
    return await WebhookLog.get_or_none(dedup_key=dedup_key)


async def recent_webhook_logs(limit: int = 20, bot_name: str | None = None) -> list[WebhookLog]:
    query = WebhookLog.all().prefetch_related("bot").order_by("-id").limit(limit)
    if bot_name:
        query = query.filter(bot__name=bot_name)
    return await query


async def audit(
    actor: str, action: str, target: str = "", outcome: str = "ok", **details: Any
) -> None:
    await AuditLog.create(
        actor=actor, action=action, target=target[:128], outcome=outcome, details=details
    )


async def ping() -> None:
    """Raise if the database does not answer."""
    await TradingBot.all().limit(1).values_list("id")
