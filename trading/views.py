"""What the read API and the chat show: plain pydantic views, money as decimal strings."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic import BaseModel, field_serializer

from trading.bots import BotConfig, format_size
from trading.money import at_limit, wide
from trading.money import plain as plain  # how every view writes a decimal (re-exported)
from trading.positions import PositionState
from trading.symbols import split_symbol

log = logging.getLogger(__name__)

# How a person reads a figure in a table or a log line (JSON keeps every digit: `plain`).
# Prices and quantities: at most 8 decimals (the finest step exchanges quote, one satoshi) and 8
# significant digits (exchanges quote prices to 5-8); more is float noise from a sender
# (43137.625199999995) or the tail of an average. Amounts in a quote currency (PnL, fees,
# equity): its cents, or 8 decimals for a crypto quote (BTC, ETH, BNB).
FIGURE_PLACES = 8
FIGURE_DIGITS = 8
CRYPTO_QUOTES = frozenset({"BTC", "ETH", "BNB"})


def _rounded(value: Decimal, places: int) -> Decimal:
    with wide():
        rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return rounded.copy_abs() if rounded.is_zero() else rounded  # never "-0"


def figure(value: Decimal) -> str:
    """A price or a quantity to read: `65000` (not `65000.000000000000`), `43137.625` (not
    `43137.625199999995`), `0.00001234`; every integer digit kept, trailing zeros dropped."""
    if not value.is_finite() or value.is_zero() or at_limit(value):
        return plain(value) if value.is_finite() else str(value)
    places = min(FIGURE_PLACES, max(0, FIGURE_DIGITS - value.adjusted() - 1))
    return plain(_rounded(value, places))


def quote_places(quote: str) -> int:
    """Decimals an amount of `quote` is shown with: 2 (USDT, USD, EUR…), 8 for a crypto quote."""
    return FIGURE_PLACES if quote.upper() in CRYPTO_QUOTES else 2


def amount(value: Decimal, quote: str, *, signed: bool = False) -> str:
    """An amount of `quote` (PnL, fees) to its cents: `3.50`, `+3.50` when `signed`."""
    if not value.is_finite():
        return str(value)
    rounded = _rounded(value, quote_places(quote))
    text = f"{rounded:f}"
    return f"+{text}" if signed and rounded > 0 else text


class View(BaseModel):
    @field_serializer("*", when_used="json")
    def _money(self, value: Any) -> Any:
        """Money as a decimal string, every digit kept (`trading.money.plain`)."""
        if isinstance(value, Decimal):
            return plain(value)
        return value


class BotView(View):
    id: int
    name: str
    symbols: list[str]
    strategy: str
    strategy_params: dict[str, Any]
    size: str
    direction: str
    max_entries: int
    sl: str | None
    tp: str | None
    trail: str | None
    interval: str | None
    max_lag_seconds: int
    approval: str
    paused: bool
    has_passphrase: bool
    signed: bool  # alerts must carry an HMAC signature (the secret itself is never shown)
    max_alerts_per_minute: int
    allow_ips: list[str]
    heartbeat_minutes: int | None
    break_even_after_tp1: bool
    webhook_url: str


class PositionView(View):
    id: int
    bot: str
    symbol: str
    side: str
    qty: Decimal
    avg_price: Decimal
    entries: int
    opened_at: datetime
    sl: Decimal | None
    tp: Decimal | None
    trail: str | None
    realized_pnl: Decimal
    fees: Decimal
    last_price: Decimal | None
    unrealized_pnl: Decimal | None
    quote: str


def bot_view(bot: BotConfig, base_url: str) -> BotView:
    """A bot as the chat and the read API show it, with its webhook URL under `base_url`."""
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
        interval=bot.interval,
        max_lag_seconds=bot.max_lag_seconds,
        approval=bot.approval,
        paused=bot.paused,
        has_passphrase=bool(bot.passphrase),
        signed=bool(bot.hmac_secret),
        max_alerts_per_minute=bot.max_alerts_per_minute,
        allow_ips=list(bot.allow_ips),
        heartbeat_minutes=bot.heartbeat_minutes,
        break_even_after_tp1=bot.break_even_after_tp1,
        webhook_url=f"{base_url}/webhook/{bot.webhook_key}",
    )


def position_view(
    *,
    position_id: int,
    bot: str,
    symbol: str,
    state: PositionState,
    sl: Decimal | None,
    tp: Decimal | None,
    trail: str | None,
    quote: str,
    price: Decimal | None,
) -> PositionView:
    """An open position valued at `price` (its unrealized PnL; none without a price, or when
    it cannot be computed: logged, the position is still shown)."""
    unrealized = None
    if price is not None:
        try:
            unrealized = state.unrealized_pnl(price)
        except ArithmeticError:
            log.exception(
                "position #%s: unrealized PnL at %s cannot be computed", position_id, price
            )
    return PositionView(
        id=position_id,
        bot=bot,
        symbol=symbol,
        side=state.side,
        qty=state.qty,
        avg_price=state.avg_price,
        entries=state.entries,
        opened_at=state.opened_at,
        sl=sl,
        tp=tp,
        trail=trail,
        realized_pnl=state.realized_pnl,
        fees=state.fees,
        last_price=price,
        unrealized_pnl=unrealized,
        quote=quote,
    )


class TradeView(View):
    id: int
    bot: str
    symbol: str
    side: str
    qty: Decimal
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    fees: Decimal
    entries: int
    opened_at: datetime
    closed_at: datetime
    reason: str
    quote: str


class OrderView(View):
    id: int
    client_order_id: str
    side: str
    qty: Decimal
    status: str
    price: Decimal | None
    fee: Decimal
    intent: str


class ExecutionResult(BaseModel):
    status: str  # executed | ignored | rejected | duplicate | accepted
    reason: str = ""
    bot: str | None = None
    position: dict[str, Any] | None = None
    order: dict[str, Any] | None = None

    def answer(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
