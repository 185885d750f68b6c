"""What the core needs from storage, as small Protocols (one per aggregate), and `Stores`, the
bundle services receive by injection. `db/` implements them with Tortoise; tests may implement
them in memory. The records that cross them live in `trading.records`."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from trading.bots import BotConfig, BotSpec
from trading.brokers.paper import PaperLedger
from trading.equity import AccountRows, AccountState, EquitySnapshot, KillSwitchState
from trading.records import (
    AlertOrder,
    AuditRecord,
    ChartFill,
    Claim,
    ClosedTradeRow,
    FillRecord,
    HeartbeatBot,
    LoggedAlert,
    NewOrder,
    OrderRecord,
    PendingFill,
    PositionLevels,
    RecentRequest,
    StoredPosition,
    TotpState,
    UnfinishedAlert,
    UserRecord,
)
from trading.series import Bar
from trading.views import PositionView, TradeView

__all__ = [
    "AlertLogStore",
    "AuditStore",
    "BotStore",
    "DashboardSessionRecord",
    "DashboardStore",
    "HealthStore",
    "OrderStore",
    "PaperLedgerStore",
    "PendingFill",  # defined with the records (`FillRecord.follows` names it), re-exported here
    "PositionStore",
    "PriceStore",
    "ReportStore",
    "RiskStore",
    "SeriesStore",
    "StoredPrice",
    "Stores",
    "UserStore",
]

# (price, seen at, source) of a stored price (`PriceStore.stored_prices`)
StoredPrice = tuple[Decimal, datetime, str]


class BotStore(Protocol):
    """Trading bots: their settings, webhook keys, chats and pause switches."""

    async def create_bot(self, spec: BotSpec) -> BotConfig:
        """InvalidRequest when an active bot has the name already."""

    async def list_bots(self) -> list[BotConfig]: ...

    async def count_bots(self) -> int: ...

    async def bot_by_key(self, key: str) -> BotConfig | None: ...

    async def bot_by_name(self, name: str) -> BotConfig:
        """NotFound when no active bot has the name."""

    async def bot_by_id(self, bot_id: int) -> BotConfig:
        """Deleted bots too (NotFound when none has the id)."""

    async def active_bot_by_id(self, bot_id: int) -> BotConfig | None: ...

    async def set_paused(self, name: str, paused: bool) -> BotConfig: ...

    async def set_monitoring(
        self, name: str, *, heartbeat_minutes: int | None, break_even_after_tp1: bool
    ) -> None: ...

    async def break_even_after_tp1(self, bot_id: int) -> bool: ...

    async def heartbeat_bots(self) -> list[HeartbeatBot]: ...

    async def set_hmac_secret(self, name: str, secret: str | None) -> BotConfig: ...

    async def rotate_key(self, name: str) -> BotConfig: ...

    async def update_bot(self, bot_id: int, **fields: Any) -> bool:
        """Columns, and with `strategy_params` the strategy's parameters: in one transaction."""

    async def soft_delete_bot(self, bot_id: int) -> bool: ...

    async def bind_chat(self, bot_id: int, chat_id: int | None, topic_id: int | None) -> bool: ...

    async def bot_chats(self) -> dict[str, tuple[int, int | None]]: ...

    async def chat_of(self, bot_id: int) -> tuple[int | None, int | None]: ...

    async def pause_active_bots(self) -> list[str]: ...

    async def unpause_bots(self, names: list[str]) -> list[str]: ...


class PriceStore(Protocol):
    """Last prices: the exchange's per symbol, and each bot's own alert prices."""

    async def ensure_instrument(self, symbol: str) -> tuple[str, str]:
        """(base, quote) of the symbol, its row created when missing."""

    async def record_price(
        self, symbol: str, price: Decimal, at: datetime, source: str, bot_id: int | None = None
    ) -> None: ...

    async def last_price(self, symbol: str, bot_id: int | None = None) -> Decimal | None: ...

    async def stored_prices(
        self, symbols: list[str]
    ) -> tuple[dict[str, StoredPrice], dict[tuple[int, str], StoredPrice]]: ...

    async def record_prices(
        self, quotes: dict[str, tuple[Decimal, datetime]], source: str
    ) -> None: ...


class PositionStore(Protocol):
    """Open positions: their books, levels and claims."""

    async def load_position(self, bot_id: int, symbol: str) -> StoredPosition | None: ...

    async def watched_positions(self) -> list[PositionLevels]: ...

    async def positions_fingerprint(self) -> tuple[int, int, int]: ...

    async def position_versions(self) -> dict[int, int]: ...

    async def positions_touched_since(self, since: datetime) -> list[PositionLevels]: ...

    async def positions_of(self, position_ids: list[int]) -> list[PositionLevels]: ...

    async def release_claim(self, position_id: int, token: str) -> None: ...

    async def position_by_id(self, position_id: int) -> tuple[int, str] | None: ...

    async def open_positions_of(self, bot_id: int) -> list[str]: ...

    async def open_symbols(self) -> list[str]:
        """Every symbol with an open position (what a price feed quotes)."""
        ...

    async def list_positions(
        self, bot_name: str | None = None, position_id: int | None = None
    ) -> list[PositionView]: ...

    async def update_stops(
        self, position_id: int, sl: Decimal | None, tp: Decimal | None, trail: str | None
    ) -> None: ...

    async def ratchet_trailing(
        self,
        symbol: str,
        side: str,
        peak: Decimal,
        seen_at: datetime,
        stops: dict[str, Decimal],
        bot_id: int | None = None,
    ) -> int: ...

    async def trail_settings(
        self, symbol: str, side: str, bot_id: int | None = None
    ) -> list[str]: ...


