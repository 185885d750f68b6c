"""`tradebot db copy --from sqlite://… --to postgres://…` (SPEC §2, §11): a trader's SQLite
database, filled by the product itself, moves to PostgreSQL with every row and id, money and
times exact; a server on the copy trades the copied bots' alerts at once, and what it writes
gets new ids. Mistakes are one line and exit status 2, and leave the target untouched.

The rows are compared straight from the two databases (sqlite3 and asyncpg, not the product's
code), each value read as its PostgreSQL column type says: a number as a `Decimal`, a time as
an aware datetime, JSON as the data it holds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from db.stores import sql_stores
from tests.conftest import OWNER_ID, World, now_iso
from tests.processes import free_port, postgres_database, run_cli, run_cli_status
from tests.telegram_helpers import Chat
from tests.waiting import answering
from trading.signatures import signed_headers

BIG_PRICE = "987654321098.765432109876"  # 24 digits: no float holds it, NUMERIC(38,12) does
TINY_QTY = "0.000000000123"
SECRET = "a-secret-of-the-alpha-bot-0123456789"


# Tables the story below puts rows in (the others may be empty).
FILLED = (
    "trading_bots", "strategy_configs", "instruments", "bot_prices", "orders", "position_entries",
    "current_positions", "trade_history", "webhook_logs", "price_bars", "users", "audit_log",
    "used_signatures", "equity_snapshots", "telegram_updates", "account_settings",
)  # fmt: skip


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    env.update(values)
    return env


# ---------------------------------------------------------------- the source, as a trader fills it


async def _trade_for_a_while(world: World) -> None:
    """Bots, alerts of every outcome, fills, a closed trade, bars, a signed alert, a user and
    a risk rule: something in nearly every table."""
    assert world.telegram is not None
    owner = Chat(world.telegram, OWNER_ID)
    await owner.say("/users grant 222 trader", "trader")
    await owner.say("/risk set max_open_positions=5", "max_open_positions")
    await world.add_bot("alpha", size="0.015", sl="2%", tp="4%", max_entries=3)
    await world.add_bot("beta", symbols=["ETHUSDT"], size=TINY_QTY, direction="long")
    await world.add_bot("bars", strategy="rsi", size="0.1", interval="60")

    sent = [
        ("alpha", {"action": "buy", "price": "65120.5", "id": "a-1"}),
        ("alpha", {"action": "buy", "price": "65200.25", "id": "a-2"}),
        ("alpha", {"action": "buy", "price": "65120.5", "id": "a-1"}),  # duplicate
        ("alpha", {"action": "sell", "price": "65300", "qty": "0.01", "id": "a-3"}),
        ("beta", {"action": "buy", "symbol": "ETHUSDT", "price": BIG_PRICE, "id": "b-1"}),
        ("beta", {"action": "close", "symbol": "ETHUSDT", "price": "3512.000000000001"}),
    ]
    for name, fields in sent:
        status, answer = await world.send_alert(name, time=now_iso(), **fields)
        assert status == 200, answer
    hour = datetime(2024, 1, 1, tzinfo=UTC)
    for n, close in enumerate(["100.5", "101.25", "99.125"]):
        bar = (hour + timedelta(hours=n)).isoformat()
        status, answer = await world.send_alert("bars", action="tick", price=close, bar_time=bar)
        assert status == 200, answer
    assert (await world.post("x" * 43, "buy BTCUSDT"))[0] == 401  # an unknown key, logged

    await sql_stores().bots.set_hmac_secret("alpha", SECRET)  # as `bots edit --sign` does
    body = json.dumps({"action": "tick", "symbol": "BTCUSDT", "price": "65400"}).encode()
    url = world.url(f"/webhook/{world.bots['alpha'].webhook_key}")
    async with world.http.post(url, data=body, headers=signed_headers(SECRET, body)) as response:
        assert response.status == 200, await response.text()


# ---------------------------------------------------------------- reading both sides


def _sqlite_tables(path: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every table but aerich's: its columns and its rows by primary key."""
    tables = {}
    with closing(sqlite3.connect(path)) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in names:
            if name in ("aerich", "sqlite_sequence"):
                continue
            info = db.execute(f'PRAGMA table_info("{name}")').fetchall()
            columns = [row[1] for row in info]
            pk = next(row[1] for row in info if row[5])
            rows = db.execute(f'SELECT * FROM "{name}" ORDER BY "{pk}"').fetchall()
            tables[name] = (columns, rows)
    return tables


