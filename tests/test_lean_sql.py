"""The storage hot path (`db.sql`) on SQLite: one writer that commits concurrent batches
together, each in its own savepoint, and a read-only connection that never waits for it.

Another process holding SQLite's write lock (a raw `BEGIN IMMEDIATE` from outside) stands for
a slow writer: batches submitted meanwhile queue up and go in one group when it lets go.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise import connections

from db import sql
from db.health import STORAGE_ERRORS
from db.models import WebhookLog
from db.paper_ledger import SqlPaperLedger
from db.stores import sql_stores
from tests.conftest import World
from tests.waiting import eventually, writer_lock


def _log(dedup_key: str) -> dict[str, Any]:
    return {"dedup_key": dedup_key, "status": "received", "received_at": datetime.now(UTC)}


async def _queued(committer: sql.GroupCommit, count: int) -> None:
    """Until `count` batches wait for the next group (the writer is blocked meanwhile)."""

    async def waiting() -> bool:
        return len(committer.pending) >= count

    await eventually(waiting)


async def test_a_failing_batch_in_a_group_is_rolled_back_alone(world: World, db_url: str) -> None:
    inserts: list[asyncio.Task[int]] = []
    with writer_lock(db_url):
        # the first insert takes the writer (waiting on the lock), the next ones queue up
        inserts.append(asyncio.create_task(sql_stores().alerts.insert_webhook_log(**_log("first"))))
        await asyncio.sleep(0.05)
        committer = sql._committer(connections.get("default"))
        for key in ("a", "b", "a", "c"):  # the second "a" breaks the unique dedup key
            inserts.append(asyncio.create_task(sql_stores().alerts.insert_webhook_log(**_log(key))))
        await _queued(committer, 4)
    outcomes = await asyncio.gather(*inserts, return_exceptions=True)
    assert [type(o).__name__ for o in outcomes] == ["int", "int", "int", "DuplicateKey", "int"]
    keys = (
        await WebhookLog.filter(dedup_key__isnull=False)
        .order_by("id")
        .values_list("dedup_key", flat=True)
    )
    assert keys == ["first", "a", "b", "c"]
    assert outcomes[:3] + outcomes[4:] == await WebhookLog.filter(dedup_key__isnull=False).order_by(
        "id"
    ).values_list("id", flat=True)


async def test_reads_answer_while_a_write_waits_for_the_lock(world: World, db_url: str) -> None:
    bot = world.bots["demo"]
    await world.send_alert(action="buy", price="100", qty="1")
    with writer_lock(db_url):
        writing = asyncio.create_task(sql_stores().alerts.insert_webhook_log(**_log("waits")))
        await asyncio.sleep(0.05)
        assert not writing.done()  # the write waits for the lock...
        async with asyncio.timeout(1):  # ...the reads do not
            assert (await sql_stores().bots.bot_by_key(bot.webhook_key)).name == "demo"  # type: ignore[union-attr]
            stored = await sql_stores().positions.load_position(bot.id, "BTCUSDT")
            assert stored is not None and stored.state.qty == 1
            assert (await SqlPaperLedger().account("USDT"))[1] == 100
    assert isinstance(await writing, int)


async def test_a_group_that_cannot_commit_stores_none_of_its_batches(
    world: World, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer gives up on the lock after the busy timeout: every batch of the group fails
    # with the storage error (answered 503 upstream) and nothing of it is stored.
    client: Any = connections.get("default")
    await client._connection.execute("PRAGMA busy_timeout=200")
    try:
        with writer_lock(db_url):
            alerts = sql_stores().alerts
            inserts = [
                asyncio.create_task(alerts.insert_webhook_log(**_log(key))) for key in ("x", "y")
            ]
            outcomes = await asyncio.gather(*inserts, return_exceptions=True)
    finally:
        await client._connection.execute("PRAGMA busy_timeout=5000")
    assert all(isinstance(o, STORAGE_ERRORS) for o in outcomes), outcomes
    assert await WebhookLog.filter(dedup_key__in=["x", "y"]).count() == 0


async def test_closing_the_database_first_stores_what_was_submitted(
    world: World, db_url: str
) -> None:
    client: Any = connections.get("default")
    alerts = sql_stores().alerts
    inserts = [asyncio.create_task(alerts.insert_webhook_log(**_log(key))) for key in "pqr"]
    await asyncio.sleep(0)  # each has queued its batch to the writer
    await client.close()  # a shutdown: the writer drains, then the connections close
    ids = await asyncio.gather(*inserts)
    assert all(isinstance(row_id, int) for row_id in ids)
    assert (client._connection, client.reader) == (None, None)  # nothing opened them again
    with sqlite3.connect(db_url.removeprefix("sqlite://")) as db:
        stored = db.execute(
            "SELECT COUNT(*) FROM webhook_logs WHERE dedup_key IN ('p', 'q', 'r')"
        ).fetchone()
    assert stored == (3,)