class OrderStore(Protocol):
    """Orders and the fills that settle them (one commit per fill)."""

    async def create_order(
        self,
        order: NewOrder,
        *,
        claim: Claim | None = None,
        refused: str | None = None,
        running_alert: int | None = None,
    ) -> int: ...

    async def finish_order(self, order_id: int, status: str, error: str) -> None: ...

    async def pending_order(self, client_order_id: str) -> OrderRecord | None: ...

    async def pending_orders(self) -> list[OrderRecord]: ...

    async def order_by_id(self, order_id: int) -> OrderRecord: ...

    async def list_trades(
        self, bot_name: str | None = None, limit: int = 50
    ) -> list[TradeView]: ...

    async def record_fill(self, fill: FillRecord) -> tuple[int | None, int]: ...

    async def submit_fill(self, fill: FillRecord) -> PendingFill: ...


class AlertLogStore(Protocol):
    """The webhook log: one row per request, the alert's execution state on it."""

    async def insert_webhook_log(
        self, *, price: tuple[str, Decimal, datetime, str] | None = None, **fields: Any
    ) -> int:
        """DuplicateKey when the row's `dedup_key` was seen before."""

    async def update_webhook_log(self, log_id: int, **fields: Any) -> None: ...

    async def finish_alert_log(
        self, log_id: int, *, status: str, reason: str, order_id: int | None, answered: int | None
    ) -> bool: ...

    async def webhook_log_by_dedup(self, dedup_key: str) -> LoggedAlert | None: ...

    async def remember_signature(self, digest: str, bot_id: int, expires_at: datetime) -> bool: ...

    async def bump_webhook_log(self, log_id: int, seen_at: datetime) -> bool: ...

    async def recent_webhook_logs(
        self, limit: int = 20, bot_name: str | None = None
    ) -> list[RecentRequest]: ...

    async def unfinished_alerts(
        self, statuses: tuple[str, ...], *, received_after: datetime, received_before: datetime
    ) -> list[UnfinishedAlert]: ...

    async def move_unfinished_log(
        self, log_id: int, expected: tuple[str, ...], new: str, **fields: Any
    ) -> bool: ...

    async def orders_of_alert(self, log_id: int) -> list[AlertOrder]: ...

    async def prune_webhook_logs(self, before: datetime) -> int: ...

    async def alert_since(self, bot_id: int, since: datetime) -> datetime | None: ...

    async def logged_alert(self, log_id: int) -> LoggedAlert | None: ...

    async def move_log_status(
        self, log_id: int, expected: str, new: str, **fields: Any
    ) -> bool: ...

    async def logs_with_status(self, status: str) -> list[LoggedAlert]: ...


class AuditStore(Protocol):
    """The audit trail: who did what, when, with what outcome."""

    async def audit(
        self, actor: str, action: str, target: str = "", outcome: str = "ok", **details: Any
    ) -> None: ...

    async def last_heartbeat_notice(self, bot_name: str) -> tuple[str, datetime] | None: ...

    async def last_audit(
        self, actions: tuple[str, ...], outcome: str = "ok"
    ) -> AuditRecord | None: ...

    async def count_audit(self, actor: str, action: str, since: datetime) -> int: ...


class UserStore(Protocol):
    """Telegram users: roles, notification settings, second factor, seen updates."""

    async def user(self, telegram_id: int) -> UserRecord | None: ...

    async def list_users(self) -> list[UserRecord]: ...

    async def set_role(
        self, telegram_id: int, role: str, username: str | None = None
    ) -> UserRecord: ...

    async def delete_user(self, telegram_id: int) -> bool: ...

    async def set_notify(
        self, telegram_id: int, notify: dict[str, Any], role_if_new: str
    ) -> UserRecord: ...

    async def totp_state(self, telegram_id: int) -> TotpState | None: ...

    async def set_totp_pending(self, telegram_id: int, secret: str) -> bool: ...

    async def enable_totp(self, telegram_id: int, secret: str, step: int) -> bool: ...

    async def accept_totp_step(self, telegram_id: int, step: int) -> bool: ...

    async def drop_pending_totp(self, telegram_id: int) -> bool: ...

    async def disable_totp(self, telegram_id: int) -> bool: ...

    async def remember_update(self, update_id: int) -> bool: ...

    async def forget_updates_before(self, moment: datetime) -> int: ...


# The paper broker's account rows (`trading.brokers.paper.PaperLedger`; db: SqlPaperLedger).
PaperLedgerStore = PaperLedger


