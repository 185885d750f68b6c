"""The account per quote currency (SPEC §6a): its stored rows, its equity, and the kill switch.

Equity = starting balance + realized PnL (after fees: `trade_history.pnl` of closed trades plus
the realized part of open positions) + unrealized PnL of the open positions at their valuation
prices (`trading.prices.newest`: the newer of the bot's own price and the exchange's). The
starting balance is the paper broker's (`TRADEBOT_PAPER_BALANCE`), or, with a real exchange,
what the exchange reported for that currency when the currency was first seen (kept in the
snapshots: `EquitySnapshot.balance`).

Drawdown and the day's loss come from `equity_snapshots` (taken on every fill and every hour):
the peak is the highest equity sampled (or the equity now, when higher), the day's start is the
equity of the last snapshot at or before `daily_reset_hour` (the starting balance before any).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

from trading import money
from trading.risk import RiskRules, StopLoss, day_start

ZERO = Decimal(0)
SnapshotCause = Literal["fill", "hourly", "start"]


@dataclass(frozen=True, slots=True)
class OpenPositionRow:
    """One open position of the currency, with the price it is valued at (None: none known)."""

    bot_id: int
    symbol: str
    side: Literal["long", "short"]
    qty: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    price: Decimal | None

    @property
    def notional(self) -> Decimal:
        """What the position holds at its entry price (`max_exposure` counts this)."""
        return money.CONTEXT.multiply(self.qty, self.avg_price)

    @property
    def unrealized(self) -> Decimal:
        if self.price is None:
            return ZERO
        move = money.CONTEXT.subtract(self.price, self.avg_price)
        if self.side == "short":
            move = move.copy_negate()
        return money.CONTEXT.multiply(move, self.qty)


@dataclass(frozen=True, slots=True)
class KillSwitchState:
    """The kill switch: on, who and when, and why (`rule` is `max_drawdown` when it tripped).

    `legacy_paused` names bots that a kill switch of before the upgrade paused (it paused whole
    bots); the first resume after the upgrade resumes them."""

    on: bool = False
    by: str = ""
    since: datetime | None = None
    reason: str = ""
    rule: str | None = None
    legacy_paused: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountState:
    """The account's own risk rules (a bot's are in its `risk`) and the kill switch."""

    rules: RiskRules = field(default_factory=RiskRules)
    kill_switch: KillSwitchState = field(default_factory=KillSwitchState)


@dataclass(frozen=True, slots=True)
class AccountRows:
    """What the stores hold of one currency when an entry is checked, read together."""

    quote: str
    state: AccountState
    closed_realized: Decimal  # sum of trade_history.pnl in this currency (after fees)
    positions: tuple[OpenPositionRow, ...]  # every open position in this currency
    balance: Decimal | None  # starting balance kept by the snapshots (None: no snapshot yet)
    equity_peak: Decimal | None  # highest equity of the snapshots (None: none)
    day_start_equity: Decimal | None  # last snapshot at or before the day's start (None: none)
    stop_losses: tuple[StopLoss, ...] = ()  # the bot's stop-loss closes since `stops_since`


@dataclass(frozen=True, slots=True)
class EquitySnapshot:
    """One `equity_snapshots` row."""

    quote: str
    at: datetime
    equity: Decimal
    balance: Decimal  # the starting balance it was computed from
    realized: Decimal
    unrealized: Decimal
    open_positions: int
    open_notional: Decimal
    cause: SnapshotCause


@dataclass(frozen=True, slots=True)
class Equity:
    """A currency's equity now, from `AccountRows` and its starting balance."""

    quote: str
    balance: Decimal
    realized: Decimal
    unrealized: Decimal
    open_positions: int
    open_notional: Decimal

    @property
    def equity(self) -> Decimal:
        return money.total((self.balance, self.realized, self.unrealized))

    def snapshot(self, at: datetime, cause: SnapshotCause) -> EquitySnapshot:
        return EquitySnapshot(
            quote=self.quote,
            at=at,
            equity=self.equity,
            balance=self.balance,
            realized=self.realized,
            unrealized=self.unrealized,
            open_positions=self.open_positions,
            open_notional=self.open_notional,
            cause=cause,
        )


def equity_of(rows: AccountRows, balance: Decimal) -> Equity:
    """The currency's equity from its rows (`balance`: the starting balance to use)."""
    with money.wide():
        realized = rows.closed_realized + sum((p.realized_pnl for p in rows.positions), ZERO)
        unrealized = sum((p.unrealized for p in rows.positions), ZERO)
        notional = sum((p.notional for p in rows.positions), ZERO)
    return Equity(rows.quote, balance, realized, unrealized, len(rows.positions), notional)


class AccountStore(Protocol):
    """What the book needs of `trading.ports.RiskStore` (here, so this module, which the ports
    import for their records, does not import them back)."""

    async def account_state(self) -> AccountState: ...

    async def account_rows(
        self,
        quote: str,
        *,
        day_start: datetime,
        bot_id: int | None = None,
        stops_since: datetime | None = None,
    ) -> AccountRows: ...

    async def quotes(self) -> list[str]: ...

    async def add_snapshot(self, snapshot: EquitySnapshot) -> None: ...


class StartingBalance(Protocol):
    async def __call__(self, quote: str) -> Decimal:
        """The balance a currency starts from when it has no snapshot yet."""


class AccountBook:
    """Each currency's equity now, and its snapshots (every fill, every hour): the one place the
    gate before entries, the figures (/pnl, GET /stats) and the hourly job take equity from."""

    def __init__(self, stores: AccountStore, starting_balance: StartingBalance) -> None:
        self.stores = stores
        self.starting_balance = starting_balance

    async def balance(self, rows: AccountRows) -> Decimal:
        return rows.balance if rows.balance is not None else await self.starting_balance(rows.quote)

    async def rows(
        self,
        quote: str,
        now: datetime,
        *,
        reset_hour: int = 0,
        bot_id: int | None = None,
        stops_since: datetime | None = None,
    ) -> AccountRows:
        return await self.stores.account_rows(
            quote, day_start=day_start(now, reset_hour), bot_id=bot_id, stops_since=stops_since
        )

    async def equity(
        self, quote: str, now: datetime, *, reset_hour: int = 0
    ) -> tuple[Equity, AccountRows]:
        rows = await self.rows(quote, now, reset_hour=reset_hour)
        return equity_of(rows, await self.balance(rows)), rows

    async def snapshot(self, quote: str, now: datetime, cause: SnapshotCause) -> EquitySnapshot:
        """Sample one currency's equity into `equity_snapshots`. A currency's first sample is
        preceded by a `start` one at its starting balance (the equity before any trade), so the
        peak counts the account's start."""
        equity, rows = await self.equity(quote, now)
        if rows.balance is None and cause != "start":
            opening = Equity(quote, equity.balance, ZERO, ZERO, 0, ZERO)
            await self.stores.add_snapshot(opening.snapshot(now, "start"))
        snapshot = equity.snapshot(now, cause)
        await self.stores.add_snapshot(snapshot)
        return snapshot

    async def snapshot_all(self, now: datetime, cause: SnapshotCause) -> list[EquitySnapshot]:
        return [await self.snapshot(quote, now, cause) for quote in await self.stores.quotes()]
