"""Brokers by name (`TRADEBOT_BROKER`)."""

from __future__ import annotations

from decimal import Decimal

from trading.brokers.base import BaseBroker
from trading.brokers.ccxt_config import CcxtConfig
from trading.brokers.paper import PaperBroker, PaperLedger
from trading.errors import InvalidRequest

BROKERS = ("paper", "ccxt")


def create_broker(
    name: str,
    *,
    ledger: PaperLedger,
    fee_bps: Decimal = Decimal(10),
    slippage_bps: Decimal = Decimal(0),
    initial_balance: Decimal = Decimal(10000),
    ccxt: CcxtConfig | None = None,
) -> BaseBroker:
    """`ccxt` carries the `TRADEBOT_CCXT_*` settings the ccxt broker needs."""
    if name == "paper":
        return PaperBroker(
            ledger, fee_bps=fee_bps, slippage_bps=slippage_bps, initial_balance=initial_balance
        )
    if name == "ccxt":
        if ccxt is None or not ccxt.exchange:
            raise InvalidRequest("TRADEBOT_CCXT_EXCHANGE: required when TRADEBOT_BROKER=ccxt")
        from trading.brokers.ccxt_broker import CcxtBroker  # ccxt takes a second to import

        return CcxtBroker(ccxt)
    raise InvalidRequest(f"unknown broker {name!r}; choose one of {', '.join(BROKERS)}")
