"""Tortoise's SQLite backend with `BEGIN IMMEDIATE` transactions (the engine `db.config` names).

Tortoise starts SQLite transactions with a plain (deferred) `BEGIN`: the write lock is taken at
the first write, and if another process (a standalone `tradebot monitor`, a second web process)
committed since the transaction's first read, that upgrade fails at once with SQLITE_BUSY — the
busy timeout does not apply to it. `BEGIN IMMEDIATE` takes the write lock up front, so a second
writer waits its turn (busy timeout) instead, and a transaction that reads then writes cannot
fail or deadlock on it. Within one process Tortoise already serialises transactions on its one
connection. (The Tortoise internals this needs are in `db.tortoise_seam`.)

It also keeps a second connection, for reading only (`reader`): in WAL mode a reader never waits
for the writer, so the lean reads of `db.sql` run on it in their own thread without taking the
writer connection's lock (an in-memory database has no second connection; reads share then).
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from db.tortoise_seam import (
    ImmediateBeginClient,
    SqliteClient,
    daemon_thread,
    sqlite_file,
    sqlite_pragmas,
    writer_lock,
)


class ImmediateSqliteClient(ImmediateBeginClient):
    reader: aiosqlite.Connection | None = None

    async def create_connection(self, with_db: bool) -> None:
        await super().create_connection(with_db)
        filename = sqlite_file(self)
        if self.reader is None and filename != ":memory:" and "mode=memory" not in filename:
            # It only reads: a process stopped before closing it (a second signal during
            # shutdown) must not wait for its thread at exit.
            reader = daemon_thread(aiosqlite.connect(filename, isolation_level=None))
            await reader
            await reader.execute(
                f"PRAGMA busy_timeout={int(sqlite_pragmas(self).get('busy_timeout', 5000))}"
            )
            await reader.execute("PRAGMA query_only=1")
            self.reader = reader

    async def close(self) -> None:
        # Batches already submitted to the writer (`db.sql.GroupCommit`) get their outcome
        # first; then nothing runs on the connection while it closes.
        committer = getattr(self, "group_commit", None)
        if committer is not None:
            await committer.drain()
        async with writer_lock(self):
            reader, self.reader = self.reader, None
            if reader is not None:
                await reader.close()
            await super().close()


client_class = ImmediateSqliteClient


def get_client_class(db_info: dict[str, Any]) -> type[SqliteClient]:
    return ImmediateSqliteClient
