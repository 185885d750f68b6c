"""In-memory storage ports (`trading.ports`) for unit tests of the services: no database.

Only what `ControlService`, `ReportService`, `AccessService` and the paper broker call is
implemented, with the same observable rules as the `db/` stores (a duplicate bot name is refused
with the same message, an unknown name is `NotFound`, trades come newest first...). Calling any
other port method fails the test with an AssertionError naming it, e.g.
`stores.series.load_bars() was called, but the in-memory stores do not implement it`; the call
is also remembered (`stray_calls`), so a service that swallows the error cannot hide it.

    audit = MemoryAuditStore()
    stores = memory_stores(audit=audit)
    ...
    assert [row.action for row in audit.rows] == ["bot.create"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NoReturn, cast

from trading.bots import BotConfig, BotSpec, new_webhook_key, parse_size
from trading.errors import InvalidRequest, NotFound
from trading.ports import (
    AlertLogStore,
    AuditStore,
    BotStore,
    DashboardStore,
    HealthStore,
    OrderStore,
    PaperLedgerStore,
    PositionStore,
    PriceStore,
    ReportStore,
    RiskStore,
    SeriesStore,
    Stores,
    UserStore,
)
from trading.records import AuditRecord, ClosedTradeRow, UserRecord
from trading.views import PositionView, TradeView

__all__ = [
    "MemoryAuditStore",
    "MemoryBotStore",
    "MemoryOrderStore",
    "MemoryPaperLedger",
    "MemoryPositionStore",
    "MemoryReportStore",
    "MemoryUserStore",
    "Unneeded",
    "memory_stores",
    "stray_calls",
]


class Unneeded:
    """A store (or the rest of one) these fakes do not implement: any method of it fails the
    test when called, naming it. Calls are kept in `_stray` for `stray_calls`."""

    def __init__(self, port: str) -> None:
        self._port = port
        self._stray: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        if name.startswith("_"):  # copy, pickle, inspect... and a missing __init__
            raise AttributeError(name)
        where = f"stores.{self._port}.{name}"

        def called(*args: Any, **kwargs: Any) -> NoReturn:
            self._stray.append(where)
            raise AssertionError(
                f"{where}() was called, but the in-memory stores do not implement it"
            )

        return called


def stray_calls(stores: Stores) -> list[str]:
    """Every call to a port method the in-memory stores do not implement, in order per store."""
    found: list[str] = []
    for member in dataclasses.fields(stores):
        value = getattr(stores, member.name)
        if isinstance(value, Unneeded):
            found.extend(value._stray)
    return found


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- bots


class MemoryBotStore(Unneeded):
    """`BotStore`: creation, lookups, pause, key, signing secret, edits and the kill switch."""

    def __init__(self) -> None:
        super().__init__("bots")
        self.bots: dict[int, BotConfig] = {}  # every bot, by id (no deletion here)
        self._next_id = 1

    def _named(self, name: str) -> BotConfig:
        for bot in self.bots.values():
            if bot.name == name:
                return bot
        raise NotFound(f"no bot named {name!r}")

    def _replace(self, bot: BotConfig, **changes: Any) -> BotConfig:
        unknown = set(changes) - set(BotConfig.model_fields)
        assert not unknown, f"stores.bots: no such column {sorted(unknown)}"
        # validated again, as the row is read back: "2%" becomes a Level, "5" an int...
        updated = BotConfig.model_validate({**dict(bot), **changes})
        self.bots[bot.id] = updated
        return updated

    async def create_bot(self, spec: BotSpec) -> BotConfig:
        if any(bot.name == spec.name for bot in self.bots.values()):
            raise InvalidRequest(f"a bot named {spec.name!r} already exists")
        kind, value = parse_size(spec.size)
        bot = BotConfig(
            id=self._next_id,
            name=spec.name,
            symbols=list(spec.symbols),
            strategy=spec.strategy,
            strategy_params=dict(spec.strategy_params),
            size_kind=kind,
            size_value=value,
            direction=spec.direction,
            max_entries=spec.max_entries,
            sl=spec.sl,
            tp=spec.tp,
            trail=spec.trail,
            interval=spec.interval,
            max_lag_seconds=spec.max_lag_seconds,
            approval=spec.approval,
            paused=False,
            webhook_key=new_webhook_key(),
            passphrase=spec.passphrase,
            allow_ips=list(spec.allow_ips),
            risk={},
            hmac_secret=spec.hmac_secret,
            max_alerts_per_minute=spec.max_alerts_per_minute,
        )
        self.bots[bot.id] = bot
        self._next_id += 1
        return bot

    async def list_bots(self) -> list[BotConfig]:
        return [self.bots[bot_id] for bot_id in sorted(self.bots)]

    async def bot_by_name(self, name: str) -> BotConfig:
        return self._named(name)

    async def bot_by_id(self, bot_id: int) -> BotConfig:
        if bot_id not in self.bots:
            raise NotFound(f"no bot with id {bot_id}")
        return self.bots[bot_id]

    async def active_bot_by_id(self, bot_id: int) -> BotConfig | None:
        return self.bots.get(bot_id)

    async def set_paused(self, name: str, paused: bool) -> BotConfig:
        return self._replace(self._named(name), paused=paused)

    async def set_hmac_secret(self, name: str, secret: str | None) -> BotConfig:
        return self._replace(self._named(name), hmac_secret=secret)

    async def rotate_key(self, name: str) -> BotConfig:
        return self._replace(self._named(name), webhook_key=new_webhook_key())

    async def update_bot(self, bot_id: int, **fields: Any) -> bool:
        if bot_id not in self.bots:
            return False
        self._replace(self.bots[bot_id], **fields)
        return True

    async def pause_active_bots(self) -> list[str]:
        names = [bot.name for bot in await self.list_bots() if not bot.paused]
        for name in names:
            self._replace(self._named(name), paused=True)
        return names

    async def unpause_bots(self, names: list[str]) -> list[str]:
        found = [bot.name for bot in await self.list_bots() if bot.name in names and bot.paused]
        for name in found:
            self._replace(self._named(name), paused=False)
        return found


# ---------------------------------------------------------------- positions, trades, reports


class MemoryPositionStore(Unneeded):
    """`PositionStore` reads: the open positions a test puts in `positions`."""

    def __init__(self, positions: list[PositionView] | None = None) -> None:
        super().__init__("positions")
        self.positions: list[PositionView] = list(positions or [])

    async def list_positions(
        self, bot_name: str | None = None, position_id: int | None = None
    ) -> list[PositionView]:
        """Oldest first, of one bot and/or one id when given."""
        return sorted(
            (
                p
                for p in self.positions
                if (bot_name is None or p.bot == bot_name)
                and (position_id is None or p.id == position_id)
            ),
            key=lambda p: (p.opened_at, p.id),
        )


class MemoryOrderStore(Unneeded):
    """`OrderStore` reads: the closed trades a test puts in `trades`."""

    def __init__(self, trades: list[TradeView] | None = None) -> None:
        super().__init__("orders")
        self.trades: list[TradeView] = list(trades or [])

    async def list_trades(self, bot_name: str | None = None, limit: int = 50) -> list[TradeView]:
        """Newest first (closed_at, then id), of one bot when named, at most `limit`."""
        chosen = [t for t in self.trades if bot_name is None or t.bot == bot_name]
        chosen.sort(key=lambda t: (t.closed_at, t.id), reverse=True)
        return chosen[:limit]


class MemoryReportStore(Unneeded):
    """`ReportStore`: the closed trades a test puts in `trades`."""

    def __init__(self, trades: list[ClosedTradeRow] | None = None) -> None:
        super().__init__("reports")
        self.trades: list[ClosedTradeRow] = list(trades or [])

    async def closed_trades(self, since: datetime | None = None) -> list[ClosedTradeRow]:
        """Closed at or after `since` (all when None), oldest first."""
        chosen = [t for t in self.trades if since is None or t.closed_at >= since]
        return sorted(chosen, key=lambda t: t.closed_at)


# ---------------------------------------------------------------- audit and users


class MemoryAuditStore(Unneeded):
    """`AuditStore`: every row in `rows`, oldest first."""

    def __init__(self) -> None:
        super().__init__("audit")
        self.rows: list[AuditRecord] = []

    async def audit(
        self, actor: str, action: str, target: str = "", outcome: str = "ok", **details: Any
    ) -> None:
        self.rows.append(AuditRecord(actor, action, target[:128], outcome, details, _now()))

    async def last_audit(self, actions: tuple[str, ...], outcome: str = "ok") -> AuditRecord | None:
        for row in reversed(self.rows):
            if row.action in actions and row.outcome == outcome:
                return row
        return None


class MemoryUserStore(Unneeded):
    """`UserStore`: roles (the second factor and update ids are not implemented)."""

    def __init__(self) -> None:
        super().__init__("users")
        self.users: dict[int, UserRecord] = {}

    async def user(self, telegram_id: int) -> UserRecord | None:
        return self.users.get(telegram_id)

    async def list_users(self) -> list[UserRecord]:
        return list(self.users.values())

    async def set_role(
        self, telegram_id: int, role: str, username: str | None = None
    ) -> UserRecord:
        """Create the user or change their role, keeping their notification choices."""
        old = self.users.get(telegram_id)
        record = UserRecord(
            telegram_id,
            role,
            username or (old.username if old else None),
            dict(old.notify) if old else {},
            old.created_at if old else _now(),
        )
        self.users[telegram_id] = record
        return record

    async def delete_user(self, telegram_id: int) -> bool:
        return self.users.pop(telegram_id, None) is not None


# ---------------------------------------------------------------- the paper account


class MemoryPaperLedger(Unneeded):
    """The paper broker's account (`PaperLedger`): realized PnL and open exposure per quote
    currency, as a test sets them."""

    def __init__(
        self,
        realized: dict[str, Decimal] | None = None,
        exposure: dict[str, Decimal] | None = None,
    ) -> None:
        super().__init__("ledger")
        self.realized_by_quote: dict[str, Decimal] = dict(realized or {})
        self.exposure_by_quote: dict[str, Decimal] = dict(exposure or {})

    async def realized(self) -> dict[str, Decimal]:
        return dict(self.realized_by_quote)

    async def exposure(self) -> dict[str, Decimal]:
        return dict(self.exposure_by_quote)

    async def account(self, quote: str) -> tuple[Decimal, Decimal]:
        return (
            self.realized_by_quote.get(quote, Decimal(0)),
            self.exposure_by_quote.get(quote, Decimal(0)),
        )


# ---------------------------------------------------------------- the bundle


def memory_stores(
    *,
    bots: MemoryBotStore | None = None,
    positions: MemoryPositionStore | None = None,
    orders: MemoryOrderStore | None = None,
    audit: MemoryAuditStore | None = None,
    users: MemoryUserStore | None = None,
    ledger: MemoryPaperLedger | None = None,
    reports: MemoryReportStore | None = None,
) -> Stores:
    """A `Stores` in memory: the stores given (pass them to look inside afterwards), fresh ones
    for the others; alerts, prices, series, health, risk and dashboard are `Unneeded`. Nothing
    here raises a storage outage, so `unavailable` is empty.

    The casts are the honest part: these classes implement a subset of each port, and the rest
    fails loudly when called (`Unneeded`)."""
    return Stores(
        bots=cast(BotStore, bots if bots is not None else MemoryBotStore()),
        positions=cast(
            PositionStore, positions if positions is not None else MemoryPositionStore()
        ),
        orders=cast(OrderStore, orders if orders is not None else MemoryOrderStore()),
        alerts=cast(AlertLogStore, Unneeded("alerts")),
        audit=cast(AuditStore, audit if audit is not None else MemoryAuditStore()),
        prices=cast(PriceStore, Unneeded("prices")),
        users=cast(UserStore, users if users is not None else MemoryUserStore()),
        ledger=cast(PaperLedgerStore, ledger if ledger is not None else MemoryPaperLedger()),
        series=cast(SeriesStore, Unneeded("series")),
        reports=cast(ReportStore, reports if reports is not None else MemoryReportStore()),
        health=cast(HealthStore, Unneeded("health")),
        risk=cast(RiskStore, Unneeded("risk")),
        dashboard=cast(DashboardStore, Unneeded("dashboard")),
        unavailable=(),
    )