async def _postgres_tables(
    url: str,
) -> dict[str, tuple[list[str], list[str], list[tuple[Any, ...]]]]:
    """Every table but aerich's: its columns, their types and its rows by primary key."""
    import asyncpg

    db = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        columns = await db.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name <> 'aerich' "
            "ORDER BY table_name, ordinal_position"
        )
        keys = await db.fetch(
            "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu USING (constraint_name, table_name) "
            "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public'"
        )
        key = {row["table_name"]: row["column_name"] for row in keys}
        tables: dict[str, tuple[list[str], list[str], list[tuple[Any, ...]]]] = {}
        for row in columns:
            names, types, _ = tables.setdefault(row["table_name"], ([], [], []))
            names.append(row["column_name"])
            types.append(row["data_type"])
        for table, (names, _, rows) in tables.items():
            listed = ", ".join(f'"{n}"' for n in names)
            found = await db.fetch(f'SELECT {listed} FROM "{table}" ORDER BY "{key[table]}"')
            rows.extend(tuple(record.values()) for record in found)
    finally:
        await db.close()
    return tables


def _as(kind: str, value: Any) -> Any:
    """A value as the PostgreSQL column type `kind` holds it."""
    if value is None:
        return None
    if kind == "numeric":
        return Decimal(value)
    if kind.startswith("timestamp"):
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        assert moment.tzinfo is not None, f"a naive time: {value!r}"
        return moment.astimezone(UTC)
    if kind in ("json", "jsonb"):
        return json.loads(value) if isinstance(value, str) else value
    if kind == "boolean":
        return bool(value)
    return value


def _differences(
    sqlite_side: dict[str, tuple[list[str], list[tuple[Any, ...]]]],
    postgres_side: dict[str, tuple[list[str], list[str], list[tuple[Any, ...]]]],
) -> list[str]:
    """Each table, column and row where the two databases differ (empty: the same rows)."""
    found = []
    if sorted(sqlite_side) != sorted(postgres_side):
        found.append(f"tables: {sorted(sqlite_side)} != {sorted(postgres_side)}")
    for table in sorted(set(sqlite_side) & set(postgres_side)):
        columns, rows = sqlite_side[table]
        names, kinds, pg_rows = postgres_side[table]
        if sorted(columns) != sorted(names):  # (in the order each dialect's migrations add them)
            found.append(f"{table} columns: {columns} != {names}")
            continue
        if len(rows) != len(pg_rows):
            found.append(f"{table}: {len(rows)} rows != {len(pg_rows)}")
        where = [columns.index(name) for name in names]
        for row, pg_row in zip(rows, pg_rows, strict=False):
            left = tuple(_as(k, row[i]) for k, i in zip(kinds, where, strict=True))
            right = tuple(_as(k, v) for k, v in zip(kinds, pg_row, strict=True))
            if left != right:
                found.append(f"{table}: {left} != {right}")
    return found


# ---------------------------------------------------------------- the story


@pytest.mark.services
async def test_a_trading_sqlite_database_copied_to_postgres_keeps_every_row_and_trades_on(
    start_world: Callable[..., Any], db_url: str, tmp_path: Path
) -> None:
    world: World = await start_world(telegram=True)
    await _trade_for_a_while(world)
    await world.http.close()
    await world.server.close()  # stopped, as the command's help asks
    source = Path(db_url.removeprefix("sqlite://"))
    before = _sqlite_tables(source)
    assert [table for table in FILLED if not before[table][1]] == []

    with postgres_database("tradebot_copy") as target:
        env = _env()
        out = await run_cli(env, tmp_path, "db", "copy", "--from", db_url, "--to", target, "--json")
        counts = json.loads(out)
        assert counts["tables"] == {table: len(rows) for table, (_, rows) in before.items()}
        assert counts["rows"] == sum(len(rows) for _, rows in before.values())
        assert _differences(before, await _postgres_tables(target)) == []
        assert _sqlite_tables(source) == before  # the source is only read

        # and back: PostgreSQL to a new SQLite file gives the same rows again
        back = tmp_path / "back" / "tradebot.sqlite3"
        await run_cli(env, tmp_path, "db", "copy", "--from", target, "--to", f"sqlite://{back}")
        assert _differences(_sqlite_tables(back), await _postgres_tables(target)) == []

        # a second copy into the same database is refused: it holds data now
        status, out = await run_cli_status(
            env, tmp_path, "db", "copy", "--from", db_url, "--to", target
        )
        assert status == 2 and out.count("\n") == 1, out
        assert "holds data already: audit_log (" in out

        await _serve_trades_on_the_copy(target, before, tmp_path)


