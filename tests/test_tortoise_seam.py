"""The Tortoise internals the storage hot path relies on (`db/tortoise_seam.py`) are still there
and still behave so, on SQLite and on PostgreSQL. A failure here names what changed in the
installed tortoise-orm / aiosqlite: re-check that item of the seam's docstring before raising the
pin (`tortoise-orm==…` in pyproject.toml) and `TORTOISE_VERSION`."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from tortoise import Tortoise, connections
from tortoise.backends.sqlite.client import SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.exceptions import IntegrityError
from tortoise.fields import Field
from tortoise.transactions import in_transaction

from db import sql, tortoise_seam
from db.config import tortoise_config
from db.models import WebhookLog
from db.sqlite_engine import ImmediateSqliteClient
from db.tortoise_seam import (
    SqliteClient,
    TransactionalDBClient,
    database_identity,
    in_thread,
    is_initialised,
    meta_of,
    pooled_connection,
    sqlite_file,
    sqlite_pragmas,
    writer_connection,
    writer_lock,
)
from tests.processes import postgres_database
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parent.parent

RECHECK = (
    "db/tortoise_seam.py relies on it (see its docstring). Re-check db/sql.py (lean batches, "
    "GroupCommit) and db/sqlite_engine.py (BEGIN IMMEDIATE, the read-only connection) against "
    "the installed tortoise-orm {tortoise} / aiosqlite {aiosqlite}, adapt the seam, then run "
    "tests/test_lean_sql.py, tests/test_sqlite_writes.py and `make bench`."
)


def changed(what: str) -> str:
    """The failure message: what no longer holds, and what to re-check."""
    recheck = RECHECK.format(tortoise=version("tortoise-orm"), aiosqlite=version("aiosqlite"))
    return f"Tortoise seam changed: {what}. {recheck}"


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


# ---------------------------------------------------------------- the pin


def test_the_installed_tortoise_is_the_pinned_one_the_seam_was_checked_against() -> None:
    pin = re.search(r'"tortoise-orm==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pin is not None, changed("pyproject.toml no longer pins tortoise-orm exactly (==)")
    installed = version("tortoise-orm")
    assert installed == pin.group(1) == tortoise_seam.TORTOISE_VERSION, changed(
        f"tortoise-orm {installed} is installed, pyproject.toml pins {pin.group(1)}, the seam was "
        f"checked against {tortoise_seam.TORTOISE_VERSION}"
    )


# Names of Tortoise's (and aiosqlite's) internals: reached only through db/tortoise_seam.py.
INTERNAL_ATTRIBUTES = {"_meta", "_inited", "_lock", "_connection", "_execute", "_conn", "_thread"}
INTERNAL_MODULES = ("tortoise.backends.base.client", "tortoise.backends.sqlite")


def test_tortoise_internals_are_touched_only_by_the_seam() -> None:
    seam = ROOT / "db" / "tortoise_seam.py"
    found: list[str] = []
    for package in ("bot", "handlers", "db", "trading"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == seam or path.is_relative_to(ROOT / "db" / "migrations"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in INTERNAL_ATTRIBUTES
                    and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
                ):
                    found.append(f"{where} .{node.attr}")
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    INTERNAL_MODULES
                ):
                    found.append(f"{where} from {node.module}")
    assert found == [], (
        "Tortoise internals used outside db/tortoise_seam.py (go through it: `meta_of`, "
        "`writer_lock`, `in_thread`..., or `db.sql.field_of(Model, name)` for a field):\n"
        + "\n".join(found)
    )


# ---------------------------------------------------------------- the shapes relied on


def test_the_sqlite_client_internals_have_the_shape_the_seam_uses() -> None:
    assert parameters(SqliteClient.create_connection) == ["self", "with_db"], changed(
        "SqliteClient.create_connection(with_db) has another signature"
    )
    assert callable(getattr(SqliteClient, "_in_transaction", None)), changed(
        "SqliteClient._in_transaction() is gone (ImmediateBeginClient overrides it)"
    )
    assert parameters(SqliteTransactionContext.__init__) == ["self", "connection", "trxlock"], (
        changed("SqliteTransactionContext(connection, trxlock) takes other arguments")
    )
    assert inspect.iscoroutinefunction(SqliteTransactionWrapper.begin), changed(
        "SqliteTransactionWrapper.begin() is not a coroutine any more"
    )
    assert issubclass(SqliteTransactionWrapper, TransactionalDBClient), changed(
        "the client inside a SQLite transaction is no TransactionalDBClient"
    )
    client = SqliteClient(file_path=":memory:", connection_name="probe")
    assert isinstance(client._lock, asyncio.Lock), changed("SqliteClient._lock is no asyncio.Lock")
    assert client._connection is None, changed("SqliteClient._connection is not None before use")
    assert sqlite_file(client) == ":memory:", changed("SqliteClient.filename is not the file")
    assert isinstance(sqlite_pragmas(client), dict), changed("SqliteClient.pragmas is no dict")


def test_aiosqlite_hands_functions_to_its_thread_as_the_seam_expects() -> None:
    assert parameters(aiosqlite.Connection._execute) == ["self", "fn", "args", "kwargs"], changed(
        "aiosqlite.Connection._execute(fn, *args, **kwargs) has another signature"
    )
    assert isinstance(inspect.getattr_static(aiosqlite.Connection, "_conn"), property), changed(
        "aiosqlite.Connection._conn (the sqlite3 connection) is no property"
    )
    connection = aiosqlite.connect(":memory:")  # not awaited: no thread started, nothing to close
    assert isinstance(connection._thread, threading.Thread), changed(
        "aiosqlite.Connection._thread is no Thread"
    )
    assert tortoise_seam.daemon_thread(connection)._thread.daemon, changed(
        "aiosqlite's thread cannot be made a daemon"
    )


def test_fields_encode_and_decode_without_a_model_instance() -> None:
    assert parameters(Field.to_db_value) == ["self", "value", "instance"], changed(
        "Field.to_db_value(value, instance) has another signature (db.sql passes instance=None)"
    )
    assert parameters(Field.to_python_value) == ["self", "value"], changed(
        "Field.to_python_value(value) has another signature"
    )


# ---------------------------------------------------------------- on SQLite


@pytest.fixture
async def sqlite_client(tmp_path: Path) -> AsyncIterator[Any]:
    """Tortoise on a fresh SQLite file through the product's engine, with a probe table."""
    await Tortoise.init(config=tortoise_config(f"sqlite://{tmp_path / 'seam.sqlite3'}"))
    try:
        client = connections.get("default")
        await client.execute_script(
            "CREATE TABLE probe (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)"
        )
        yield client
    finally:
        await Tortoise.close_connections()


