"""Events of the control surface: manual approvals, positions out of sync, kill switch and
other administrative actions. Published on the same EventBus as trading events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from trading.events import Event


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalRequested(Event):
    """An alert for a bot with `approval: manual`, waiting for an owner or trader."""

    bot: str
    bot_id: int
    symbol: str
    webhook_log_id: int
    action: str
    qty: Decimal | None
    price: Decimal | None
    market_position: str | None
    position_size: Decimal | None
    expires_at: datetime
    risk: str | None = None  # what the risk rules would allow (`TradingService.preview`)

    @property
    def kind(self) -> str:
        return "approval"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalResolved(Event):
    bot: str
    symbol: str
    webhook_log_id: int
    outcome: str  # approved | rejected | expired
    by: str
    status: str = ""  # the execution's status when approved
    reason: str = ""

    @property
    def kind(self) -> str:
        return "approval_resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutOfSync(Event):
    """After an alert, the bot's position differs from the one the alert states."""

    bot: str
    bot_id: int
    symbol: str
    expected: Decimal  # signed: negative is short
    actual: Decimal
    reason: str

    @property
    def kind(self) -> str:
        return "out_of_sync"


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlAction(Event):
    """An administrative action worth telling the owners (kill switch, bot deleted...)."""

    what: str
    by: str
    detail: str = ""

    @property
    def kind(self) -> str:
        return "control"
