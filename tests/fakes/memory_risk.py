"""An in-memory `trading.ports.RiskStore` for unit tests of the account figures: the account's
rules, open positions and snapshots a test sets, closed trades read from a `MemoryReportStore`
(so realized PnL and the trades the reports list are the same rows), with the observable rules
of `db.risk.SqlRiskStore`: the starting balance is the first snapshot's, the peak the highest
snapshot, the day's start the last snapshot at or before it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from tests.fakes.memory_stores import MemoryReportStore
from trading import money
from trading.equity import AccountRows, AccountState, EquitySnapshot, KillSwitchState
from trading.equity import OpenPositionRow as OpenPositionRow
from trading.risk import RiskRules, parse_rules


class MemoryRiskStore:
    def __init__(
        self,
        reports: MemoryReportStore,
        *,
        rules: dict[str, str] | None = None,
        positions: dict[str, list[OpenPositionRow]] | None = None,
        snapshots: Iterable[EquitySnapshot] = (),
    ) -> None:
        self.reports = reports
        self.state = AccountState(rules=parse_rules(rules or {}))
        self.positions: dict[str, list[OpenPositionRow]] = dict(positions or {})
        self.taken: list[EquitySnapshot] = list(snapshots)

    def set_rules(self, **rules: str) -> None:
        self.state = replace(self.state, rules=parse_rules(rules))

    async def account_state(self) -> AccountState:
        return self.state

    async def save_account_rules(self, rules: dict[str, str]) -> None:
        self.state = replace(self.state, rules=RiskRules.from_json(rules))

    async def save_bot_rules(self, bot_id: int, rules: dict[str, str]) -> None:
        raise AssertionError("bot rules are not kept in memory")

    async def set_kill_switch(self, state: KillSwitchState) -> KillSwitchState:
        before, self.state = self.state.kill_switch, replace(self.state, kill_switch=state)
        return before

    async def account_rows(
        self,
        quote: str,
        *,
        day_start: datetime,
        bot_id: int | None = None,
        stops_since: datetime | None = None,
    ) -> AccountRows:
        mine = [s for s in sorted(self.taken, key=lambda s: s.at) if s.quote == quote]
        before = [s for s in mine if s.at <= day_start]
        return AccountRows(
            quote=quote,
            state=self.state,
            closed_realized=money.total(t.pnl for t in self.reports.trades if t.quote == quote),
            positions=tuple(self.positions.get(quote, [])),
            balance=mine[0].balance if mine else None,
            equity_peak=max((s.equity for s in mine), default=None),
            day_start_equity=before[-1].equity if before else None,
        )

    async def quotes(self) -> list[str]:
        found = {t.quote for t in self.reports.trades} | {s.quote for s in self.taken}
        found |= {quote for quote, rows in self.positions.items() if rows}
        return sorted(found)

    async def add_snapshot(self, snapshot: EquitySnapshot) -> None:
        self.taken.append(snapshot)

    async def snapshots(
        self, quote: str | None = None, since: datetime | None = None
    ) -> list[EquitySnapshot]:
        return [
            s
            for s in sorted(self.taken, key=lambda s: s.at)
            if (quote is None or s.quote == quote) and (since is None or s.at >= since)
        ]

    def entry_lock(self, quote: str) -> AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()


def snapshot(quote: str, at: datetime, equity: str, balance: str = "10000") -> EquitySnapshot:
    """A snapshot whose other figures do not matter to the reports."""
    return EquitySnapshot(
        quote=quote,
        at=at,
        equity=Decimal(equity),
        balance=Decimal(balance),
        realized=Decimal(0),
        unrealized=Decimal(0),
        open_positions=0,
        open_notional=Decimal(0),
        cause="hourly",
    )
