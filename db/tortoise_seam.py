"""The one place that touches what Tortoise ORM (and the aiosqlite under it) does not promise.

`db.sql` runs the alert's hot path as hand-written statement batches on Tortoise's own SQLite
connection, and `db.sqlite_engine` makes Tortoise's SQLite transactions begin IMMEDIATE; both
need a few of Tortoise's internals, and they reach them only through this module:

1. `SqliteClient._lock`: the `asyncio.Lock` Tortoise takes around every query
   (`acquire_connection`) and for a whole transaction (`SqliteTransactionContext`). The lean
   writer takes the same lock, so a batch never runs in the middle of an ORM transaction.
2. `SqliteClient._connection` (an `aiosqlite.Connection`, `None` until first use) and
   `create_connection(with_db=True)`, which opens it as Tortoise does on first use.
3. aiosqlite's `Connection._execute(fn, *args)` (runs `fn` in the connection's thread) and
   `Connection._conn` (the `sqlite3.Connection` it owns there): a whole batch is one hand-over
   to that thread instead of one per statement; about half the cost of an alert otherwise
   (docs/benchmarks.md). `Connection._thread`: the read-only connection's thread is made a
   daemon, so a process stopped before closing it does not wait for it at exit.
4. `TransactionalDBClient`: what `connections.get(...)` gives inside `in_transaction()`; a lean
   batch there runs in a savepoint of that transaction instead of taking the writer.
5. `SqliteClient._in_transaction()` returning `SqliteTransactionContext(wrapper, client._lock)`
   and `SqliteTransactionWrapper` (its `begin()` and `_connection`): overridden so a transaction
   starts with `BEGIN IMMEDIATE` (see `db.sqlite_engine` for why).
6. `SqliteClient.filename` and `.pragmas` (the database file and the PRAGMAs it was opened with),
   for the second, read-only connection.
7. A transaction's connection (what `connections.get` gives inside `in_transaction()`) keeps
   the client it came from as `_parent`: `database_identity` names the database from it, so a
   cache keyed on the database is right inside a transaction too.
8. `Model._meta` (`fields_map`, `fields_db_projection`, `db_table`, `_inited`): the columns the
   lean statements name, so that ORM and lean statements read and write the same rows; and the
   fields' `to_db_value(value, None)` / `to_python_value` (no model instance needed).
9. On PostgreSQL, `acquire_connection()` of the client (of its `_parent` inside a transaction)
   is a `PoolConnectionWrapper`: `async with` it yields an asyncpg connection of the pool for
   the block alone (`pooled_connection`), where a session advisory lock can be held
   (`db.risk`'s entry lock); asyncpg's pool resets a connection it gets back, advisory locks
   included.
10. On PostgreSQL, Tortoise hands the credential `connection_class` to `asyncpg.create_pool`
   (`db.config` sets `LeanResetConnection`): a block that knows it left no session state on its
   connection (`db.sql`'s batches, `db.risk`'s entry lock once unlocked) lets it go back to the
   pool without the reset query (`release_clean`); every other use is reset as asyncpg does.

Also relied on, public but with backend-specific results: on PostgreSQL (asyncpg)
`execute_insert("... RETURNING id", params)` returns the row, `execute_query` returns
`(rows changed, rows)` and a unique violation raises `tortoise.exceptions.IntegrityError`; an
`in_transaction()` inside another one is a savepoint.

Why `tortoise-orm==1.1.9` is pinned exactly (pyproject.toml): none of the above is API, so a
patch release may rename or rework any of it (the 1.x transaction contexts already differ from
0.x). `tests/test_tortoise_seam.py` checks every item on SQLite and PostgreSQL and says what
changed; to upgrade, raise the pin and `TORTOISE_VERSION` together once it passes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import aiosqlite
import asyncpg
from tortoise import Model, Tortoise
from tortoise.backends.base.client import TransactionalDBClient, TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError
from tortoise.models import MetaInfo

__all__ = [
    "TORTOISE_VERSION",
    "ImmediateBeginClient",
    "LeanResetConnection",
    "SqliteClient",
    "TransactionalDBClient",
    "daemon_thread",
    "database_identity",
    "in_thread",
    "is_initialised",
    "meta_of",
    "pooled_connection",
    "release_clean",
    "sqlite_file",
    "sqlite_pragmas",
    "writer_connection",
    "writer_lock",
]

TORTOISE_VERSION = "1.1.9"  # the version every item of the docstring was checked against

T = TypeVar("T")


def writer_lock(client: SqliteClient) -> asyncio.Lock:
    """The lock Tortoise holds around each query and each transaction on `client`."""
    return client._lock


async def writer_connection(client: SqliteClient) -> aiosqlite.Connection:
    """`client`'s connection, opened as Tortoise opens it on first use (hold `writer_lock`)."""
    if client._connection is None:
        await client.create_connection(with_db=True)
    connection = client._connection
    assert connection is not None
    return connection


