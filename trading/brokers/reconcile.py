"""Reconciliation with the broker: at start-up and on /status.

Two questions, answered without storage or transport (rows and views in, a report out; the
caller stores and tells):

- Orders left `pending` (the process stopped, or the broker could not say whether an order
  exists): the broker is asked by client order id. A fill found is reported for the service to
  store exactly as if `place_order` had returned it; an order the broker does not have, once old
  enough that it can no longer appear, is reported failed; anything else stays pending.
- Holdings: what the open positions say the account holds against what the broker says it holds.
  On a spot account a long position is base currency in the account, so each base asset's total
  is compared with the sum of the long positions in it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable

from trading.brokers.base import Balance, BaseBroker, OrderFill
from trading.errors import TradingError
from trading.symbols import split_symbol
from trading.views import plain

log = logging.getLogger(__name__)

DEFAULT_MIN_AGE = timedelta(minutes=2)
DEFAULT_TOLERANCE = Decimal("0.002")  # relative; covers a fee paid in base at entry


class PendingOrder(Protocol):
    """What reconciliation reads of an `orders` row (db.models.Order fits)."""

    id: int
    client_order_id: str
    symbol: str
    created_at: datetime


class HeldPosition(Protocol):
    """What the holdings check reads of an open position (trading.views.PositionView fits)."""

    symbol: str
    side: str
    qty: Decimal


@runtime_checkable
class MarketLookup(Protocol):
    """Brokers whose look-up needs the order's market (ccxt: Binance queries by symbol)."""

    async def fetch_order_in(self, symbol: str, client_order_id: str) -> OrderFill | None: ...


@dataclass(frozen=True, slots=True)
class Resolution:
    order_id: int
    client_order_id: str
    symbol: str
    status: Literal["filled", "failed", "pending"]
    fill: OrderFill | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HoldingDifference:
    currency: str
    expected: Decimal  # from open positions
    actual: Decimal  # the broker's total

    @property
    def difference(self) -> Decimal:
        return self.actual - self.expected


@dataclass
class ReconcileReport:
    filled: list[Resolution] = field(default_factory=list)
    failed: list[Resolution] = field(default_factory=list)
    pending: list[Resolution] = field(default_factory=list)

    @property
    def found(self) -> list[tuple[int, OrderFill]]:
        """(order id, fill) of every pending order the broker filled: the service stores them."""
        return [(r.order_id, r.fill) for r in self.filled if r.fill is not None]

    @property
    def clean(self) -> bool:
        return not (self.filled or self.failed or self.pending)

    def lines(self) -> list[str]:
        """One short line per finding, for owners."""
        out = []
        for r in self.filled:
            assert r.fill is not None
            out.append(
                f"order {r.client_order_id} {r.symbol} was filled: "
                f"{plain(r.fill.qty)} @ {plain(r.fill.price)}"
            )
        for r in self.failed:
            out.append(f"order {r.client_order_id} {r.symbol} never reached the broker: failed")
        for r in self.pending:
            out.append(f"order {r.client_order_id} {r.symbol} still unknown: {r.detail}")
        return out


@dataclass
class HoldingsReport:
    differences: list[HoldingDifference] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)  # positions a spot account cannot hold
    error: str = ""  # the broker's balances could not be read
    balances: list[Balance] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.differences or self.unverified or self.error)

    def lines(self) -> list[str]:
        out = [
            f"{h.currency}: positions hold {plain(h.expected)}, broker has "
            f"{plain(h.actual)} ({'+' if h.difference > 0 else ''}{plain(h.difference)})"
            for h in self.differences
        ]
        out.extend(self.unverified)
        if self.error:
            out.append(f"balances not compared: {self.error}")
        return out


async def _look_up(broker: BaseBroker, order: PendingOrder) -> OrderFill | None:
    if isinstance(broker, MarketLookup):
        return await broker.fetch_order_in(order.symbol, order.client_order_id)
    return await broker.fetch_order(order.client_order_id)


async def reconcile_pending(
    broker: BaseBroker,
    orders: Iterable[PendingOrder],
    *,
    now: datetime | None = None,
    min_age: timedelta = DEFAULT_MIN_AGE,
) -> ReconcileReport:
    """Resolve pending orders against the broker. An order the broker does not have is failed
    only when older than `min_age` (one being sent right now must not be failed under it)."""
    now = now or datetime.now(UTC)
    report = ReconcileReport()
    for order in orders:
        base = (order.id, order.client_order_id, order.symbol)
        try:
            fill = await _look_up(broker, order)
        except TradingError as exc:
            report.pending.append(Resolution(*base, "pending", detail=exc.user_message))
            continue
        except Exception as exc:  # a broker bug must not stop start-up
            log.exception("reconcile look-up crashed order=%s", order.client_order_id)
            report.pending.append(Resolution(*base, "pending", detail=type(exc).__name__))
            continue
        if fill is not None:
            report.filled.append(Resolution(*base, "filled", fill=fill))
        elif now - order.created_at >= min_age:
            report.failed.append(Resolution(*base, "failed", detail="the broker has no such order"))
        else:
            report.pending.append(Resolution(*base, "pending", detail="too recent to judge"))
    for r in report.filled + report.failed:
        log.info("reconciled order=%s symbol=%s status=%s", r.client_order_id, r.symbol, r.status)
    return report


def compare_holdings(
    positions: Iterable[HeldPosition],
    balances: Iterable[Balance],
    *,
    base_of: Callable[[str], str] = lambda symbol: split_symbol(symbol)[0],
    tolerance: Decimal = DEFAULT_TOLERANCE,
    include_surplus: bool = False,
) -> tuple[list[HoldingDifference], list[str]]:
    """(differences, unverified). A difference is a base asset whose broker total is short of
    the long positions in it by more than `tolerance` (relative), or also above them when
    `include_surplus` (off by default: an account may hold more than the bots bought)."""
    expected: dict[str, Decimal] = defaultdict(Decimal)
    unverified = []
    for position in positions:
        if position.side == "long":
            expected[base_of(position.symbol)] += position.qty
        else:
            unverified.append(
                f"{position.symbol} short {plain(position.qty)}: a spot account holds no shorts"
            )
    actual = {b.currency: b.total for b in balances}
    differences = []
    for currency, qty in sorted(expected.items()):
        held = actual.get(currency, Decimal(0))
        margin = qty * tolerance
        if held < qty - margin or (include_surplus and held > qty + margin):
            differences.append(HoldingDifference(currency, qty, held))
    return differences, unverified


async def check_holdings(
    broker: BaseBroker,
    positions: Iterable[HeldPosition],
    *,
    tolerance: Decimal = DEFAULT_TOLERANCE,
    include_surplus: bool = False,
) -> HoldingsReport:
    """Open positions against the broker's balances. Run it after the fills `reconcile_pending`
    found are stored, or those positions are missing. The paper broker is not checked: its
    balances are derived from the positions themselves."""
    if broker.name == "paper":
        return HoldingsReport()
    try:
        balances = await broker.balances()
    except TradingError as exc:
        return HoldingsReport(error=exc.user_message)
    differences, unverified = compare_holdings(
        positions, balances, tolerance=tolerance, include_surplus=include_surplus
    )
    for h in differences:
        log.warning(
            "holdings differ currency=%s positions=%s broker=%s", h.currency, h.expected, h.actual
        )
    return HoldingsReport(differences, unverified, balances=balances)
