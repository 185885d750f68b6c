"""The storage hot path (`db.sql`) on PostgreSQL: a batch is one acquire of a pool connection,
several reads one statement, several writes one statement that stores all of them or none, and
a connection a lean batch gives back skips the pool's reset while any other keeps it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tortoise import Tortoise, connections
from tortoise.exceptions import IntegrityError

from db import sql
from db.config import tortoise_config
from db.leader_lock import asyncpg_dsn
from db.models import Order, TradeHistory, WebhookLog
from db.paper_ledger import SqlPaperLedger
from db.risk import LOCK_SPACE, SqlRiskStore, _lock_key
from db.stores import sql_stores
from db.tortoise_seam import pooled_connection
from tests.processes import migrated_postgres
from tests.waiting import eventually
from trading.bots import BotSpec

pytestmark = pytest.mark.services

ADVISORY_LOCKS = "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'"


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[str]:
    async with migrated_postgres("tradebot_pglean", tmp_path) as url:
        await Tortoise.init(config=tortoise_config(url))
        try:
            yield url
        finally:
            await Tortoise.close_connections()


async def _bot() -> int:
    bot = await sql_stores().bots.create_bot(BotSpec(name="demo", symbols=["BTCUSDT"], size="1"))
    return bot.id


def _order(bot_id: int, client_order_id: str) -> dict[str, Any]:
    return {
        "client_order_id": client_order_id,
        "bot_id": bot_id,
        "symbol": "BTCUSDT",
        "side": "buy",
        "qty": Decimal("0.5"),
        "broker": "paper",
        "intent": "open",
    }


def _log(dedup_key: str, **more: Any) -> dict[str, Any]:
    return {"dedup_key": dedup_key, "status": "received", "received_at": datetime.now(UTC), **more}


async def _trade(
    bot_id: int, pnl: str, closed_at: datetime | None = None, trade_id: int | None = None
) -> None:
    """A closed trade; with `trade_id`, stored under that id (as a late commit would be)."""
    closed_at = closed_at or datetime.now(UTC)
    await TradeHistory.create(
        **({"id": trade_id} if trade_id else {}),
        position_id=trade_id or int(closed_at.timestamp()),
        bot_id=bot_id,
        symbol="BTCUSDT",
        quote="USDT",
        side="long",
        qty=Decimal(1),
        entry_price=Decimal(100),
        exit_price=Decimal(101),
        pnl=Decimal(pnl),
        fees=Decimal(0),
        opened_at=closed_at,
        closed_at=closed_at,
        reason="signal",
    )


async def test_reads_of_a_batch_answer_as_each_read_alone(postgres: str) -> None:
    bot_id = await _bot()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n, pnl in enumerate(("1.000000000001", "-2.5", "123456789.123456789012")):
        await _trade(bot_id, pnl, start + timedelta(minutes=n))
    reads = [
        ('SELECT "id", "pnl", "closed_at" FROM "trade_history" WHERE "quote" = ? '
         'ORDER BY "id" DESC LIMIT 2', ("USDT",)),
        ('SELECT COUNT("id") FROM "trade_history" WHERE "quote" = ?', ("USDT",)),
        ('SELECT "pnl" FROM "trade_history" WHERE "quote" = ?', ("EUR",)),
        ('SELECT "symbols", "sl", "deleted_at" FROM "trading_bots" WHERE "id" = ?', (bot_id,)),
    ]  # fmt: skip
    together = sql.Batch()
    for statement, params in reads:
        together.fetch(statement, *params)
    results = await sql.run(together)
    alone = []
    for statement, params in reads:
        batch = sql.Batch()
        batch.fetch(statement, *params)
        alone.append((await sql.run(batch))[0])
    assert [[tuple(row) for row in rows] for rows in results] == [
        [tuple(row) for row in rows] for rows in alone
    ]
    newest, previous = results[0]
    assert (newest[1], previous[1]) == (Decimal("123456789.123456789012"), Decimal("-2.5"))
    assert results[1][0][0] == 3 and results[2] == []


async def test_writes_of_a_batch_are_stored_together_with_the_ids_they_refer_to(
    postgres: str,
) -> None:
    bot_id = await _bot()
    batch = sql.Batch()
    order = batch.insert(Order, _order(bot_id, "c-1"))
    log = batch.insert(WebhookLog, _log("k-1", order_id=order))
    changed = batch.execute(
        'UPDATE "trading_bots" SET "risk" = ? WHERE "id" = ?', '{"max_open": "3"}', bot_id
    )
    assert sql._writes_as_one(batch.statements) is not None  # the path under test
    results = await sql.run(batch)
    order_id, log_id = results[order.index], results[log.index]
    assert results[changed] == 1
    assert (await WebhookLog.get(id=log_id)).order_id == order_id
    assert (await Order.get(id=order_id)).client_order_id == "c-1"


async def test_a_write_that_refuses_stores_nothing_of_its_batch(postgres: str) -> None:
    bot_id = await _bot()
    batch = sql.Batch()
    batch.insert(Order, _order(bot_id, "c-1"))
    batch.insert(WebhookLog, _log("k-1"))
    batch.execute(
        'UPDATE "current_positions" SET "version" = "version" + 1 WHERE "id" = ?',
        999,
        require=LookupError("position 999 changed"),
    )
    assert sql._writes_as_one(batch.statements) is not None
    with pytest.raises(LookupError, match="position 999 changed"):
        await sql.run(batch)
    assert await Order.all().count() == 0
    assert await WebhookLog.all().count() == 0


async def test_a_unique_violation_stores_nothing_and_names_its_statement(postgres: str) -> None:
    bot_id = await _bot()
    first = sql.Batch()
    first.insert(Order, _order(bot_id, "c-1"))
    first.insert(WebhookLog, _log("k-1"))
    await sql.run(first)
    again = sql.Batch()
    again.insert(WebhookLog, _log("k-2"))
    again.insert(Order, _order(bot_id, "c-1"), on_conflict=KeyError("order c-1 exists"))
    with pytest.raises(KeyError, match="order c-1 exists"):
        await sql.run(again)
    plain = sql.Batch()
    plain.insert(Order, _order(bot_id, "c-2"))
    plain.insert(WebhookLog, _log("k-1"))  # no on_conflict: IntegrityError
    with pytest.raises(IntegrityError):
        await sql.run(plain)
    assert await WebhookLog.all().values_list("dedup_key", flat=True) == ["k-1"]
    assert await Order.all().values_list("client_order_id", flat=True) == ["c-1"]


async def test_two_changes_of_one_table_run_in_a_transaction_statement_by_statement(
    postgres: str,
) -> None:
    batch = sql.Batch()
    log = batch.insert(WebhookLog, _log("k-1"))
    batch.update(WebhookLog, {"status": "executed"}, '"id" = ?', log)  # sees the insert
    assert sql._writes_as_one(batch.statements) is None
    results = await sql.run(batch)
    assert results[1] == 1
    assert (await WebhookLog.get(id=results[0])).status == "executed"


async def test_connections_lean_batches_give_back_skip_the_reset_others_keep_it(
    postgres: str,
) -> None:
    client = connections.get("default")
    for _ in range(3):
        batch = sql.Batch()
        batch.fetch("SELECT 1")
        await sql.run(batch)
    async with pooled_connection(client) as db:  # not a lean batch: its lock must not survive
        await db.execute("SELECT pg_advisory_lock(7, 7)")
    other = await asyncpg.connect(asyncpg_dsn(postgres))
    try:
        assert await other.fetchval("SELECT pg_try_advisory_lock(7, 7)")
    finally:
        await other.close()


async def _try_entry_lock(db: asyncpg.Connection) -> bool:
    return bool(
        await db.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_SPACE, _lock_key("USDT"))
    )


async def test_an_entry_lock_cancelled_even_in_its_unlock_is_free_afterwards(
    postgres: str,
) -> None:
    store = SqlRiskStore()
    inside = asyncio.Event()

    async def hold() -> None:
        async with store.entry_lock("USDT"):
            inside.set()
            await asyncio.Event().wait()

    for _ in range(5):
        inside.clear()
        holder = asyncio.create_task(hold())
        await inside.wait()
        holder.cancel()
        for _ in range(3):  # cancel again, so the unlock itself may be cut short
            await asyncio.sleep(0)
            holder.cancel()
        with pytest.raises(asyncio.CancelledError):
            await holder
        other = await asyncpg.connect(asyncpg_dsn(postgres))
        try:  # (the pool gives the connection back in a shielded task of its own)
            await eventually(lambda db=other: _try_entry_lock(db), timeout=10)
            assert await other.fetchval(
                "SELECT pg_advisory_unlock($1, $2)", LOCK_SPACE, _lock_key("USDT")
            )
        finally:
            await other.close()
    async with store.entry_lock("USDT"):  # and this process takes it again at once
        pass


async def test_trades_committed_late_near_the_newest_or_long_before_are_all_counted(
    postgres: str,
) -> None:
    bot_id = await _bot()
    ledger = SqlPaperLedger()
    await _trade(bot_id, "1", trade_id=1000)
    await _trade(bot_id, "2", trade_id=2000)
    assert (await ledger.account("USDT"))[0] == Decimal(3)
    # other processes commit ids below the newest seen: one just below, one far below
    await _trade(bot_id, "0.25", trade_id=1990)
    await _trade(bot_id, "0.5", trade_id=2010)
    assert (await ledger.account("USDT"))[0] == Decimal("3.75")
    await _trade(bot_id, "100", trade_id=1001)
    await _trade(bot_id, "0.125", trade_id=2005)
    assert (await ledger.account("USDT"))[0] == Decimal("103.875")
    await _trade(bot_id, "1", trade_id=2020)
    assert (await ledger.account("USDT"))[0] == Decimal("104.875")
    assert (await SqlPaperLedger().realized())["USDT"] == Decimal("104.875")
