"""Brokers by name (`TRADEBOT_BROKER`)."""

from __future__ import annotations

from decimal import Decimal

from trading.brokers.base import BaseBroker
from trading.brokers.paper import PaperBroker, PaperLedger
from trading.errors import InvalidRequest

BROKERS = ("paper",)


def create_broker(
    name: str,
    *,
    ledger: PaperLedger,
    fee_bps: Decimal = Decimal(10),
    slippage_bps: Decimal = Decimal(0),
    initial_balance: Decimal = Decimal(10000),
) -> BaseBroker:
    if name == "paper":
        return PaperBroker(
            ledger, fee_bps=fee_bps, slippage_bps=slippage_bps, initial_balance=initial_balance
        )
    if name == "ccxt":
        raise InvalidRequest("the ccxt broker is not available yet (see the brokers issue)")
    raise InvalidRequest(f"unknown broker {name!r}; choose one of {', '.join(BROKERS)}")