async def test_sqlite_the_writer_lock_is_the_one_orm_queries_and_transactions_take(
    sqlite_client: Any,
) -> None:
    assert isinstance(sqlite_client, ImmediateSqliteClient), changed(
        "db.config's engine no longer yields db.sqlite_engine's client"
    )
    lock = writer_lock(sqlite_client)
    async with lock:
        query = asyncio.create_task(sqlite_client.execute_query("SELECT 1"))
        transaction = asyncio.create_task(_in_a_transaction())
        # Until both have queued on the lock, or one of them ran without it: no fixed pause.
        await eventually(
            _async(lambda: query.done() or transaction.done() or len(lock._waiters or ()) == 2)
        )
        assert not query.done(), changed("an ORM query runs without the client's _lock")
        assert not transaction.done(), changed("an ORM transaction runs without the _lock")
    await query
    assert await transaction, changed("inside in_transaction() the client's _lock is not held")


def _async(check: Any) -> Any:
    async def checked() -> Any:
        return check()

    return checked


async def _in_a_transaction() -> bool:
    """Whether the writer lock is held, and the client is transactional, inside a transaction."""
    outside = connections.get("default")
    async with in_transaction("default"):
        inside = connections.get("default")
        return writer_lock(outside).locked() and isinstance(inside, TransactionalDBClient)


async def test_sqlite_a_transactions_connection_names_its_database(sqlite_client: Any) -> None:
    outside = database_identity()
    async with in_transaction("default"):
        inside = database_identity()
    assert outside[0] and inside == outside, changed(
        "a transaction's connection no longer keeps its client as `_parent` (or the client its "
        f"`filename`): database_identity() gave {inside!r} inside a transaction, "
        f"{outside!r} outside"
    )


