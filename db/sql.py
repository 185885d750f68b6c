"""Lean SQL for the alert's hot path: hand-written statements run on Tortoise's own connection.

Why beside the ORM: an executed alert made about 25 trips to the database, each one a query
built by Tortoise/pypika (about half the process's CPU) and a hand-over to aiosqlite's thread and
back while holding the connection's lock. `docs/benchmarks.md` has the figures. Here a `Batch`
of plain statements runs in **one** hand-over: on SQLite, reads on a read-only connection and
writes through one writer that commits concurrent batches together (`GroupCommit`); on
PostgreSQL a batch that writes is one transaction.

The rules stay in the stores (and in `trading`); this module only runs statements:

* statements use `?` placeholders (rewritten to `$n` for PostgreSQL) and quoted identifiers;
* `require=` raises the given exception (and rolls the batch back) when an UPDATE or DELETE
  changes no row: that is how conditional writes (a version check, a claim) refuse;
* `on_conflict=` raises the given exception instead of `IntegrityError` on a unique violation;
* `Ref(i)` as a parameter stands for the id inserted by statement `i` of the same batch;
* values are encoded the way Tortoise encodes them (`encode`), and rows decoded through the
  model's fields (`decode`), so ORM and lean statements read and write the same rows.

The writer takes the same lock as Tortoise's queries on the connection, so a lean batch never
runs in the middle of an ORM transaction; inside an ORM transaction it runs in a savepoint of it.
The Tortoise internals that takes (its lock, its connection, aiosqlite's thread) are reached
only through `db.tortoise_seam`.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

import asyncpg
from tortoise import Model, connections
from tortoise.exceptions import IntegrityError, OperationalError, TransactionManagementError
from tortoise.fields import DatetimeField, DecimalField, Field
from tortoise.transactions import in_transaction

from db.tortoise_seam import (
    SqliteClient,
    TransactionalDBClient,
    in_thread,
    is_initialised,
    meta_of,
    pooled_connection,
    release_clean,
    writer_connection,
    writer_lock,
)
from trading import money

__all__ = ["Batch", "DependencyFailed", "Ref", "decode", "encode", "field_of", "run", "submit"]


class DependencyFailed(Exception):
    """A batch refers to an id inserted by an earlier batch that was not stored."""


@dataclass(frozen=True, slots=True)
class Ref:
    """The id inserted by statement `index` of the same batch, or of `owner`: an earlier batch
    submitted to the same writer (`submit`), which has run by the time this one runs."""

    index: int
    owner: Batch | None = None

    def value(self, results: list[Any]) -> Any:
        if self.owner is None:
            return results[self.index]
        if self.owner.results is None:
            raise DependencyFailed(f"statement {self.index} of an earlier batch was not stored")
        return self.owner.results[self.index]


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: tuple[Any, ...]
    kind: Literal["exec", "insert", "fetch"]
    require: Exception | None = None
    on_conflict: Exception | None = None


class Batch:
    """Statements run in order; `run` gives one result per statement: the rows of a fetch, the
    new id of an insert, the number of rows an UPDATE or DELETE changed."""

    __slots__ = ("follows", "results", "statements")

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self.results: list[Any] | None = None  # once run (None again if its commit failed)
        # A batch submitted earlier that this one was planned on: if that one was not stored,
        # this one is not run (DependencyFailed), whatever its own checks would say.
        self.follows: Batch | None = None

    def ref(self, local: Ref) -> Ref:
        """`local` (an insert of this batch) for use in a batch submitted after this one."""
        return Ref(local.index, self)

    def _add(self, statement: Statement) -> int:
        self.statements.append(statement)
        return len(self.statements) - 1

    def fetch(self, sql: str, *params: Any) -> int:
        return self._add(Statement(sql, params, "fetch"))

    def execute(self, sql: str, *params: Any, require: Exception | None = None) -> int:
        return self._add(Statement(sql, params, "exec", require=require))

    def insert(
        self,
        model: type[Model],
        values: Mapping[str, Any],
        *,
        on_conflict: Exception | None = None,
    ) -> Ref:
        """INSERT a row of `model`: every column, those not given at the field's default (as
        `Model.create` would), auto_now fields at now."""
        sql, fields = _insert_plan(_initialised(model))
        now = datetime.now(UTC)
        params = tuple(_value(field, values, now) for field in fields)
        return Ref(self._add(Statement(sql, params, "insert", on_conflict=on_conflict)))

    def update(
        self,
        model: type[Model],
        values: Mapping[str, Any],
        where: str,
        *params: Any,
        require: Exception | None = None,
        also: tuple[str, tuple[Any, ...]] | None = None,
    ) -> int:
        """UPDATE `model` SET the given fields WHERE `where` (its own `?` parameters); `also`:
        one more assignment, as SQL with its own `?` parameters."""
        meta = meta_of(model)
        fields_map = meta.fields_map
        columns = ", ".join(f'"{fields_map[name].source_field or name}" = ?' for name in values)
        encoded = tuple(encode(fields_map[name], value) for name, value in values.items())
        if also is not None:
            columns, encoded = f"{columns}, {also[0]}", (*encoded, *also[1])
        sql = f'UPDATE "{meta.db_table}" SET {columns} WHERE {where}'
        return self.execute(sql, *encoded, *params, require=require)


def field_of(model: type[Model], name: str) -> Field[Any]:
    """`model`'s field `name` (for `encode`)."""
    return meta_of(model).fields_map[name]


