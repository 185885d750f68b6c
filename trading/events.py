"""Typed events the core publishes (trades, refusals, errors). Subscribers must not block."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def kind(self) -> str:
        return "event"


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionOpened(Event):
    bot: str
    symbol: str
    quote: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    sl: Decimal | None = None
    tp: Decimal | None = None

    @property
    def kind(self) -> str:
        return "opened"


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionAdded(Event):
    bot: str
    symbol: str
    quote: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    total_qty: Decimal
    avg_price: Decimal
    entries: int

    @property
    def kind(self) -> str:
        return "added"


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionReduced(Event):
    bot: str
    symbol: str
    quote: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    remaining_qty: Decimal
    gross_pnl: Decimal
    reason: str

    @property
    def kind(self) -> str:
        return "reduced"


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionClosed(Event):
    bot: str
    symbol: str
    quote: str
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

    @property
    def kind(self) -> str:
        return "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRefused(Event):
    """An alert that traded nothing because it was refused (risk, broker, paused, stale...)."""

    bot: str
    symbol: str | None
    reason: str
    status: str = "rejected"

    @property
    def kind(self) -> str:
        return "refused"


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRefused(Event):
    """A request refused before it reached a bot's logic (bad key, malformed, passphrase)."""

    bot: str | None
    http_status: int
    reason: str

    @property
    def kind(self) -> str:
        return "webhook_refused"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsCapped(Event):
    """A bot's alerts-per-minute cap is refusing alerts (429). TradingView never retries a 4xx,
    so each one is lost: owners hear of it once per bot per hour (kind "error")."""

    bot: str
    per_minute: int

    @property
    def kind(self) -> str:
        return "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class LateExecution(Event):
    """An alert answered 202 whose execution finished in the background."""

    bot: str
    symbol: str
    status: str
    reason: str
    webhook_log_id: int

    @property
    def kind(self) -> str:
        return "late"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFinished(Event):
    """Every order the core sent, filled or refused (for counters and audits)."""

    bot: str
    symbol: str
    status: str  # filled | rejected | unknown
    intent: str

    @property
    def kind(self) -> str:
        return "order"


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent(Event):
    where: str
    message: str

    @property
    def kind(self) -> str:
        return "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Lifecycle(Event):
    what: str  # started | stopping
    detail: str = ""

    @property
    def kind(self) -> str:
        return "lifecycle"


class EventSink(Protocol):
    def publish(self, event: Event) -> None: ...


class EventBus:
    """Fans events out to subscribers; a failing subscriber never breaks trading."""

    def __init__(self) -> None:
        self._subscribers: list[EventSink] = []
        self.recent: list[Event] = []

    def subscribe(self, sink: EventSink) -> None:
        self._subscribers.append(sink)

    def publish(self, event: Event) -> None:
        self.recent = [*self.recent[-99:], event]
        for sink in self._subscribers:
            try:
                sink.publish(event)
            except Exception:
                log.exception("event subscriber failed kind=%s", event.kind)


# ---------------------------------------------------------------- position monitor
# Warnings and their all-clears share the kind "error" so that whoever gets the warning gets the
# all-clear too (the /notify switch "errors").


@dataclass(frozen=True, slots=True, kw_only=True)
class PricesStale(Event):
    """Symbols with open positions whose last price is older than the allowed age: their stops
    are not acted on until a fresh price comes. Published once per symbol until it is fresh."""

    symbols: tuple[str, ...]
    oldest_age: float | None  # seconds; None when a symbol never had a price
    max_age: float

    @property
    def kind(self) -> str:
        return "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class PricesFresh(Event):
    """Stale symbols that have a fresh price again."""

    symbols: tuple[str, ...]

    @property
    def kind(self) -> str:
        return "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatMissed(Event):
    """A bot expecting an alert every `minutes` got none for longer (once per silence)."""

    bot: str
    minutes: int
    last_alert_at: datetime | None

    @property
    def kind(self) -> str:
        return "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class HeartbeatResumed(Event):
    """Alerts came again after a HeartbeatMissed."""

    bot: str
    silent_seconds: float

    @property
    def kind(self) -> str:
        return "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class TriggerFailed(Event):
    """A stop or target was reached but its closing order failed; the position stays open and
    the close is retried (`retry_in` seconds) or, after the last attempt, re-armed."""

    bot: str
    symbol: str
    reason: str  # stop_loss | take_profit | trailing_stop
    attempt: int
    error: str
    retry_in: float | None

    @property
    def kind(self) -> str:
        return "error"