async def test_sqlite_transactions_begin_immediate(sqlite_client: Any, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "seam.sqlite3", timeout=0, isolation_level=None)
    try:
        async with in_transaction("default"):  # nothing written yet: the lock is taken anyway
            try:
                other.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                locked = "locked" in str(exc)
            else:
                other.execute("ROLLBACK")
                locked = False
        other.execute("BEGIN IMMEDIATE")  # and let go of at the end
        other.execute("COMMIT")
    finally:
        other.close()
    assert locked, changed(
        "SQLite transactions no longer begin IMMEDIATE (SqliteClient._in_transaction, "
        "SqliteTransactionContext(wrapper, lock), SqliteTransactionWrapper.begin)"
    )


async def test_sqlite_a_batch_runs_in_the_connections_thread_on_its_sqlite3_connection(
    sqlite_client: Any,
) -> None:
    async with writer_lock(sqlite_client):
        connection = await writer_connection(sqlite_client)
        assert isinstance(connection, aiosqlite.Connection), changed(
            "SqliteClient._connection is no aiosqlite.Connection once opened"
        )
        assert connection is await writer_connection(sqlite_client), changed(
            "SqliteClient._connection is not kept between uses"
        )
        ran = await in_thread(connection, _probe, "first")
    assert ran[0] != threading.get_ident() and ran[1], changed(
        "aiosqlite's _execute does not run the function in its thread on the sqlite3 connection"
    )
    _, rows = await sqlite_client.execute_query("SELECT name FROM probe")
    assert [row[0] for row in rows] == ["first"], changed(
        "what a function wrote on aiosqlite's _conn is not what Tortoise's queries see"
    )


def _probe(db: sqlite3.Connection, name: str) -> tuple[int, bool]:
    db.execute("INSERT INTO probe (name) VALUES (?)", (name,))
    return threading.get_ident(), isinstance(db, sqlite3.Connection)


async def test_sqlite_the_read_only_connection_uses_the_clients_file_and_pragmas(
    sqlite_client: Any, tmp_path: Path
) -> None:
    assert sqlite_file(sqlite_client) == str(tmp_path / "seam.sqlite3"), changed(
        "SqliteClient.filename is not the database file"
    )
    assert sqlite_pragmas(sqlite_client)["busy_timeout"] == 5000, changed(
        "SqliteClient.pragmas does not hold the PRAGMAs db.config passes"
    )
    reader = sqlite_client.reader
    assert reader is not None and reader._thread.daemon, changed("no daemon read-only connection")
    (only,) = await reader.execute_fetchall("PRAGMA query_only")
    assert only[0] == 1


async def test_sqlite_model_metadata_names_the_columns(sqlite_client: Any) -> None:
    assert is_initialised(WebhookLog), changed("Model._meta._inited is not set by Tortoise.init")
    meta = meta_of(WebhookLog)
    assert meta.db_table == "webhook_logs", changed("Model._meta.db_table is not the table")
    assert meta.fields_db_projection["bot_id"] == "bot_id", changed(
        "Model._meta.fields_db_projection lacks the foreign-key column once initialised"
    )
    received = meta.fields_map["received_at"]
    now = datetime.now(UTC)
    assert sql.encode(received, now) == received.to_db_value(now, None), changed(
        "Field.to_db_value(value, None) fails without a model instance"
    )
    assert sql.field_of(WebhookLog, "received_at") is received


async def test_sqlite_lean_batches_write_and_read(sqlite_client: Any) -> None:
    await _lean_batches_write_and_read()


