"""The leader lock on PostgreSQL (`trading.leadership.LeaderLock`): a session-level advisory lock
held on an asyncpg connection of its own, outside Tortoise's pool.

A process that dies lets go at once: its socket closes and PostgreSQL ends the session, releasing
the lock. A process cut off from the database without dying is handled from both sides: the
server ends the lock's session when it has been idle for `idle_timeout` seconds (the holder
checks it every `interval`, so a live holder is never idle that long), and the holder steps down
when a check does not answer within `interval`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from urllib.parse import urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)

LEADER_KEY_NAME = "tradebot leader"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock` from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg's DSN for a Tortoise URL: Tortoise's own query parameters (pool sizes) dropped."""
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


class AdvisoryLock:
    """`pg_try_advisory_lock` on a dedicated connection, opened when first tried."""

    what = "PostgreSQL advisory lock"

    def __init__(
        self, database_url: str, *, interval: float = 2.0, name: str = LEADER_KEY_NAME
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.key = advisory_key(name)
        self.interval = interval
        self._connection: asyncpg.Connection | None = None
        self._held = False

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            idle_ms = int(max(4 * self.interval, 5.0) * 1000)
            self._connection = await asyncpg.connect(
                self.dsn,
                timeout=max(self.interval, 1.0) * 2,
                server_settings={
                    "application_name": "tradebot leader lock",
                    # A holder cut off from the server lets go after this long (PostgreSQL 14+).
                    "idle_session_timeout": str(idle_ms),
                },
            )
        return self._connection

    async def try_acquire(self) -> bool:
        connection = await self._connect()
        try:
            self._held = bool(
                await connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", self.key, timeout=self.interval * 2
                )
            )
        except BaseException:
            await self._drop()  # the next try opens a new connection
            raise
        return self._held

    async def held(self) -> bool:
        """Asked every `interval` by the holder (a standby keeps its connection for its tries)."""
        connection = self._connection
        if not self._held or connection is None or connection.is_closed():
            return False
        try:
            # The lock is the session's: the session alive is the lock held.
            await connection.fetchval("SELECT 1", timeout=self.interval)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("leader lock connection lost: %s", type(exc).__name__)
            self._held = False
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        connection = self._connection
        if self._held and connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.fetchval(
                    "SELECT pg_advisory_unlock($1)", self.key, timeout=self.interval
                )
        self._held = False
        await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await asyncio.wait_for(connection.close(), self.interval)
            except (Exception, TimeoutError):
                connection.terminate()