def encode(field: Any, value: Any) -> Any:
    """A Python value as Tortoise stores it in `field`, validated as Tortoise validates it
    (JSON as text; decimals as `Decimal`, which SQLite stores as text through the adapter
    Tortoise registers; lengths checked)."""
    if value is None or type(value) is Ref:
        return value
    return field.to_db_value(value, None)


def _value(field: Any, values: Mapping[str, Any], now: datetime) -> Any:
    name = field.model_field_name
    if name in values:
        return encode(field, values[name])
    if isinstance(field, DatetimeField) and (field.auto_now or field.auto_now_add):
        return now
    default = field.default
    return encode(field, default() if callable(default) else default)


@cache
def _insert_plan(model: type[Model]) -> tuple[str, tuple[Any, ...]]:
    meta = meta_of(model)
    fields = tuple(
        meta.fields_map[name]
        for name in meta.fields_db_projection
        if not (meta.fields_map[name].pk and meta.fields_map[name].generated)
    )
    columns = ", ".join(f'"{meta.fields_db_projection[f.model_field_name]}"' for f in fields)
    marks = ", ".join("?" for _ in fields)
    return f'INSERT INTO "{meta.db_table}" ({columns}) VALUES ({marks})', fields


def decode(model: type[Model], row: Sequence[Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Row values (in the order of `names`, model field names) as the ORM would give them."""
    return {
        name: None if value is None else convert(value)
        for (name, convert), value in zip(_decoders(model, names), row, strict=True)
    }


@cache
def _decoders(model: type[Model], names: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    fields_map = meta_of(_initialised(model)).fields_map
    return tuple((name, _decoder(fields_map[name])) for name in names)


def _decoder(field: Any) -> Any:
    """The field's `to_python_value`, with fast paths for the two that every row has many of."""
    if isinstance(field, DatetimeField):
        return _aware_utc
    if isinstance(field, DecimalField):
        return money.from_column  # NUMERIC(38,12), exact at any size (see db.models.MoneyField)
    return field.to_python_value


def _aware_utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def select_all(model: type[Model]) -> tuple[tuple[str, ...], str]:
    """(field names, `SELECT <their columns> FROM <table>`) for every column of `model`."""
    return _select_all(_initialised(model))


def _initialised(model: type[Model]) -> type[Model]:
    if not is_initialised(model):  # foreign-key columns exist once Tortoise is initialised
        raise RuntimeError(f"{model.__name__}: Tortoise is not initialised")
    return model


@cache
def _select_all(model: type[Model]) -> tuple[tuple[str, ...], str]:
    meta = meta_of(model)
    projection = meta.fields_db_projection
    names = tuple(projection)
    listed = ", ".join(f'"{projection[name]}"' for name in names)
    return names, f'SELECT {listed} FROM "{meta.db_table}"'


# ---------------------------------------------------------------- running


def ids_in_commit_order() -> bool:
    """Whether new rows' ids grow in commit order: on SQLite, where one writer at a time holds
    the lock from the insert to the commit; not on PostgreSQL (sequences)."""
    return isinstance(connections.get("default"), SqliteClient)


async def run(batch: Batch) -> list[Any]:
    """Run the batch: a batch that writes in one transaction (grouped with others' on SQLite),
    a batch of reads as plain statements."""
    client = connections.get("default")
    writes = any(statement.kind != "fetch" for statement in batch.statements)
    if isinstance(client, SqliteClient):
        if writes and not isinstance(client, TransactionalDBClient):
            return await _committer(client).enqueue(batch)
        batch.results = await _run_sqlite(client, batch.statements)
        return batch.results
    batch.results = await _run_postgres(client, batch.statements, writes)
    return batch.results


async def submit(batch: Batch) -> asyncio.Future[list[Any]]:
    """Queue a write batch and return the future of its results (set once it is committed).

    On SQLite its place among this process's writes is fixed when this returns, so a batch
    submitted later may refer to its inserts (`Batch.ref`) and may be planned on what it
    writes before that is committed: if it is not stored, the later batch's own checks fail.
    Elsewhere the batch has been run and committed when this returns."""
    client = connections.get("default")
    if isinstance(client, SqliteClient) and not isinstance(client, TransactionalDBClient):
        return _committer(client).enqueue(batch)
    future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
    try:
        future.set_result(await run(batch))
    except Exception as exc:
        future.set_exception(exc)
    return future


def _translated(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(exc)
    return exc


async def _run_sqlite(client: SqliteClient, statements: list[Statement]) -> list[Any]:
    """Reads, or writes inside an ORM transaction (then in a savepoint of it). Reads outside a
    transaction go to the read-only connection when there is one: no lock, no waiting for the
    writer, and several statements see one snapshot."""
    nested = isinstance(client, TransactionalDBClient)
    reader = None if nested else getattr(client, "reader", None)
    if reader is not None:
        try:
            return await in_thread(reader, _sqlite_reads, statements)
        except (sqlite3.IntegrityError, sqlite3.OperationalError) as exc:
            raise _translated(exc) from exc
    async with writer_lock(client):
        connection = await writer_connection(client)
        try:
            return await in_thread(connection, _sqlite_batch, statements, nested)
        except (sqlite3.IntegrityError, sqlite3.OperationalError) as exc:
            raise _translated(exc) from exc


def _sqlite_reads(db: sqlite3.Connection, statements: list[Statement]) -> list[Any]:
    """Runs in the reader's thread: one snapshot for all the statements."""
    if len(statements) == 1:
        return _statements(db, statements)
    db.execute("BEGIN")
    try:
        return _statements(db, statements)
    finally:
        db.execute("COMMIT")


def _sqlite_batch(
    db: sqlite3.Connection, statements: list[Statement], savepoint: bool
) -> list[Any]:
    """Runs in aiosqlite's thread: the whole batch is one hand-over."""
    if not savepoint:
        return _statements(db, statements)
    db.execute("SAVEPOINT lean")
    try:
        results = _statements(db, statements)
    except BaseException:
        db.execute("ROLLBACK TO lean")
        db.execute("RELEASE lean")
        raise
    db.execute("RELEASE lean")
    return results


def _params(statement: Statement, results: list[Any]) -> list[Any]:
    return [p.value(results) if type(p) is Ref else p for p in statement.params]


def _changed(statement: Statement, count: int) -> int:
    """An UPDATE or DELETE's row count; its `require` raised when it changed none."""
    if statement.require is not None and count == 0:
        raise statement.require
    return count


def _statements(db: sqlite3.Connection, statements: list[Statement]) -> list[Any]:
    results: list[Any] = []
    for statement in statements:
        params = _params(statement, results)
        try:
            cursor = db.execute(statement.sql, params)
        except sqlite3.IntegrityError:
            if statement.on_conflict is not None:
                raise statement.on_conflict from None
            raise
        if statement.kind == "fetch":
            results.append(cursor.fetchall())
        elif statement.kind == "insert":
            results.append(cursor.lastrowid)
        else:
            results.append(_changed(statement, cursor.rowcount))
    return results


class GroupCommit:
    """SQLite's single writer: write batches submitted while a commit is on its way wait for
    the next one, and then go together, in one `BEGIN IMMEDIATE` transaction and one hand-over
    to the database thread, each batch in its own savepoint (a batch that fails is rolled back
    alone; the others commit). One fsync serves them all. Each submitter learns its batch's
    outcome once the COMMIT is done: nothing is answered before it is durable. If the
    transaction itself fails (locked for longer than the busy timeout, disk error), every batch
    of the group gets that error and none of them is stored."""

    def __init__(self, client: SqliteClient) -> None:
        self.client = client
        self.pending: list[tuple[Batch, asyncio.Future[list[Any]]]] = []
        self.flushing: asyncio.Task[None] | None = None

    def enqueue(self, batch: Batch) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.pending.append((batch, future))
        if self.flushing is None:
            self.flushing = asyncio.create_task(self._flush(), name="sqlite-group-commit")
        return future

    async def _flush(self) -> None:
        try:
            while self.pending:
                group, self.pending = self.pending, []
                try:
                    outcomes = await self._commit([batch for batch, _ in group])
                except asyncio.CancelledError:  # the loop is going down: outcome unknown
                    stopped = OperationalError("the database writer stopped (shutdown)")
                    for _batch, future in group + self.pending:
                        if not future.done():
                            future.set_exception(stopped)
                    self.pending = []
                    raise
                except Exception as exc:  # nothing of the group is stored
                    outcomes = [(False, exc)] * len(group)
                for (_batch, future), (ok, value) in zip(group, outcomes, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(_translated(value))
        finally:
            self.flushing = None

    async def drain(self) -> None:
        """Wait until every batch submitted so far has its outcome (before closing)."""
        while self.flushing is not None:
            await asyncio.wait([self.flushing])

    async def _commit(self, batches: list[Batch]) -> list[tuple[bool, Any]]:
        client = self.client
        async with writer_lock(client):
            connection = await writer_connection(client)
            return await in_thread(connection, _sqlite_group, batches)


def _sqlite_group(db: sqlite3.Connection, batches: list[Batch]) -> list[tuple[bool, Any]]:
    """Runs in aiosqlite's thread: one transaction for the group, a savepoint per batch."""
    try:
        db.execute("BEGIN IMMEDIATE")
        outcomes: list[tuple[bool, Any]] = []
        for batch in batches:
            db.execute("SAVEPOINT batch")
            try:
                _check_follows(batch)
                batch.results = _statements(db, batch.statements)
            except Exception as exc:
                db.execute("ROLLBACK TO batch")
                db.execute("RELEASE batch")
                outcomes.append((False, exc))
            else:
                db.execute("RELEASE batch")
                outcomes.append((True, batch.results))
        db.execute("COMMIT")
    except BaseException:
        for batch in batches:  # nothing of the group is stored: later batches must not see it
            batch.results = None
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    finally:
        for batch in batches:  # run: let go of what it referred to (no chain of old batches)
            batch.statements, batch.follows = [], None
    return outcomes


def _check_follows(batch: Batch) -> None:
    if batch.follows is not None and batch.follows.results is None:
        raise DependencyFailed("the batch it was planned on was not stored")


def _committer(client: SqliteClient) -> GroupCommit:
    """The client's writer (kept on the client, so it goes with it)."""
    committer: GroupCommit | None = getattr(client, "group_commit", None)
    if committer is None:
        committer = GroupCommit(client)
        client.group_commit = committer  # type: ignore[attr-defined]
    return committer


@cache
def _dollar(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2…` (statements here never quote a `?`)."""
    parts = sql.split("?")
    out = [parts[0]]
    for index, part in enumerate(parts[1:], start=1):
        out.append(f"${index}{part}")
    return "".join(out)


async def _run_postgres(client: Any, statements: list[Statement], writes: bool) -> list[Any]:
    """The whole batch on **one** pool connection and in as few round trips as it allows: one
    acquire and one release without the pool's reset (`release_clean`; not one of each per
    statement), several reads as one statement (`_asyncpg_reads`), several writes in one
    transaction, a single write alone (a statement is atomic: no BEGIN and COMMIT). Inside an
    ORM transaction the batch runs on that transaction's connection, writes in a savepoint of it
    (Tortoise nests it so)."""
    if isinstance(client, TransactionalDBClient):
        if writes:
            async with in_transaction("default") as connection:
                return await _postgres_batch(connection, statements)
        return await _postgres_batch(client, statements)
    async with pooled_connection(client) as connection:
        try:
            if writes and len(statements) > 1:
                if (plan := _writes_as_one(statements)) is not None:
                    results = await _asyncpg_one_write(connection, statements, plan)
                else:
                    async with connection.transaction():
                        results = await _asyncpg_batch(connection, statements)
            elif len(statements) > 1:
                results = await _asyncpg_reads(connection, statements)
            else:
                results = await _asyncpg_batch(connection, statements)
        except (asyncpg.SyntaxOrAccessError, asyncpg.DataError) as exc:  # as Tortoise's
            raise OperationalError(exc) from exc
        except asyncpg.InvalidTransactionStateError as exc:
            raise TransactionManagementError(exc) from exc
        release_clean(connection)  # plain statements, transaction over: no session state
        return results


async def _postgres_batch(connection: Any, statements: list[Statement]) -> list[Any]:
    results: list[Any] = []  # (PostgreSQL batches run when submitted: `follows` has run)
    for statement in statements:
        params = _params(statement, results)
        sql = _dollar(statement.sql)
        try:
            if statement.kind == "insert":
                row = await connection.execute_insert(f"{sql} RETURNING id", params)
                results.append(row[0])
                continue
            count, rows = await connection.execute_query(sql, params)
        except IntegrityError:
            if statement.on_conflict is not None:
                raise statement.on_conflict from None
            raise
        results.append(rows if statement.kind == "fetch" else _changed(statement, count))
    return results


async def _asyncpg_batch(connection: Any, statements: list[Statement]) -> list[Any]:
    """`_postgres_batch` straight on an asyncpg connection, with the results Tortoise's
    `execute_insert` / `execute_query` give and the errors they raise."""
    results: list[Any] = []
    for statement in statements:
        params = _params(statement, results)
        try:
            if statement.kind == "insert":
                row = await connection.fetchrow(_returning(statement.sql), *params)
                results.append(row[0])
                continue
            sql, changes = _dollar(statement.sql), _changes(statement.sql)
            if changes:
                count = _status_count(await connection.execute(sql, *params))
                rows: list[Any] = []
            else:
                rows = await connection.fetch(sql, *params)
                count = len(rows)
        except asyncpg.IntegrityConstraintViolationError as exc:
            if statement.on_conflict is not None:
                raise statement.on_conflict from None
            raise IntegrityError(exc) from exc
        results.append(rows if statement.kind == "fetch" else _changed(statement, count))
    return results


async def _asyncpg_reads(connection: Any, statements: list[Statement]) -> list[Any]:
    """Several reads in one statement, so one round trip: each read's rows as an array of
    records (`ARRAY(SELECT r FROM (<read>) AS r)`, in the read's order, its columns typed as
    they are alone), all of them seeing one snapshot. Rows come back as tuples."""
    sql = _reads_as_one(tuple(statement.sql for statement in statements))
    params = [param for statement in statements for param in statement.params]
    return list(await connection.fetchrow(sql, *params))


@cache
def _reads_as_one(reads: tuple[str, ...]) -> str:
    arrays = ", ".join(f"ARRAY(SELECT r FROM ({read}) AS r)" for read in reads)
    return _dollar(f"SELECT {arrays}")


_TARGET = re.compile(r'\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"([^"]+)"', re.IGNORECASE)
_REQUIRE = re.compile(r'"require (\d+)"')


@dataclass(frozen=True, slots=True)
class _OneWrite:
    """A write batch as one statement (`_writes_as_one`): its SQL, and the table of each
    statement (to name the statement an integrity error came from)."""

    sql: str
    tables: tuple[str, ...]


def _writes_as_one(statements: list[Statement]) -> _OneWrite | None:
    """The batch's writes as **one** statement, one round trip instead of BEGIN, each write
    and COMMIT: each write a data-modifying `WITH` query, an id inserted earlier in the batch
    read from its query (`Ref`), and a SELECT of the results in statement order where a
    `require` that changed no row fails the statement (so nothing of it is stored, as a
    rolled-back batch). None when the batch cannot be one statement exactly as it runs
    statement by statement: a read in it, or two writes to one table other than plain inserts
    (a statement's parts do not see each other's changes, and may not change a row twice)."""
    shape = []
    for statement in statements:
        local = tuple(type(p) is Ref and p.owner is None for p in statement.params)
        refs = tuple(p.index for p in statement.params if type(p) is Ref and p.owner is None)
        shape.append(
            (statement.sql, statement.kind, statement.require is not None,
             statement.on_conflict is not None, local, refs)
        )  # fmt: skip
    return _one_write(tuple(shape))


@cache
def _target(sql: str) -> tuple[str, str] | None:
    """(INSERT | UPDATE | DELETE, table) of a write statement; None for anything else."""
    found = _TARGET.match(sql)
    return None if found is None else (found.group(1).split()[0].upper(), found.group(2))


@cache
def _one_write(shape: tuple[tuple[Any, ...], ...]) -> _OneWrite | None:
    targets = [_target(sql) for sql, *_ in shape]
    queries, columns = [], []
    for index, (sql, kind, required, _, local, refs) in enumerate(shape):
        target = targets[index]
        if kind == "fetch" or target is None or (kind == "insert" and target[0] != "INSERT"):
            return None
        if target[0] == "INSERT" and kind == "exec" and required:
            return None  # (its count is Tortoise's 0: it would always refuse)
        same = [i for i, other in enumerate(targets) if other is not None and other[1] == target[1]]
        if len(same) > 1 and any(shape[i][1] != "insert" or shape[i][3] for i in same):
            return None
        if any(ref >= index or shape[ref][1] != "insert" for ref in refs):
            return None
        parts, pending = sql.split("?"), iter(refs)
        if len(parts) != len(local) + 1:
            return None
        text = parts[0] + "".join(
            (f'(SELECT "id" FROM w{next(pending)})' if is_ref else "?") + part
            for is_ref, part in zip(local, parts[1:], strict=True)
        )
        if kind == "insert":
            queries.append(f'w{index} AS ({text} RETURNING "id")')
            columns.append(f'(SELECT "id" FROM w{index})')
        elif target[0] == "INSERT":  # its count as Tortoise reads it: 0 ("INSERT 0 n")
            queries.append(f"w{index} AS ({text})")
            columns.append("0")
        else:
            queries.append(f"w{index} AS ({text} RETURNING 1)")
            columns.append(f"(SELECT COUNT(*) FROM w{index})")
        if required:  # not a constant: evaluated when the row is made, never when planned
            columns.append(
                f"CAST(CASE WHEN (SELECT COUNT(*) FROM w{index}) = 0 "
                f"THEN 'require {index}' END AS INTEGER)"
            )
    sql = f"WITH {', '.join(queries)} SELECT {', '.join(columns)}"
    return _OneWrite(_dollar(sql), tuple(target[1] for target in targets if target))


async def _asyncpg_one_write(
    connection: Any, statements: list[Statement], plan: _OneWrite
) -> list[Any]:
    params = [
        p.value([]) if type(p) is Ref and p.owner is not None else p
        for statement in statements
        for p in statement.params
        if not (type(p) is Ref and p.owner is None)
    ]
    try:
        row = await connection.fetchrow(plan.sql, *params)
    except asyncpg.InvalidTextRepresentationError as exc:
        found = _REQUIRE.search(str(exc))
        if found is None:
            raise
        failed = statements[int(found.group(1))].require
        assert failed is not None
        raise failed from None
    except asyncpg.IntegrityConstraintViolationError as exc:
        table = getattr(exc, "table_name", None)
        for statement, target in zip(statements, plan.tables, strict=True):
            if target == table and statement.on_conflict is not None:
                raise statement.on_conflict from None
        raise IntegrityError(exc) from exc
    values, results = iter(row), []
    for statement in statements:
        results.append(next(values))
        if statement.require is not None:
            next(values)  # its check (NULL)
    return results


@cache
def _returning(sql: str) -> str:
    return f"{_dollar(sql)} RETURNING id"


@cache
def _changes(sql: str) -> bool:
    """Whether Tortoise's `execute_query` runs `sql` for its status (no rows), not its rows."""
    return sql.lstrip().upper().startswith(("UPDATE", "DELETE", "INSERT"))


def _status_count(status: str) -> int:
    """The count in a command status as Tortoise's `execute_query` reads it (its second word:
    "UPDATE 3" → 3; "INSERT 0 1" → 0)."""
    try:
        return int(status.split(" ")[1])
    except (AttributeError, IndexError, ValueError):
        return 0
