"""Tortoise's SQLite backend with `BEGIN IMMEDIATE` transactions (the engine `db.config` names).

Tortoise starts SQLite transactions with a plain (deferred) `BEGIN`: the write lock is taken at
the first write, and if another process (a standalone `tradebot monitor`, a second web process)
committed since the transaction's first read, that upgrade fails at once with SQLITE_BUSY — the
busy timeout does not apply to it. `BEGIN IMMEDIATE` takes the write lock up front, so a second
writer waits its turn (busy timeout) instead, and a transaction that reads then writes cannot
fail or deadlock on it. Within one process Tortoise already serialises transactions on its one
connection.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError


class ImmediateTransactionWrapper(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(ImmediateTransactionWrapper(self), self._lock)


client_class = ImmediateSqliteClient


def get_client_class(db_info: dict[str, Any]) -> type[SqliteClient]:
    return ImmediateSqliteClient
