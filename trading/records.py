"""The records that cross the storage ports (`trading.ports`): what a store returns and takes,
plus the exceptions and constants both sides agree on. Plain data; no storage here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from trading.brokers.base import OrderFill
from trading.positions import FillOutcome, PositionState
from trading.protection import Protection, TakeProfit

# ---------------------------------------------------------------- exceptions


class ConcurrentUpdate(Exception):
    """Another writer changed the position since it was read; reload and apply again."""


class OrderSettled(ConcurrentUpdate):
    """The pending order whose fill was being stored is no longer pending (someone else stored
    or failed it): applying the fill again cannot help."""


class AlertTaken(Exception):
    """The alert's webhook log row is no longer this execution's: it was finished, or another
    process's start-up recovery claimed it (`received|accepted` -> `recovering`) and executes
    the alert itself. Nothing of this execution was stored."""


class PositionClaimed(Exception):
    """The position is being closed by someone else (its claim is held and not expired), or it
    changed since it was read."""


class DuplicateKey(Exception):
    """A row with the same unique key exists already (the storage's unique constraint)."""


# ---------------------------------------------------------------- constants

# An alert's log row is its intake's to finish while it reads one of these (see `trading.recovery`)
ALERT_RUNNING = ("received", "accepted")

# The source of prices read from the exchange's ticker (other sources: a bot's own alerts)
EXCHANGE_SOURCE = "ticker"

HEARTBEAT_ACTIONS = ("monitor.heartbeat_missed", "monitor.heartbeat_resumed")

KILL_SWITCH_ACTIONS = ("kill_switch.on", "kill_switch.off")


# ---------------------------------------------------------------- positions


def claimed(
    held: str | None, at: datetime | None, token: str | None, now: datetime, ttl: float
) -> bool:
    """The claim-expiry rule: a claim held by someone else counts until it is `ttl` seconds old."""
    if held is None or held == token:
        return False
    return at is not None and now - at < timedelta(seconds=ttl)


class PendingId:
    """The id of an in-flight position: one whose opening fill is queued to the writer and not
    committed yet (`PendingFill.after`). Opaque to the core: only the store that made it reads
    it, in a later `FillRecord` that `follows` that fill."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class StoredPosition:
    # A `PendingId` instead of an int while the fill that opened the position is not committed
    # (an in-flight position: `PendingFill.after`); a loaded position always has its int id.
    id: int | PendingId
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
    def committed_id(self) -> int:
        """The id of a position as stored (loaded, or left by a committed fill): an in-flight
        one has none yet (ValueError)."""
        position_id = self.id
        if isinstance(position_id, PendingId):
            raise ValueError("the fill that opened the position is not committed yet")
        return position_id

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
        return claimed(self.closing_token, self.closing_at, token, now, ttl)

    @property
    def levels(self) -> PositionLevels:
        return PositionLevels(
            id=self.committed_id,
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
        return claimed(self.closing_token, self.closing_at, token, now, ttl)


@dataclass(frozen=True, slots=True)
class Claim:
    """Claim a position before sending an order that closes (part of) it, so one closer acts
    at a time across processes; a claim older than `ttl` seconds is a crashed closer's."""

    position_id: int
    version: int
    token: str
    at: datetime
    ttl: float


# ---------------------------------------------------------------- bots


@dataclass(frozen=True, slots=True)
class HeartbeatBot:
    id: int
    name: str
    minutes: int
    created_at: datetime


# ---------------------------------------------------------------- alerts (webhook log)


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


@dataclass(frozen=True, slots=True)
class LoggedAlert:
    id: int
    bot_id: int | None
    status: str
    alert: dict[str, Any] | None
    symbol: str | None
    action: str | None
    reason: str | None
    received_at: datetime


# ---------------------------------------------------------------- audit


@dataclass(frozen=True, slots=True)
class AuditRecord:
    actor: str
    action: str
    target: str
    outcome: str
    details: dict[str, Any]
    created_at: datetime


# ---------------------------------------------------------------- orders and fills


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An `orders` row: written before the broker is called (status pending), completed after
    (fits reconcile's PendingOrder)."""

    id: int
    client_order_id: str
    bot_id: int
    symbol: str
    side: str  # buy | sell
    order_type: str
    qty: Decimal
    price: Decimal | None  # reference price the order was sized at
    status: str  # pending | filled | rejected | failed
    filled_qty: Decimal
    avg_fill_price: Decimal | None
    fee: Decimal
    fee_currency: str | None
    broker: str
    broker_order_id: str | None
    intent: str  # open | add | reduce | close | reverse
    reason: str
    webhook_log_id: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order row to insert (`OrderStore.create_order`, or `FillRecord.new_order` with its
    fill): what the order is, before the broker answers."""

    client_order_id: str
    bot_id: int
    symbol: str
    side: str  # buy | sell
    qty: Decimal
    price: Decimal  # reference price the order was sized at
    broker: str
    intent: str  # open | add | reduce | close | reverse
    reason: str
    webhook_log_id: int | None


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """What a fill writes on its alert's webhook log row, in the fill's own transaction
    (`FillRecord.finish_log`; the row's `order_id` is the fill's order). `http_status`: the
    answer code, None when the sender was already answered 202 (the row keeps it; see
    `trading.answers`)."""

    log_id: int
    status: str
    reason: str
    finished_at: datetime
    http_status: int | None


class PendingFill(Protocol):
    """A fill queued for its commit (`OrderStore.submit_fill`). `after` is the position as the
    fill leaves it (None: flat); while the fill is not committed its `id` may be a `PendingId`,
    usable only in a later `FillRecord` that `follows` this one. (Here, not in `trading.ports`,
    which re-exports it: `FillRecord` names it, and ports import records.)"""

    @property
    def after(self) -> StoredPosition | None: ...

    @property
    def account_moves(self) -> tuple[Decimal, Decimal]:
        """What it adds to its currency's (realized PnL, exposure) (`trading.accounting`)."""

    @property
    def future(self) -> asyncio.Future[Any]:
        """The commit's outcome."""

    async def stored(self) -> tuple[int | None, int]:
        """(open position id or None, order id) once committed; ConcurrentUpdate if not."""


@dataclass(frozen=True, slots=True)
class FillRecord:
    """A fill to store atomically (`OrderStore.record_fill` / `submit_fill`): the order, the
    position, its entries and the closed trade, and with `finish_log` the outcome on the
    alert's webhook log row (one commit).

    The order is the pending row `order_id`, or `new_order`, a row inserted
    with the fill: an instant broker's order (the paper broker) and its fill are one commit.

    Storing it raises ConcurrentUpdate if the position changed since `before` was read (the
    caller reloads and applies the fill again), OrderSettled if the pending order is no longer
    pending. A new order's fill is stored only while its alert's log row is still the intake's
    (AlertTaken); a pending order's fill happened at the broker, and is stored whatever became
    of the row. A position left open gives back `claim`, the closer's claim on it. `before` may
    be the in-flight `after` of a fill submitted earlier: with `follows` (that fill, not
    committed when this one was planned), this one is not stored unless that one was."""

    order_id: int | None
    fill: OrderFill
    side: str
    bot_id: int
    symbol: str
    quote: str
    before: StoredPosition | None
    outcome: FillOutcome
    reason: str
    stops: Protection
    claim: str | None = None
    finish_log: AlertOutcome | None = None
    new_order: NewOrder | None = None
    follows: PendingFill | None = None


# ---------------------------------------------------------------- users


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A chat user (the TOTP secret is never here: only `TotpState` carries it)."""

    telegram_id: int
    role: str
    username: str | None
    notify: dict[str, bool] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TotpState:
    secret: str | None = field(repr=False)
    enabled: bool
    last_step: int | None


# ---------------------------------------------------------------- reports and charts


@dataclass(frozen=True, slots=True)
class ClosedTradeRow:
    bot: str
    symbol: str
    quote: str
    side: str
    qty: Decimal
    pnl: Decimal
    fees: Decimal
    opened_at: datetime
    closed_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class ChartFill:
    """One fill on a position, as a chart marks it."""

    time: datetime
    kind: str  # open | add | reduce | close
    side: str  # buy | sell
    qty: Decimal
    price: Decimal
    bot: str
    reason: str
