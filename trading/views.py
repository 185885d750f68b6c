"""What the read API and the chat show: plain pydantic views, money as decimal strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, field_serializer

from trading.money import plain as plain  # how every view writes a decimal (re-exported)


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
