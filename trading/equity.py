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
from typing import Literal

from trading import money
from trading.risk import RiskRules, StopLoss

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


def peak_of(rows: AccountRows, equity: Equity) -> Decimal:
    """The peak drawdown is measured from: the highest sample since the last `start` one (the
    store's `equity_peak`), the starting balance when nothing was sampled yet, or the equity now
    when higher. The entry check, the hourly sample and the figures all take it from here."""
    sampled = rows.equity_peak if rows.equity_peak is not None else equity.balance
    return max(sampled, equity.equity)
