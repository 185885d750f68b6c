"""The broker interface. A new broker is one subclass plus a name in `trading.brokers.factory`."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    base: str
    quote: str
    side: Literal["buy", "sell"]
    qty: Decimal
    price: Decimal  # reference price: the alert's price or the last known one
    open_qty: Decimal  # part of qty that opens exposure (needs balance); the rest reduces
    order_type: Literal["market", "limit"] = "market"


@dataclass(frozen=True, slots=True)
class OrderFill:
    client_order_id: str
    broker_order_id: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    total: Decimal
    available: Decimal


class BaseBroker(ABC):
    name: str
    # A broker that fills in this process, with no effect outside until the fill is stored (the
    # paper broker): its order row and fill are written in one transaction, not before and after.
    instant_fills: bool = False

    async def start(self) -> None:
        """Connect, load markets; called once before the first order."""

    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def place_order(self, request: OrderRequest) -> OrderFill:
        """Fill `request` or raise BrokerRefusal (nothing traded) / BrokerUnavailable (unknown)."""

    @abstractmethod
    async def fetch_order(self, client_order_id: str) -> OrderFill | None:
        """The fill of an order sent earlier, by client order id; None if the broker has none."""

    @abstractmethod
    async def balances(self) -> list[Balance]:
        """Balances per currency."""

    def hold_pending(
        self, quote: str, realized: Decimal, exposure: Decimal, until: asyncio.Future[Any]
    ) -> None:
        """An instant fill of this broker's, queued but not committed, moves the account by
        `realized` and `exposure` in `quote` until `until` is done (then the stored rows say
        it, or it was not stored). Only brokers whose account is derived from stored rows care."""

    async def lot_step(self, symbol: str) -> Decimal | None:
        """The smallest quantity step the broker accepts for `symbol` (None: no such rule; the
        risk sizing then rounds down to 1e-8)."""
        return None

    async def health(self) -> tuple[bool, str]:
        return True, "ok"