async def _serve_trades_on_the_copy(
    target: str, before: dict[str, tuple[list[str], list[tuple[Any, ...]]]], tmp_path: Path
) -> None:
    """A server on the copy answers the copied bot's webhook URL (its key and signing secret
    came along); the rows it writes get ids after the copied ones (PostgreSQL's sequences were
    moved past them)."""
    alpha = next(row for row in before["trading_bots"][1] if row[1] == "alpha")
    key = alpha[before["trading_bots"][0].index("webhook_key")]
    port = free_port()
    env = _env(TRADEBOT_DATABASE_URL=target, TRADEBOT_HOST="127.0.0.1", TRADEBOT_PORT=str(port))
    log = (tmp_path / "serve.log").open("wb")
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=tmp_path, env=env, stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            await answering(http, base, server, timeout=180)
            alert = {"action": "buy", "symbol": "BTCUSDT", "price": "65500", "id": "after-copy",
                     "time": now_iso()}  # fmt: skip
            body = json.dumps(alert).encode()  # alpha signs its alerts since the copy's source did
            headers = signed_headers(SECRET, body)
            async with http.post(f"{base}/webhook/{key}", data=body, headers=headers) as response:
                answer = await response.json()
            assert (response.status, answer["status"]) == (200, "executed"), answer
        added = await run_cli(env, tmp_path, "bots", "add", "--name", "gamma", "--symbol",
                              "BTCUSDT", "--json")  # fmt: skip
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=60)
        log.close()

    def last_id(table: str) -> int:
        return max(row[0] for row in before[table][1])

    assert answer["order"]["id"] > last_id("orders")
    assert json.loads(added)["id"] > last_id("trading_bots")
    after = await _postgres_tables(target)
    for table in ("webhook_logs", "orders", "position_entries", "equity_snapshots", "audit_log"):
        ids = [row[0] for row in after[table][2]]
        assert len(ids) > len(before[table][1]) and ids[-1] > last_id(table), table
    assert "Created bot" not in (tmp_path / "serve.log").read_text()


# ---------------------------------------------------------------- mistakes


async def test_db_copy_mistakes_are_one_line_and_leave_the_target_alone(
    db_url: str, tmp_path: Path
) -> None:
    env = _env()
    migrated = db_url  # a migrated database with no data (conftest's template)
    busy = tmp_path / "busy.sqlite3"
    busy_url = f"sqlite://{busy}"
    shutil.copy(db_url.removeprefix("sqlite://"), busy)  # migrated
    await run_cli(_env(TRADEBOT_DATABASE_URL=busy_url), tmp_path, "bots", "add", "--name",
                  "mine", "--symbol", "BTCUSDT")  # fmt: skip
    bare = tmp_path / "bare.sqlite3"
    with closing(sqlite3.connect(bare)) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    fresh = tmp_path / "fresh.sqlite3"
    nobody = f"postgres://postgres@127.0.0.1:{free_port()}/tradebot"
    cases = {
        ("--from", migrated, "--to", f"sqlite://{tmp_path}/./tradebot.sqlite3"): (
            "Error: --from and --to: the source and the target are the same database"),
        ("--from", "mysql://u@h/db", "--to", f"sqlite://{fresh}"): (
            "Error: Invalid value for '--from': must start with sqlite:// or postgres://"),
        ("--from", f"sqlite://{tmp_path / 'missing.sqlite3'}", "--to", f"sqlite://{fresh}"): (
            "Error: --from sqlite://"),
        ("--from", f"sqlite://{bare}", "--to", f"sqlite://{fresh}"): (
            f"Error: --from sqlite://{bare}: not migrated"),
        ("--from", migrated, "--to", nobody): (
            f"Error: --to {nobody}: cannot connect: Connection refused"),
        ("--from", migrated, "--to", busy_url): (
            f"Error: --to {busy_url}: holds data already: audit_log (1 row), "),
    }  # fmt: skip
    results = await asyncio.gather(
        *[run_cli_status(env, tmp_path, "db", "copy", *args) for args in cases]
    )
    for (args, expected), (status, out) in zip(cases.items(), results, strict=True):
        assert status == 2, (args, out)
        assert out.count("\n") == 1 and out.startswith(expected), (args, out)
        assert "Traceback" not in out
    assert "no such file" in results[2][1]
    assert not fresh.exists()  # refused before the target was touched
    with closing(sqlite3.connect(busy)) as db:
        assert db.execute("SELECT name FROM trading_bots").fetchall() == [("mine",)]
