"""Every row of the product's tables copied from one database to another, ids kept
(`tradebot db copy`, SPEC §2 and §11): how an SQLite deployment moves to PostgreSQL.

* The source must be migrated to exactly this version's migrations (its columns are then the
  ones the models name); it is only read.
* The target is migrated first, by the same migrations (`db.migrate.upgrade`), and must hold no
  product data: the copy never merges into or overwrites a database in use. The rows the
  migrations themselves write (the account's settings row) are replaced by the source's.
* Tables are copied in foreign-key order, each row decoded and encoded as the product's own SQL
  does (`db.sql.decode` / `db.sql.encode`), so money stays an exact `Decimal` and times UTC on
  either dialect. The target's writes are one transaction: a copy that fails leaves it empty.
* On PostgreSQL each table's id sequence is moved past the largest copied id, so the next row
  the product inserts gets a new id (SQLite does that by itself).

aerich's own table is not copied: each dialect has its own migration files, and the target's
was written by migrating it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tortoise import BaseDBAsyncClient, Model, Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import ConfigurationError
from tortoise.transactions import in_transaction

from db import sql
from db.config import dialect, migrations_location, tortoise_config
from db.migrate import upgrade
from db.tortoise_seam import meta_of

Side = Literal["source", "target"]
SCHEMES = ("sqlite://", "postgres://", "postgresql://", "asyncpg://")
BATCH = 1000  # rows read and written at a time
# Tables whose rows the migrations write (migration 4: the account's single settings row): a
# freshly migrated target has them, and they are replaced by the source's.
SEEDED = frozenset({"account_settings"})


class CopyRefused(Exception):
    """Why the copy did not start or did not finish, in one line; `side` names the database it
    is about (None: both, or neither)."""

    def __init__(self, side: Side | None, message: str) -> None:
        super().__init__(message)
        self.side = side
        self.message = message


@dataclass(frozen=True, slots=True)
class TableCopy:
    table: str
    rows: int


async def copy_database(source_url: str, target_url: str) -> list[TableCopy]:
    """Copy every product table from `source_url` into `target_url`; the rows copied per table,
    in the order they were copied. `CopyRefused` for anything the user can fix."""
    sides: tuple[tuple[Side, str], ...] = (("source", source_url), ("target", target_url))
    identities = []
    for side, url in sides:
        if not url.startswith(SCHEMES):
            raise CopyRefused(side, "must start with sqlite:// or postgres://")
        try:
            identities.append(_identity(url))
        except (ConfigurationError, ValueError) as exc:  # no path, a port that is no number
            raise CopyRefused(side, f"not a database URL ({exc})") from None
    if identities[0] == identities[1]:
        raise CopyRefused(None, "the source and the target are the same database")
    with _opening("source"):
        await _check_migrated(source_url)
    with _opening("target", "migrate"):
        await upgrade(target_url)
    async with _both(source_url, target_url):
        source, target = connections.get("source"), connections.get("target")
        models = copy_order()
        with _opening("target"):
            occupied = await _occupied(target, models)
        if occupied:
            shown = ", ".join(
                f"{table} ({rows} row{'s' * (rows != 1)})" for table, rows in occupied
            )
            raise CopyRefused(
                "target",
                f"holds data already: {shown}; copy into a new, empty database "
                "(or drop and create this one)",
            )
        copied = []
        async with _snapshot(source_url, source) as reader, _writing(target_url) as writer:
            for model in models:
                table = meta_of(model).db_table
                if table in SEEDED:
                    await writer.execute_query(f'DELETE FROM "{table}"')
                copied.append(TableCopy(table, await _copy_table(model, reader, writer)))
            if dialect(target_url) == "postgres":
                for model in models:
                    await _move_sequence(model, writer)
        return copied


def copy_order() -> list[type[Model]]:
    """The product's models (Tortoise initialised), each after those its foreign keys name;
    otherwise by table name, so the order is the same every time."""
    models = sorted(Tortoise.apps["models"].values(), key=lambda m: meta_of(m).db_table)
    placed: list[type[Model]] = []
    while len(placed) < len(models):
        for model in models:
            meta = meta_of(model)
            needs = {
                getattr(meta.fields_map[name], "related_model", None) for name in meta.fk_fields
            }
            if model not in placed and all(n in placed or n is model for n in needs):
                placed.append(model)
                break
        else:  # pragma: no cover - the models' foreign keys form no cycle
            raise RuntimeError("foreign keys form a cycle")
    return placed


# ---------------------------------------------------------------- checks


def _identity(url: str) -> tuple[str, ...]:
    """What names a database: an SQLite file's real path; a server, port and database name."""
    credentials = expand_db_url(url)["credentials"]
    if url.startswith("sqlite://"):
        path = credentials["file_path"]
        return ("sqlite", path if path == ":memory:" else str(Path(path).resolve()))
    host = str(credentials.get("host") or "localhost").lower()
    return ("postgres", host, str(credentials.get("port")), str(credentials.get("database")))