def in_thread(connection: aiosqlite.Connection, fn: Callable[..., T], *args: Any) -> Awaitable[T]:
    """`fn(db, *args)` in `connection`'s own thread, `db` being its `sqlite3.Connection`:
    several statements in one hand-over."""
    return connection._execute(_with_sqlite3, connection, fn, args)


def _with_sqlite3(connection: aiosqlite.Connection, fn: Callable[..., T], args: Any) -> T:
    """Runs in the connection's thread."""
    db: sqlite3.Connection = connection._conn
    return fn(db, *args)


def daemon_thread(connection: aiosqlite.Connection) -> aiosqlite.Connection:
    """`connection` (not yet awaited) with a daemon thread: exit does not wait for it."""
    connection._thread.daemon = True
    return connection


def sqlite_file(client: SqliteClient) -> str:
    """The database file `client` opens (`:memory:` or a `mode=memory` URI for none)."""
    return client.filename


def sqlite_pragmas(client: SqliteClient) -> dict[str, Any]:
    """The PRAGMAs `client` sets on its connection."""
    return client.pragmas


def database_identity() -> tuple[Any, ...]:
    """Which database the default connection is (a process may open several in its life):
    (file, host, port, database name). Inside a transaction the connection is a wrapper whose
    `_parent` client names the database."""
    connection = Tortoise.get_connection("default")
    connection = getattr(connection, "_parent", connection)
    return tuple(
        getattr(connection, name, None) for name in ("filename", "host", "port", "database")
    )


def pooled_connection(client: Any) -> AbstractAsyncContextManager[Any]:
    """A PostgreSQL connection of `client`'s pool for the block alone (an asyncpg connection;
    inside a transaction, from the pool of the client the transaction came from)."""
    return getattr(client, "_parent", client).acquire_connection()


class LeanResetConnection(asyncpg.Connection):
    """An asyncpg connection that goes back to its pool without the reset query (`SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;`, one more round trip on every
    release) when the block that held it said it left no session state (`release_clean`).
    asyncpg documents overriding `get_reset_query` for this; an open transaction is rolled back
    on release either way. Unmarked, a connection is reset as asyncpg resets it."""

    __slots__ = ("_clean",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clean = False

    def skip_next_reset(self) -> None:
        self._clean = True

    def get_reset_query(self) -> str:
        if self._clean:
            self._clean = False
            return ""
        return super().get_reset_query()


def release_clean(connection: Any) -> None:
    """Let `connection` (a pool connection, about to be released) skip the pool's reset: call
    it only when the block took no session state (no advisory lock still held, no LISTEN, no
    SET, no cursor WITH HOLD). A no-op on a connection of another class."""
    skip = getattr(connection, "skip_next_reset", None)
    if skip is not None:
        skip()


def meta_of(model: type[Model]) -> MetaInfo:
    """The model's table description: `fields_map`, `fields_db_projection`, `db_table`."""
    return model._meta


def is_initialised(model: type[Model]) -> bool:
    """Whether Tortoise has initialised `model` (its foreign-key columns exist from then on)."""
    return model._meta._inited


class _ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateBeginClient(SqliteClient):
    """Tortoise's SQLite client whose transactions start with `BEGIN IMMEDIATE`."""

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(_ImmediateTransactionWrapper(self), self._lock)