async def _lean_batches_write_and_read() -> None:
    """End to end through the seam: a write batch (SQLite: the group writer), a read batch, a
    conditional update that refuses, a unique violation translated."""
    write = sql.Batch()
    write.execute("INSERT INTO probe (name) VALUES (?)", "lean")
    write.fetch("SELECT name FROM probe WHERE name = ?", "lean")
    _, rows = await sql.run(write)
    assert [tuple(row) for row in rows] == [("lean",)], changed("a lean write batch failed")
    read = sql.Batch()
    read.fetch("SELECT COUNT(*) FROM probe")
    assert [tuple(row) for row in (await sql.run(read))[0]] == [(1,)], changed("lean read")
    refused = sql.Batch()
    refused.execute("UPDATE probe SET name = ? WHERE id = ?", "x", 999, require=LookupError())
    with pytest.raises(LookupError):
        await sql.run(refused)
    duplicate = sql.Batch()
    duplicate.execute("INSERT INTO probe (name) VALUES (?)", "lean")
    with pytest.raises(IntegrityError):
        await sql.run(duplicate)


# ---------------------------------------------------------------- on PostgreSQL


@pytest.fixture
async def postgres_client() -> AsyncIterator[Any]:
    """Tortoise on a fresh PostgreSQL database (skipped without a server, failed without one
    under TRADEBOT_REQUIRE_SERVICES=1), with a probe table."""
    with postgres_database("seam") as url:
        await Tortoise.init(config=tortoise_config(url))
        try:
            client = connections.get("default")
            await client.execute_script(
                "CREATE TABLE probe (id SERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE)"
            )
            yield client
        finally:
            await Tortoise.close_connections()


@pytest.mark.services
async def test_postgres_inserts_return_the_row_and_updates_their_count(
    postgres_client: Any,
) -> None:
    assert not isinstance(postgres_client, SqliteClient)
    row = await postgres_client.execute_insert(
        "INSERT INTO probe (name) VALUES ($1) RETURNING id", ["a"]
    )
    assert row[0] == 1, changed("execute_insert(... RETURNING id) no longer returns the row")
    count, _ = await postgres_client.execute_query(
        "UPDATE probe SET name = $1 WHERE id = $2", ["b", 999]
    )
    assert count == 0, changed("execute_query does not return the count of rows changed first")
    count, rows = await postgres_client.execute_query("SELECT id, name FROM probe", [])
    assert (count, [tuple(r) for r in rows]) == (1, [(1, "a")]), changed(
        "execute_query does not return (count, rows) with rows as sequences"
    )
    with pytest.raises(IntegrityError):
        await postgres_client.execute_insert("INSERT INTO probe (name) VALUES ($1)", ["a"])


@pytest.mark.services
async def test_postgres_a_transaction_inside_a_transaction_is_a_savepoint(
    postgres_client: Any,
) -> None:
    async with in_transaction("default") as outer:
        await outer.execute_query("INSERT INTO probe (name) VALUES ($1)", ["outer"])
        with pytest.raises(KeyError):
            async with in_transaction("default") as inner:
                await inner.execute_query("INSERT INTO probe (name) VALUES ($1)", ["inner"])
                raise KeyError("roll the inner one back")
    _, rows = await postgres_client.execute_query("SELECT name FROM probe ORDER BY id", [])
    assert [r[0] for r in rows] == ["outer"], changed(
        "a nested in_transaction() is not a savepoint of the outer transaction"
    )


@pytest.mark.services
async def test_postgres_lean_batches_write_and_read(postgres_client: Any) -> None:
    await _lean_batches_write_and_read()


@pytest.mark.services
async def test_postgres_a_pooled_connection_is_a_session_of_its_own_for_the_block(
    postgres_client: Any,
) -> None:
    pool, other = pooled_connection(postgres_client), pooled_connection(postgres_client)
    async with pool as first, other as second:
        sessions = {await c.fetchval("SELECT pg_backend_pid()") for c in (first, second)}
        assert len(sessions) == 2, changed(
            "acquire_connection() no longer gives a pool connection of its own per block"
        )
        await first.execute("SELECT pg_advisory_lock(1, 2)")  # and not unlocked
        taken = await second.fetchval("SELECT pg_try_advisory_lock(1, 2)")
    assert not taken, changed("a pool connection's advisory lock is not held by its session")
    async with pooled_connection(postgres_client) as again:
        held = (
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        assert await again.fetchval(held) == 0, changed(
            "a connection given back to the pool keeps its advisory locks (no reset)"
        )
    async with in_transaction("default") as transaction:  # from the client's pool there too
        async with pooled_connection(transaction) as inside:
            assert await inside.fetchval("SELECT 1") == 1