@contextmanager
def _opening(side: Side, doing: str = "open") -> Iterator[None]:
    """A database that cannot be opened, read or written as one line about that side (each
    step is wrapped where it runs, so a failure is told about the side it happened on)."""
    try:
        yield
    except CopyRefused:
        raise
    except OSError as exc:  # refused, unknown host, timeout
        reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror
        raise CopyRefused(side, f"cannot connect: {reason or type(exc).__name__}") from None
    except Exception as exc:
        from tortoise.exceptions import BaseORMException

        driver = isinstance(exc, BaseORMException | sqlite3.Error)
        if not driver and not type(exc).__module__.startswith("asyncpg"):
            raise
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise CopyRefused(side, f"cannot {doing}: {reason}") from None


def _migration_files(url: str) -> set[str]:
    folder = Path(migrations_location(url)) / "models"
    return {p.name for p in folder.glob("*.py") if p.name[:1].isdigit()}


async def _check_migrated(url: str) -> None:
    """The source has exactly this version's migrations, read without creating or changing it."""
    applied = _sqlite_versions(url) if url.startswith("sqlite://") else await _server_versions(url)
    expected = _migration_files(url)
    if not applied:
        raise CopyRefused("source", "not migrated (no tradebot schema there)")
    if applied - expected:
        raise CopyRefused(
            "source",
            f"has {len(applied - expected)} migration(s) this version does not know: copy it "
            "with the tradebot version that wrote it",
        )
    if expected - applied:
        raise CopyRefused(
            "source",
            f"lacks {len(expected - applied)} migration(s) of this version: run "
            "`tradebot migrate` on it first (TRADEBOT_DATABASE_URL set to it)",
        )


def _sqlite_versions(url: str) -> set[str]:
    path = expand_db_url(url)["credentials"]["file_path"]
    if path == ":memory:" or not Path(path).is_file():
        raise CopyRefused("source", f"no such file: {path}")
    try:
        with closing(sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT version FROM aerich WHERE app = 'models'").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return set()
        raise
    return {row[0] for row in rows}


async def _server_versions(url: str) -> set[str]:
    import asyncpg

    from db.leader_lock import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=30)
    try:
        if await connection.fetchval("SELECT to_regclass('aerich')") is None:
            return set()
        rows = await connection.fetch("SELECT version FROM aerich WHERE app = 'models'")
    finally:
        await connection.close()
    return {row["version"] for row in rows}


async def _occupied(target: BaseDBAsyncClient, models: list[type[Model]]) -> list[tuple[str, int]]:
    """The target's tables that hold rows (but those the migrations write), with their counts."""
    found = []
    for model in models:
        table = meta_of(model).db_table
        if table in SEEDED:
            continue
        _, rows = await target.execute_query(f'SELECT count(*) FROM "{table}"')
        count = int(_values(rows[0])[0])
        if count:
            found.append((table, count))
    return found


# ---------------------------------------------------------------- copying


