"""Schema upgrades with aerich; safe to run twice (applied versions are skipped), and safe when
several processes start at once on an empty database: one migrates while the others wait for it
(`setup_lock`) and then find nothing to apply.

aerich checks which versions are applied and then applies the rest, each in a transaction of its
own; two processes doing that at once both apply the first version, and the second fails
(PostgreSQL: `pg_type_typname_nsp_index`, SQLite: "duplicate column name") or records a version
twice. Hence one lock around aerich's whole run:

* PostgreSQL: a session-level advisory lock on a connection of its own, outside Tortoise's pool
  (aerich opens and closes Tortoise inside it); a process that dies lets go with its session.
  Its key is not the leader lock's (`db.leader_lock`), so a leader never holds up a migration.
* SQLite: an exclusive `flock` on the database file's folder. SQLite's own locks do not help:
  aerich reads the versions outside the transaction that applies one. The folder, not a file
  beside the database, so that nothing new appears next to it; not the database file itself,
  since closing any descriptor of that file would drop SQLite's own (POSIX) locks on it.

The same lock serialises the other first-start steps (`tradebot serve` creating the `demo` bot),
so they too happen once whichever process is first.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aerich import Command
from tortoise.backends.base.config_generator import expand_db_url

from db.config import dialect, migrations_location, tortoise_config

log = logging.getLogger(__name__)

SETUP_KEY_NAME = "tradebot setup"  # the advisory lock's name (db.leader_lock.advisory_key)
CONNECT_TIMEOUT = 30.0  # seconds for the lock's own connection


async def upgrade(database_url: str) -> list[str]:
    """Apply every migration not applied yet; returns the versions applied now (none when
    another process applied them while this one waited)."""
    config = tortoise_config(database_url)  # creates an SQLite file's folder
    async with setup_lock(database_url):
        command = Command(config, app="models", location=migrations_location(database_url))
        async with command:
            await command.init()
            return await command.upgrade(run_in_transaction=True)


@asynccontextmanager
async def setup_lock(database_url: str) -> AsyncIterator[None]:
    """Held while a process sets up the database (migrations, first-start rows): one process at
    a time, across processes and hosts (PostgreSQL) or processes of this host (SQLite)."""
    if dialect(database_url) == "sqlite":
        folder = _sqlite_folder(database_url)
        if folder is None:  # one connection's own database: nobody to wait for
            yield
            return
        async with _folder_lock(folder):
            yield
        return
    async with _advisory_lock(database_url):
        yield


def _sqlite_folder(database_url: str) -> Path | None:
    path = expand_db_url(database_url)["credentials"]["file_path"]
    return None if path == ":memory:" else Path(path).resolve().parent


@asynccontextmanager
async def _advisory_lock(database_url: str) -> AsyncIterator[None]:
    import asyncpg

    from db.leader_lock import advisory_key, asyncpg_dsn

    key = advisory_key(SETUP_KEY_NAME)
    connection = await asyncpg.connect(
        asyncpg_dsn(database_url),
        timeout=CONNECT_TIMEOUT,
        server_settings={"application_name": "tradebot setup"},
    )
    try:
        if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", key):
            log.info("database setup: another process is setting it up; waiting for it")
            await connection.execute("SELECT pg_advisory_lock($1)", key)
        yield
        await connection.execute("SELECT pg_advisory_unlock($1)", key)
    finally:
        await connection.close()  # the session's end releases the lock whatever happened


@asynccontextmanager
async def _folder_lock(folder: Path) -> AsyncIterator[None]:
    import fcntl

    descriptor = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("database setup: another process is setting up %s; waiting for it", folder)
            await asyncio.to_thread(fcntl.flock, descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the flock
