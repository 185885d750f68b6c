"""Each quote currency's equity now, and its samples (`equity_snapshots`): `AccountBook`, the one
place the gate before entries, the figures (/pnl, GET /stats) and the samplers take equity from.
What equity is: `trading.equity`."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol

from trading.equity import (
    ZERO,
    AccountRows,
    Equity,
    EquitySnapshot,
    SnapshotCause,
    equity_of,
    peak_of,
)
from trading.ports import RiskStore
from trading.risk import day_start


class StartingBalance(Protocol):
    async def __call__(self, quote: str) -> Decimal:
        """The balance a currency starts from when it has no snapshot yet."""


class AccountBook:
    """Each currency's equity now, and its snapshots (every fill, every hour): the one place the
    gate before entries, the figures (/pnl, GET /stats) and the hourly job take equity from."""

    def __init__(self, stores: RiskStore, starting_balance: StartingBalance) -> None:
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
        """Sample one currency's equity into `equity_snapshots`."""
        return (await self.sample(quote, now, cause))[0]

    async def sample(
        self, quote: str, now: datetime, cause: SnapshotCause
    ) -> tuple[EquitySnapshot, Decimal]:
        """`snapshot`, with the peak as it was before it (`peak_of`). A currency's first sample
        is preceded by a `start` one at its starting balance (the equity before any trade), so
        the peak counts the account's start."""
        equity, rows = await self.equity(quote, now)
        if rows.balance is None and cause != "start":
            opening = Equity(quote, equity.balance, ZERO, ZERO, 0, ZERO)
            await self.stores.add_snapshot(opening.snapshot(now, "start"))
        snapshot = equity.snapshot(now, cause)
        await self.stores.add_snapshot(snapshot)
        return snapshot, peak_of(rows, equity)