@asynccontextmanager
async def _both(source_url: str, target_url: str) -> AsyncIterator[None]:
    """Tortoise with two connections, `source` and `target`; the models are only used for what
    they say about the tables (names, columns, types, foreign keys)."""
    config = {
        "connections": {
            "source": tortoise_config(source_url)["connections"]["default"],
            "target": tortoise_config(target_url)["connections"]["default"],
        },
        "apps": {"models": {"models": ["db.models"], "default_connection": "source"}},
        "use_tz": True,
        "timezone": "UTC",
    }
    try:
        await Tortoise.init(config=config)
        yield
    finally:
        await Tortoise.close_connections()


@asynccontextmanager
async def _snapshot(url: str, source: BaseDBAsyncClient) -> AsyncIterator[Any]:
    """The source read in one read-only transaction: every table as of one moment, without
    holding up a process still writing to it (PostgreSQL: REPEATABLE READ; SQLite in WAL mode:
    a deferred transaction's reads see the database as of its first read)."""
    with _opening("source"):
        if dialect(url) == "postgres":
            async with in_transaction("source") as reader:
                await reader.execute_query(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                )
                yield reader
            return
        await source.execute_query("BEGIN")  # the source's own connection: only this reads on it
        try:
            yield source
        finally:
            await source.execute_query("COMMIT")


@asynccontextmanager
async def _writing(url: str) -> AsyncIterator[Any]:
    """The target's one transaction: committed when every table is copied, else rolled back."""
    with _opening("target", "write"):
        async with in_transaction("target") as writer:
            yield writer


async def _copy_table(model: type[Model], source: Any, writer: Any) -> int:
    meta = meta_of(model)
    names = tuple(meta.fields_db_projection)
    columns = [meta.fields_db_projection[name] for name in names]
    fields = [meta.fields_map[name] for name in names]
    listed = ", ".join(f'"{column}"' for column in columns)
    pk = f'"{meta.db_pk_column}"'
    first = f'SELECT {listed} FROM "{meta.db_table}" ORDER BY {pk} LIMIT {BATCH}'
    after = f'SELECT {listed} FROM "{meta.db_table}" WHERE {pk} > {_mark(source, 1)} ' \
        f"ORDER BY {pk} LIMIT {BATCH}"  # fmt: skip
    marks = ", ".join(_mark(writer, i) for i in range(1, len(columns) + 1))
    insert = f'INSERT INTO "{meta.db_table}" ({listed}) VALUES ({marks})'
    position = names.index(meta.pk_attr)
    copied = 0
    last: Any = None
    while True:
        with _opening("source", "read"):
            _, rows = await source.execute_query(first if last is None else after,
                                                 None if last is None else [last])  # fmt: skip
            if not rows:
                return copied
            values = [_encoded(fields, sql.decode(model, _values(row), names).values())
                      for row in rows]  # fmt: skip
        with _opening("target", "write"):
            await writer.execute_many(insert, values)
        copied += len(rows)
        last = _values(rows[-1])[position]
        if len(rows) < BATCH:
            return copied


def _values(row: Any) -> Sequence[Any]:
    """A row's values in column order (sqlite3.Row, asyncpg's Record or a dict)."""
    return list(row.values()) if isinstance(row, dict) else list(row)


def _encoded(fields: list[Any], values: Any) -> list[Any]:
    return [sql.encode(field, value) for field, value in zip(fields, values, strict=True)]


def _mark(client: Any, index: int) -> str:
    """A placeholder in the client's dialect."""
    return f"${index}" if client.capabilities.dialect == "postgres" else "?"


async def _move_sequence(model: type[Model], writer: Any) -> None:
    """The next id the table's sequence gives is past every copied id."""
    meta = meta_of(model)
    if not meta.pk.generated:
        return
    table, column = meta.db_table, meta.db_pk_column
    await writer.execute_query(
        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "
        f'coalesce(max("{column}"), 0) + 1, false) FROM "{table}"'
    )
