"""The paper broker: instant market fills at the reference price, with slippage and fees.

The account is a margin account per quote currency: cash moves only by realized PnL and fees,
and opening exposure needs its notional plus the fee in available cash (cash minus the notional
of open positions). Cash is derived from stored rows through a `PaperLedger`, so it survives
restarts and is the same in every process.

Arithmetic follows the money rule (`trading.money`): exact for any stored value, and a fill's
price and fee always fit the columns (saturated at their limit rather than failing: a close is
never refused for its size).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from trading.brokers.base import Balance, BaseBroker, OrderFill, OrderRequest
from trading.errors import BrokerRefusal
from trading.money import fit, plain, q12, total, wide

BPS = Decimal(10000)


class PaperLedger(Protocol):
    async def realized(self) -> dict[str, Decimal]:
        """Realized PnL after fees so far, per quote currency (closed and open positions)."""

    async def exposure(self) -> dict[str, Decimal]:
        """Notional (qty × entry price) of open positions, per quote currency."""

    async def account(self, quote: str) -> tuple[Decimal, Decimal]:
        """(realized, exposure) of one quote currency, read together."""


class PaperBroker(BaseBroker):
    name = "paper"
    instant_fills = True

    def __init__(
        self,
        ledger: PaperLedger,
        *,
        fee_bps: Decimal = Decimal(10),
        slippage_bps: Decimal = Decimal(0),
        initial_balance: Decimal = Decimal(10000),
    ) -> None:
        self.ledger = ledger
        # instant fills queued but not committed: their commit -> (quote, realized, exposure)
        self._pending: dict[asyncio.Future[Any], tuple[str, Decimal, Decimal]] = {}
        self.fee_rate = fee_bps / BPS
        self.slippage_rate = slippage_bps / BPS
        self.initial_balance = initial_balance

    def fill_price(self, side: str, price: Decimal) -> Decimal:
        """Slippage always goes against the trader."""
        with wide():
            move = price * self.slippage_rate
            return fit(price + move if side == "buy" else price - move, "fill price")

    def fee(self, qty: Decimal, price: Decimal) -> Decimal:
        with wide():
            return fit(qty * price * self.fee_rate, "fee")

    @staticmethod
    def funds_refusal(
        open_qty: Decimal, price: Decimal, fee: Decimal, available: Decimal, quote: str
    ) -> str | None:
        """Why opening `open_qty` at `price` is refused (None: the cash is there). The
        backtester asks the same question with its own cash."""
        with wide():
            needed = q12(open_qty * price) + fee
        if needed <= available:
            return None
        currency = f"{quote} " if quote else ""
        return (
            f"insufficient {currency}balance: need {plain(needed)}, "
            f"available {plain(max(available, Decimal(0)))}"
        )

    def hold_pending(
        self, quote: str, realized: Decimal, exposure: Decimal, until: asyncio.Future[Any]
    ) -> None:
        self._pending[until] = (quote, realized, exposure)
        until.add_done_callback(self._pending.pop)  # committed (the rows say it) or not stored

    def _in_flight(self) -> dict[str, tuple[Decimal, Decimal]]:
        """What fills queued and not committed yet add to each currency's realized PnL and
        exposure. Taken before the stored rows are read: a fill committed during that read is
        then counted twice for a moment (a refusal at the edge of the balance), never missed."""
        moved: dict[str, tuple[Decimal, Decimal]] = {}
        for quote, realized, exposure in self._pending.values():
            before = moved.get(quote, (Decimal(0), Decimal(0)))
            moved[quote] = (total((before[0], realized)), total((before[1], exposure)))
        return moved

    async def _cash(self, currency: str) -> tuple[Decimal, Decimal]:
        # One currency's rows only: this runs before every opening order.
        pending_realized, pending_exposure = self._in_flight().get(
            currency, (Decimal(0), Decimal(0))
        )
        realized, exposure = await self.ledger.account(currency)
        with wide():
            cash = self.initial_balance + realized + pending_realized
            return cash, cash - exposure - pending_exposure

    async def place_order(self, request: OrderRequest) -> OrderFill:
        price = self.fill_price(request.side, request.price)
        fee = self.fee(request.qty, price)
        if request.open_qty > 0:
            try:
                _cash, available = await self._cash(request.quote)
            except (ArithmeticError, ValueError, TypeError):  # a stored value is not a number
                raise BrokerRefusal(
                    f"the paper account's {request.quote} balance cannot be read (a stored "
                    "value is not a number; see the log): no new exposure until it is repaired"
                ) from None
            refusal = self.funds_refusal(request.open_qty, price, fee, available, request.quote)
            if refusal:
                raise BrokerRefusal(refusal)
        return OrderFill(
            client_order_id=request.client_order_id,
            broker_order_id=f"paper-{uuid.uuid4().hex[:12]}",
            qty=request.qty,
            price=price,
            fee=fee,
            fee_currency=request.quote,
            time=datetime.now(UTC),
        )

    async def fetch_order(self, client_order_id: str) -> OrderFill | None:
        # Paper fills are instant and only exist once stored: a pending row never filled.
        return None

    async def balances(self) -> list[Balance]:
        pending = self._in_flight()
        realized = await self.ledger.realized()
        exposure = await self.ledger.exposure()
        currencies = sorted(set(realized) | set(exposure) | set(pending)) or ["USDT"]
        result = []
        for currency in currencies:
            moved_realized, moved_exposure = pending.get(currency, (Decimal(0), Decimal(0)))
            with wide():
                cash = self.initial_balance + realized.get(currency, Decimal(0)) + moved_realized
                held = exposure.get(currency, Decimal(0)) + moved_exposure
                result.append(Balance(currency, cash, cash - held))
        return result
