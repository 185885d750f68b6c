"""What the read API and the chat show: plain pydantic views, money as decimal strings."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, field_serializer

from trading.bots import BotConfig, format_size
from trading.money import plain as plain  # how every view writes a decimal (re-exported)
from trading.positions import PositionState
from trading.symbols import split_symbol

log = logging.getLogger(__name__)


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
    max_lag_seconds: int
    approval: str
    paused: bool
    has_passphrase: bool
    signed: bool  # alerts must carry an HMAC signature (the secret itself is never shown)
    max_alerts_per_minute: int
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
        max_lag_seconds=bot.max_lag_seconds,
        approval=bot.approval,
        paused=bot.paused,
        has_passphrase=bool(bot.passphrase),
        signed=bool(bot.hmac_secret),
        max_alerts_per_minute=bot.max_alerts_per_minute,
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