class SeriesStore(Protocol):
    """Stored price bars per bot, symbol and interval, and fills for charts."""

    async def save_bar(
        self, bot_id: int, symbol: str, interval: str, bar: Bar, source: str = "alert"
    ) -> None: ...

    async def load_bars(
        self,
        bot_id: int | None,
        symbol: str,
        interval: str,
        limit: int,
        *,
        now: datetime | None = None,
    ) -> list[Bar]: ...

    async def closed_bars_after(
        self,
        bot_id: int,
        symbol: str,
        interval: str,
        after: datetime | None,
        *,
        now: datetime | None = None,
    ) -> list[Bar]: ...

    async def prune_bars(self, bot_id: int, symbol: str, interval: str, keep: int) -> int: ...

    async def drop_future_bars(self, symbol: str, *, now: datetime | None = None) -> int: ...

    async def bot_id_of(self, name: str) -> int | None: ...

    async def series_of(
        self, symbol: str, *, bot_id: int | None = None, interval: str | None = None
    ) -> list[tuple[int | None, str, int]]: ...

    async def fills_between(
        self, symbol: str, start: datetime, end: datetime | None = None, bot: str | None = None
    ) -> list[ChartFill]: ...


class ReportStore(Protocol):
    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTradeRow]: ...


class RiskStore(Protocol):
    """The account's risk rules and kill switch (one `account_settings` row), its figures per
    quote currency, and `equity_snapshots` (SPEC §6a)."""

    async def account_state(self) -> AccountState: ...

    async def save_account_rules(self, rules: dict[str, str]) -> None:
        """Store the account's rules (`RiskRules.to_json`)."""

    async def save_bot_rules(self, bot_id: int, rules: dict[str, str]) -> None:
        """Store a bot's own rules in its `risk` column (`RiskRules.to_json`)."""

    async def set_kill_switch(self, state: KillSwitchState) -> KillSwitchState:
        """Store the kill switch; returns the state it replaced."""

    async def account_rows(
        self,
        quote: str,
        *,
        day_start: datetime,
        bot_id: int | None = None,
        stops_since: datetime | None = None,
    ) -> AccountRows:
        """Everything an entry's check needs of one currency, in one read: the account state,
        closed realized PnL, open positions with their valuation prices, the snapshots' starting
        balance, peak and the day's starting equity, and (with `bot_id` and `stops_since`) the
        bot's stop-loss closes since then."""

    async def quotes(self) -> list[str]:
        """Quote currencies with an open position, a closed trade or a snapshot."""

    async def add_snapshot(self, snapshot: EquitySnapshot) -> None: ...

    async def snapshots(
        self, quote: str | None = None, since: datetime | None = None
    ) -> list[EquitySnapshot]:
        """Snapshots oldest first (of one currency when named, from `since` when given)."""

    def entry_lock(self, quote: str) -> AbstractAsyncContextManager[None]:
        """Held from an entry's check until its fill is stored, so account-wide limits hold
        across processes (a PostgreSQL advisory lock on its own connection); a no-op where one
        process writes (SQLite: the check serialises in the process)."""


@dataclass(frozen=True, slots=True)
class DashboardSessionRecord:
    """A live dashboard session (not revoked, not expired), found by its token's hash."""

    token_hash: str
    user_id: int
    via: str  # "link" | "telegram"
    created_at: datetime
    expires_at: datetime


class DashboardStore(Protocol):
    """The dashboard's one-time sign-in links and its sessions (`trading.dashboard_auth`). Only
    the SHA-256 of a token is stored: whoever reads the tables cannot sign in with them."""

    async def add_link(
        self, token_hash: str, user_id: int, created_at: datetime, expires_at: datetime
    ) -> None: ...

    async def use_link(self, token_hash: str, now: datetime) -> int | None:
        """Mark the link used if it is unused and unexpired at `now`, in one conditional UPDATE
        (of two processes redeeming one link, only one sees a row changed): its user id, or
        None when this call did not use it."""

    async def add_session(
        self, token_hash: str, user_id: int, via: str, created_at: datetime, expires_at: datetime
    ) -> None: ...

    async def session(self, token_hash: str, now: datetime) -> DashboardSessionRecord | None:
        """The session if it is neither revoked nor expired at `now`."""

    async def revoke_sessions(self, user_id: int, now: datetime) -> int:
        """Revoke every live session of a user; how many there were."""

    async def forget_expired(self, now: datetime) -> int:
        """Delete links and sessions past their expiry, and revoked sessions; how many rows."""


class HealthStore(Protocol):
    async def ping(self) -> None:
        """Raise if the storage does not answer."""


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store a service may need, built once by the composition root."""

    bots: BotStore
    positions: PositionStore
    orders: OrderStore
    alerts: AlertLogStore
    audit: AuditStore
    prices: PriceStore
    users: UserStore
    ledger: PaperLedgerStore  # the paper broker's account rows
    series: SeriesStore
    reports: ReportStore
    health: HealthStore
    risk: RiskStore
    dashboard: DashboardStore
    # "storage cannot be reached": callers answer "retry later"
    unavailable: tuple[type[Exception], ...]
