"""The account's risk rules, kill switch and figures per quote currency (the `RiskStore`, SPEC
§6a): the single `account_settings` row, each bot's `risk` column, `equity_snapshots`, and the
open positions and closed trades an entry's check reads.

`account_rows` is on the alert's hot path (once per entry): one `sql.Batch` of lean reads, like
`db.paper_ledger`. The closed trades' PnL and the snapshots' peak are `db.tally` figures, so it
reads only the rows added since its last look. `entry_lock` serialises an entry's check and its
fill per currency across processes on PostgreSQL (an advisory lock); on SQLite one process
writes, and the lock is a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise import connections

from db import sql
from db.models import (
    AccountSettings,
    BotPrice,
    CurrentPosition,
    EquitySnapshotRow,
    Instrument,
    TradeHistory,
    TradingBot,
)
from db.rows import decoded
from db.tally import Tally, add_up, highest
from db.tortoise_seam import SqliteClient, pooled_connection, release_clean
from trading import money
from trading.equity import (
    AccountRows,
    AccountState,
    EquitySnapshot,
    KillSwitchState,
    OpenPositionRow,
)
from trading.errors import InvalidRequest, NotFound
from trading.prices import newest, shared_price
from trading.risk import RiskRules, StopLoss

log = logging.getLogger(__name__)

ACCOUNT_ID = 1  # the one account_settings row
STOP_LOSS = "stop_loss"  # trade_history.reason of a stop-loss close
# The first key of the two-int advisory lock ('risk'), the second is the currency's CRC-32.
LOCK_SPACE = 0x7269736B
MAX_BY, MAX_RULE = 128, 32  # account_settings.kill_switch_by / kill_switch_rule

_SETTINGS = (
    "kill_switch",
    "kill_switch_by",
    "kill_switch_since",
    "kill_switch_reason",
    "kill_switch_rule",
    "legacy_paused",
)
_SETTINGS_SQL = (
    'SELECT "risk", "kill_switch", "kill_switch_by", "kill_switch_since", "kill_switch_reason", '
    '"kill_switch_rule", "legacy_paused" FROM "account_settings" WHERE "id" = ?'
)
_POSITION = ("bot_id", "symbol", "side", "qty", "avg_price", "realized_pnl")
_INSTRUMENT = ("last_price", "last_price_at", "last_price_source")
_BOT_PRICE = ("price", "seen_at")
_POSITIONS_SQL = (
    'SELECT p."bot_id", p."symbol", p."side", p."qty", p."avg_price", p."realized_pnl", '
    'i."last_price", i."last_price_at", i."last_price_source", b."price", b."seen_at" '
    'FROM "current_positions" AS p '
    'LEFT JOIN "instruments" AS i ON i."symbol" = p."symbol" '
    'LEFT JOIN "bot_prices" AS b ON b."bot_id" = p."bot_id" AND b."symbol" = p."symbol" '
    'WHERE p."quote" = ? ORDER BY p."id"'
)
_LATEST = 'ORDER BY "at" DESC, "id" DESC LIMIT 1'
_BALANCE_SQL = f'SELECT "balance" FROM "equity_snapshots" WHERE "quote" = ? {_LATEST}'
_DAY_START_SQL = (
    f'SELECT "equity" FROM "equity_snapshots" WHERE "quote" = ? AND "at" <= ? {_LATEST}'
)
_STOPS_SQL = (
    'SELECT "symbol", "closed_at" FROM "trade_history" '
    'WHERE "bot_id" = ? AND "reason" = ? AND "closed_at" >= ? ORDER BY "closed_at", "id"'
)
_QUOTES_SQL = (
    'SELECT "quote" FROM "current_positions" UNION SELECT "quote" FROM "trade_history" '
    'UNION SELECT "quote" FROM "equity_snapshots"'
)
_SNAPSHOT = (
    "quote",
    "at",
    "equity",
    "balance",
    "realized",
    "unrealized",
    "open_positions",
    "open_notional",
    "cause",
)
_SNAPSHOTS_SQL = (
    'SELECT "id", "quote", "at", "equity", "balance", "realized", "unrealized", '
    '"open_positions", "open_notional", "cause" FROM "equity_snapshots"'
)


def stored_rules(raw: Any, where: str) -> RiskRules:
    """Rules as stored (`RiskRules.to_json`, as a mapping or JSON text). A value that no longer
    parses (written by hand, or by a version with other rules) is dropped with a warning naming
    `where` and the key: a bad row never stops the check of every entry."""
    data = raw
    if isinstance(raw, str | bytes):
        try:
            data = json.loads(raw)
        except ValueError:
            log.warning("risk: %s: stored rules are not JSON: ignored", where)
            return RiskRules()
    if data is None:
        return RiskRules()
    if not isinstance(data, Mapping):
        log.warning("risk: %s: stored rules are not a JSON object: ignored", where)
        return RiskRules()
    try:
        return RiskRules.from_json(data)
    except InvalidRequest:
        pass
    kept = {}
    for key, value in data.items():
        try:
            RiskRules.from_json({key: value})
        except InvalidRequest as error:
            log.warning("risk: %s: stored rule dropped: %s", where, error)
        else:
            kept[key] = value
    return RiskRules.from_json(kept)


def _state(rows: list[Any]) -> AccountState:
    """The account settings row (none yet: no rules, the kill switch off)."""
    if not rows:
        return AccountState()
    row = rows[0]
    values = sql.decode(AccountSettings, row[1:], _SETTINGS)
    paused = values["legacy_paused"]
    switch = KillSwitchState(
        on=bool(values["kill_switch"]),
        by=values["kill_switch_by"] or "",
        since=values["kill_switch_since"],
        reason=values["kill_switch_reason"] or "",
        rule=values["kill_switch_rule"],
        legacy_paused=tuple(str(name) for name in paused) if isinstance(paused, list) else (),
    )
    return AccountState(rules=stored_rules(row[0], "account"), kill_switch=switch)


def _ensure_account(batch: sql.Batch) -> None:
    """The account settings row, inserted when missing (the migration inserts it)."""
    field = sql.field_of
    batch.execute(
        'INSERT INTO "account_settings" ("id", "risk", "kill_switch", "kill_switch_by", '
        '"kill_switch_since", "kill_switch_reason", "kill_switch_rule", "legacy_paused") '
        'VALUES (?, ?, ?, ?, NULL, ?, NULL, ?) ON CONFLICT ("id") DO NOTHING',
        ACCOUNT_ID,
        sql.encode(field(AccountSettings, "risk"), {}),
        sql.encode(field(AccountSettings, "kill_switch"), False),
        "",
        "",
        sql.encode(field(AccountSettings, "legacy_paused"), []),
    )


def _on_sqlite() -> bool:
    return isinstance(connections.get("default"), SqliteClient)


def _positions(rows: list[Any]) -> list[OpenPositionRow]:
    """Open positions with the price each is valued at (`trading.prices.newest`: the newer of
    the bot's own alert price and the symbol's). A row that cannot be read is left out, logged."""
    positions = []
    for row in rows:
        try:
            held = sql.decode(CurrentPosition, row[0:6], _POSITION)
            symbol = sql.decode(Instrument, row[6:9], _INSTRUMENT)
            own = sql.decode(BotPrice, row[9:11], _BOT_PRICE)
        except Exception:
            log.exception("current_positions row %r cannot be read: left out", tuple(row[:2]))
            continue
        shared = shared_price(
            symbol["last_price"], symbol["last_price_at"], symbol["last_price_source"]
        )
        mine = None if own["price"] is None else (own["seen_at"], own["price"])
        positions.append(OpenPositionRow(**held, price=newest(shared, mine)))
    return positions


def _money_or_none(rows: list[Any]) -> Decimal | None:
    return money.from_column(rows[0][0]) if rows and rows[0][0] is not None else None


class SqlRiskStore:
    """`trading.ports.RiskStore` on `account_settings`, `trading_bots.risk`, `equity_snapshots`
    and the trading tables (module docstring)."""

    def __init__(self) -> None:
        self._closed = Tally("trade_history", "pnl", "quote", add_up)
        # a "start" snapshot (taken when a tripped max_drawdown is resumed) starts the peak afresh
        self._peak = Tally(
            "equity_snapshots", "equity", "quote", highest, restart=("cause", "start")
        )
        # per currency: this process's waiters queue here, so only one of them holds a pool
        # connection while it waits for the advisory lock (keyed by the loop it was made in)
        self._local: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}

    # ------------------------------------------------------------ rules and the kill switch

    async def account_state(self) -> AccountState:
        batch = sql.Batch()
        batch.fetch(_SETTINGS_SQL, ACCOUNT_ID)
        (rows,) = await sql.run(batch)
        return _state(rows)

    async def save_account_rules(self, rules: dict[str, str]) -> None:
        """Store the account's rules (`RiskRules.to_json`; InvalidRequest when one is none)."""
        RiskRules.from_json(rules)
        batch = sql.Batch()
        _ensure_account(batch)
        batch.update(AccountSettings, {"risk": dict(rules)}, '"id" = ?', ACCOUNT_ID)
        await sql.run(batch)

    async def save_bot_rules(self, bot_id: int, rules: dict[str, str]) -> None:
        """Store a bot's own rules (`RiskRules.to_json`, `off` allowed); NotFound: no such bot."""
        RiskRules.from_json(rules)
        batch = sql.Batch()
        batch.update(
            TradingBot,
            {"risk": dict(rules), "updated_at": datetime.now(UTC)},
            '"id" = ?',
            bot_id,
            require=NotFound(f"no bot with id {bot_id}"),
        )
        await sql.run(batch)

    async def set_kill_switch(self, state: KillSwitchState) -> KillSwitchState:
        """Store the kill switch; the state it replaced (read under the row's lock on PostgreSQL,
        in the single writer's transaction on SQLite: two switches never both see "off")."""
        batch = sql.Batch()
        _ensure_account(batch)
        lock = "" if _on_sqlite() else " FOR UPDATE"
        before = batch.fetch(_SETTINGS_SQL + lock, ACCOUNT_ID)
        batch.update(
            AccountSettings,
            {
                "kill_switch": state.on,
                "kill_switch_by": state.by[:MAX_BY],
                "kill_switch_since": state.since,
                "kill_switch_reason": state.reason,
                "kill_switch_rule": None if state.rule is None else state.rule[:MAX_RULE],
                "legacy_paused": list(state.legacy_paused),
            },
            '"id" = ?',
            ACCOUNT_ID,
        )
        results = await sql.run(batch)
        return _state(results[before]).kill_switch

    # ------------------------------------------------------------ figures

    async def account_rows(
        self,
        quote: str,
        *,
        day_start: datetime,
        bot_id: int | None = None,
        stops_since: datetime | None = None,
    ) -> AccountRows:
        """Everything an entry's check needs of one currency, in one batch of reads."""
        at = sql.field_of(EquitySnapshotRow, "at")
        batch = sql.Batch()
        settings = batch.fetch(_SETTINGS_SQL, ACCOUNT_ID)
        closed = self._closed.plan(batch, quote)
        positions = batch.fetch(_POSITIONS_SQL, quote)
        balance = batch.fetch(_BALANCE_SQL, quote)
        peak = self._peak.plan(batch, quote)
        day = batch.fetch(_DAY_START_SQL, quote, sql.encode(at, day_start))
        stops = None
        if bot_id is not None and stops_since is not None:
            closed_at = sql.field_of(TradeHistory, "closed_at")
            stops = batch.fetch(_STOPS_SQL, bot_id, STOP_LOSS, sql.encode(closed_at, stops_since))
        results = await sql.run(batch)
        stop_losses = ()
        if stops is not None:
            stop_losses = tuple(
                StopLoss(row.symbol, row.closed_at)
                for row in decoded(TradeHistory, results[stops], ("symbol", "closed_at"))
            )
        return AccountRows(
            quote=quote,
            state=_state(results[settings]),
            closed_realized=await self._closed.value(closed, results) or Decimal(0),
            positions=tuple(_positions(results[positions])),
            balance=_money_or_none(results[balance]),
            equity_peak=await self._peak.value(peak, results),
            day_start_equity=_money_or_none(results[day]),
            stop_losses=stop_losses,
        )

    async def quotes(self) -> list[str]:
        """Quote currencies with an open position, a closed trade or a snapshot."""
        batch = sql.Batch()
        batch.fetch(_QUOTES_SQL)
        (rows,) = await sql.run(batch)
        return sorted({str(row[0]) for row in rows})

    async def add_snapshot(self, snapshot: EquitySnapshot) -> None:
        """Store a snapshot (money rounded to the columns' 12 places, saturated at their bound)."""
        batch = sql.Batch()
        batch.insert(
            EquitySnapshotRow,
            {
                "quote": snapshot.quote,
                "at": snapshot.at,
                "equity": money.fit(snapshot.equity, "equity"),
                "balance": money.fit(snapshot.balance, "balance"),
                "realized": money.fit(snapshot.realized, "realized"),
                "unrealized": money.fit(snapshot.unrealized, "unrealized"),
                "open_positions": snapshot.open_positions,
                "open_notional": money.fit(snapshot.open_notional, "open_notional"),
                "cause": snapshot.cause,
            },
        )
        await sql.run(batch)

    async def snapshots(
        self, quote: str | None = None, since: datetime | None = None
    ) -> list[EquitySnapshot]:
        """Snapshots oldest first (of one currency when named, from `since` when given); a row
        that cannot be read is left out and logged."""
        where, params = [], []
        if quote is not None:
            where.append('"quote" = ?')
            params.append(quote)
        if since is not None:
            where.append('"at" >= ?')
            params.append(sql.encode(sql.field_of(EquitySnapshotRow, "at"), since))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        batch = sql.Batch()
        batch.fetch(f'{_SNAPSHOTS_SQL}{clause} ORDER BY "at", "id"', *params)
        (rows,) = await sql.run(batch)
        return [
            EquitySnapshot(**{name: getattr(row, name) for name in _SNAPSHOT})
            for row in decoded(EquitySnapshotRow, rows, ("id", *_SNAPSHOT))
        ]

    # ------------------------------------------------------------ serialising entries

    def entry_lock(self, quote: str) -> AbstractAsyncContextManager[None]:
        """Held from an entry's check until its fill is stored. PostgreSQL: a session advisory
        lock per currency on a pool connection of its own, so every process's entries in the
        currency take turns (this process's waiters queue on a local lock first, so waiting
        never takes more than one pool connection per currency). SQLite: a no-op."""
        if _on_sqlite():
            return contextlib.nullcontext()
        return self._advisory(quote)

    @asynccontextmanager
    async def _advisory(self, quote: str) -> AsyncIterator[None]:
        key = _lock_key(quote)
        async with self._local_lock(quote), pooled_connection(connections.get("default")) as db:
            await db.execute("SELECT pg_advisory_lock($1, $2)", LOCK_SPACE, key)
            try:
                yield
            finally:
                try:
                    await db.execute("SELECT pg_advisory_unlock($1, $2)", LOCK_SPACE, key)
                except Exception:  # the pool resets the connection: the lock goes with it
                    log.exception("risk: entry lock of %s: unlock failed", quote)
                else:  # unlocked: no reset needed (unlock failed or cancelled: the pool resets)
                    release_clean(db)

    def _local_lock(self, quote: str) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        known = self._local.get(quote)
        if known is None or known[0] is not loop:
            known = (loop, asyncio.Lock())
            self._local[quote] = known
        return known[1]


def _lock_key(quote: str) -> int:
    """The currency's CRC-32 as PostgreSQL's signed int4 (the same in every process)."""
    crc = zlib.crc32(quote.encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc
