"""The leader lock on PostgreSQL (`trading.leadership.LeaderLock`): a session-level advisory lock
held on an asyncpg connection of its own, outside Tortoise's pool.

A process that dies lets go at once: its socket closes and PostgreSQL ends the session, releasing
the lock. A process cut off from the database without dying is handled from both sides: the holder
steps down when a check does not answer within `interval` (its duties stop, then it lets go), and
the server ends the lock's session once it has been idle for IDLE_SESSION_TIMEOUT (PostgreSQL
14+; the holder checks every `interval`, so a live holder is idle that long only while its
duties start or stop, which they do well within it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

log = logging.getLogger(__name__)
# What a check of a session the server ended may raise: the server's FATAL message can arrive
# while the check is being sent (asyncpg then says "cannot switch to state …").
LOST = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    TimeoutError,
)

LEADER_KEY_NAME = "tradebot leader"
IDLE_SESSION_TIMEOUT = 30.0  # seconds; see the module's docstring
# Tortoise's own URL parameters (its pool), not asyncpg's: dropped from the DSN, the rest
# (sslmode, sslrootcert, connect_timeout, ...) kept.
TORTOISE_PARAMETERS = frozenset(
    {"minsize", "maxsize", "max_queries", "max_inactive_connection_lifetime", "connection_class",
     "loop", "schema", "max_cached_statement_lifetime", "statement_cache_size"}
)  # fmt: skip


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock` from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg's DSN for a Tortoise URL: Tortoise's own query parameters (its pool's) dropped,
    the connection's (SSL above all) kept."""
    parts = urlsplit(database_url)
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k not in TORTOISE_PARAMETERS]
    return urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(kept), ""))


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
        self._idle_timeout = True

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            settings = {"application_name": "tradebot leader lock"}
            if self._idle_timeout:
                settings["idle_session_timeout"] = str(int(IDLE_SESSION_TIMEOUT * 1000))
            try:
                self._connection = await self._open(settings)
            except asyncpg.UndefinedObjectError:  # PostgreSQL 13 or older: no such setting
                log.warning(
                    "leader lock: PostgreSQL has no idle_session_timeout (before 14): a leader "
                    "cut off from the database without dying keeps the lock until the server "
                    "notices the dead connection"
                )
                self._idle_timeout = False
                del settings["idle_session_timeout"]
                self._connection = await self._open(settings)
        return self._connection

    async def _open(self, settings: dict[str, str]) -> asyncpg.Connection:
        return await asyncpg.connect(
            self.dsn, timeout=max(self.interval, 1.0) * 2, server_settings=settings
        )

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
        """Asked every `interval` by the holder (a standby keeps its connection for its tries).
        False when the check fails: the caller stops its duties, then `release` lets go (the
        connection is not dropped here, or another process could lead while they stop)."""
        connection = self._connection
        if not self._held or connection is None or connection.is_closed():
            self._held = False
            return False
        try:
            # The lock is the session's: the session alive is the lock held.
            await connection.fetchval("SELECT 1", timeout=self.interval)
        except LOST as exc:
            log.warning("leader lock check failed: %s", type(exc).__name__)
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
