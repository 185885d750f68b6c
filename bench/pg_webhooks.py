"""PostgreSQL webhook load (issue 16): `wrk` posts TradingView alerts for 8 bots at concurrency 16
and 64 against one `tradebot serve` process and against two (wrk's threads split over their
ports: a round-robin balancer in the load generator), and, in the same run, against a raw-asyncpg
floor that writes what the product writes for an alert in one transaction.

Run with ``python -m bench.pg_webhooks``. Needs `wrk` and PostgreSQL (``TRADEBOT_BENCH_PG_ADMIN``,
default ``postgresql://postgres@127.0.0.1:5432/test``, a role that may create databases); Redis
(``TRADEBOT_BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/15``) is used when it answers, as a
scaled-out deployment has it (shared rate limits). Without wrk or PostgreSQL the bench is skipped
with a note.

* database: a template built once (``tradebot migrate``; 8 bots ``load0``..``load7``, one symbol
  each, signal strategy, direction both, 100 entries, qty 1, SL 50 %, no alerts-per-minute cap,
  made with ``tradebot bots add``); every target runs on its own fresh copy
  (``CREATE DATABASE ... TEMPLATE``), dropped afterwards.
* product: ``tradebot serve`` (paper broker, no fee, a 10^12 balance, Telegram off, INFO logs to
  a file, rate limits raised out of the way), one process or two on the same database.
* floor: an aiohttp route on a raw asyncpg pool of the product's size (5, Tortoise's default), one
  transaction per alert with the product's writes on the product's tables (read from PostgreSQL's
  statement log for an open, an add and a close): the ``webhook_logs`` row, the ``bot_prices``
  upsert, the ``orders`` row, the position (``current_positions`` insert, update, or delete and
  a ``trade_history`` row), the ``position_entries`` row and the log row's outcome. Bots and
  positions are held in memory (a lock per bot), so it reads nothing.

Every alert: ``text/plain`` JSON with values as strings, a unique ``id``, ``buy`` and ``sell``
alternating per bot with qty 1 (every alert is executed as an order), price 100, ``time`` now.
After each product run the database is checked: one order per executed alert (none missing, none
doubled, none for a row not executed), every row finished and executed but those the product
refused at a bot's max entries (wrk's two threads each alternate buy and sell, so a position can
keep adding until 100 entries), no 5xx in wrk's counts or the log rows.

Options: ``--duration`` / ``TRADEBOT_BENCH_WRK_DURATION`` seconds per wrk run (10), ``--rounds`` /
``TRADEBOT_BENCH_PG_ROUNDS`` (2: floor, one process, two processes, then the reverse order),
``--threads`` / ``TRADEBOT_BENCH_WRK_THREADS`` (2; at least 2 so each server gets a thread),
``--targets`` (``floor,1,2``: any of them, e.g. ``floor,1`` for a quicker comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from rich.console import Console
from rich.table import Table

from bench.webhook_bench import LUA_REPORT, _ms, free_port, parse_wrk, running, tradebot_cmd

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("TRADEBOT_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TRADEBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
CONCURRENCIES = (16, 64)
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT")
POOL_SIZE = 5  # Tortoise's asyncpg pool maximum, the product's per process
AIM_RATIO = 0.5
TARGETS = ("floor", "1", "2")  # the floor, the product with 1 and with 2 processes
FULL = "ignored: max entries reached"  # (trading.positions) a refusal, not a lost alert
WRK_TIMEOUT = "10s"
SETTLE_TIMEOUT = 60.0
console = Console(width=max(Console().width, 160))

LUA = (
    r"""
-- Alerts for several bots; each wrk thread talks to one server (round-robin over the ports).
local ports = {__PORTS__}
local keys = {__KEYS__}
local symbols = {__SYMBOLS__}
local threads = {}

function setup(thread)
  local n = #threads + 1
  thread:set("tid", n)
  thread.addr = wrk.lookup("127.0.0.1", tostring(ports[(n - 1) % #ports + 1]))[1]
  table.insert(threads, thread)
end

function init(args)
  tag = args[1] or "run"
  counter = 0
  sent = {}
  statuses = {}
  headers = {["Content-Type"] = "text/plain; charset=utf-8"}
end

function request()
  counter = counter + 1
  local b = (counter + tid) % #keys + 1
  sent[b] = (sent[b] or 0) + 1
  local action = "buy"
  if sent[b] % 2 == 0 then action = "sell" end
  local body = string.format(
    '{"action":"%s","symbol":"BINANCE:%s","price":"100","qty":"1","id":"%s-%d-%d","time":"%s"}',
    action, symbols[b], tag, tid, counter, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  return wrk.format("POST", "/webhook/" .. keys[b], headers, body)
end

"""
    + LUA_REPORT
)


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Load:
    requests: int
    duration_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    statuses: dict[int, int]
    socket_errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def count(self, first_digit: int) -> int:
        return sum(n for code, n in self.statuses.items() if code // 100 == first_digit)

    @property
    def non_2xx(self) -> int:
        return sum(self.statuses.values()) - self.count(2)


@dataclass(frozen=True, slots=True)
class DbCheck:
    rows: int
    by_status: dict[str, int]
    orders: int
    doubled: int
    missing: int
    stray: int
    http_5xx: int  # log rows whose answer was a 5xx
    # rows not executed, by status and reason; "ignored: max entries reached (100/100)" is the
    # product refusing a bot's 101st entry (buys and sells of two wrk threads interleave, so a
    # position can keep adding), not a lost alert
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def executed(self) -> int:
        return self.by_status.get("executed", 0)

    @property
    def full(self) -> int:
        return sum(n for why, n in self.reasons.items() if why.startswith(FULL))

    @property
    def one_order_each(self) -> bool:
        return self.orders == self.executed == self.rows - self.full and not (
            self.doubled or self.missing or self.stray
        )


@dataclass(frozen=True, slots=True)
class Cpu:
    """Cores busy during a run: the server(s) under test, PostgreSQL (every backend, the other
    users' included), wrk, and the rest of the machine."""

    server: float
    postgres: float
    wrk: float
    other: float


@dataclass(slots=True)
class Row:
    round: int
    target: str
    concurrency: int
    load: Load
    cpu: Cpu | None = None
    db: DbCheck | None = None
    ratio: float | None = None  # alerts/s against the same round's floor


@dataclass(slots=True)
class Target:
    name: str
    ports: list[int]
    pids: list[int]
    dsn: str
    keys: list[str] = field(default_factory=list)
    checked: bool = True  # the product's log rows are checked; the floor's are not


# ---------------------------------------------------------------- PostgreSQL


def psql(url: str, sql: str) -> str:
    done = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip()


def database_url(name: str, scheme: str = "postgresql") -> str:
    base = ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    return f"{scheme}://{base}/{name}"


def postgres_answers() -> str | None:
    """None when PostgreSQL answers, else why not (one line)."""
    if shutil.which("psql") is None:
        return "psql not found"
    try:
        psql(ADMIN_URL, "SELECT 1")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return str(exc).splitlines()[0]
    return None


def redis_answers() -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        with client:
            return bool(client.ping())
    except (RedisError, OSError):
        return False


@contextmanager
def database(prefix: str, template: str | None = None) -> Iterator[str]:
    name = f"tradebot_bench_{prefix}_{secrets.token_hex(4)}"
    psql(ADMIN_URL, f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield name
    finally:
        psql(ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def product_env(name: str, port: int, redis: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    huge = "1000000000"
    env.update(
        TRADEBOT_DATABASE_URL=database_url(name, "postgres"),
        TRADEBOT_HOST="127.0.0.1",
        TRADEBOT_PORT=str(port),
        TRADEBOT_TELEGRAM_TOKEN="",
        TRADEBOT_WEBHOOK_RATE_PER_KEY=huge,
        TRADEBOT_WEBHOOK_BURST_PER_KEY=huge,
        TRADEBOT_WEBHOOK_RATE_PER_IP=huge,
        TRADEBOT_WEBHOOK_BURST_PER_IP=huge,
        TRADEBOT_PAPER_FEE_BPS="0",
        TRADEBOT_PAPER_BALANCE="1000000000000",
    )
    if redis:
        env["TRADEBOT_REDIS_URL"] = REDIS_URL
    return env


def cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        tradebot_cmd() + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"tradebot {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def build_template(name: str, tmp: Path) -> list[str]:
    """Migrate the template and create its bots with the CLI; their webhook keys, in order."""
    env = product_env(name, free_port(), redis=False)
    cli(["migrate"], env, tmp)
    keys = []
    for index, symbol in enumerate(SYMBOLS):
        out = cli(
            ["bots", "add", "--name", f"load{index}", "--symbol", symbol, "--strategy", "signal",
             "--direction", "both", "--max-entries", "100", "--qty", "1", "--sl", "50%",
             "--max-alerts-per-minute", "0", "--json"],
            env, tmp,
        )  # fmt: skip
        keys.append(str(json.loads(out)["webhook_key"]))
    return keys


def settle_and_check(dsn: str, tag: str) -> DbCheck:
    """Wait until every alert of the run is finished (wrk stops mid-flight), then count."""
    like = f"'{tag}-%'"
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        busy = psql(
            dsn,
            f"SELECT count(*) FROM webhook_logs WHERE alert_id LIKE {like} "
            "AND (status IN ('received', 'accepted') OR finished_at IS NULL)",
        )
        if busy == "0":
            break
        time.sleep(0.2)
    per_log = (
        f"SELECT w.id, w.status, w.http_status, count(o.id) AS n FROM webhook_logs w "
        f"LEFT JOIN orders o ON o.webhook_log_id = w.id WHERE w.alert_id LIKE {like} "
        "GROUP BY w.id"
    )
    by_status = {}
    for line in psql(dsn, f"SELECT status, count(*) FROM ({per_log}) r GROUP BY status").split():
        status, n = line.split("|")
        by_status[status] = int(n)
    counts = psql(
        dsn,
        "SELECT coalesce(sum(n), 0), count(*) FILTER (WHERE n > 1), "
        "count(*) FILTER (WHERE status = 'executed' AND n = 0), "
        "count(*) FILTER (WHERE status <> 'executed' AND n > 0), "
        f"count(*) FILTER (WHERE http_status >= 500) FROM ({per_log}) r",
    )
    orders, doubled, missing, stray, fives = (int(v) for v in counts.split("|"))
    reasons = {}
    for line in psql(
        dsn,
        f"SELECT status || ': ' || coalesce(reason, '-'), count(*) FROM webhook_logs "
        f"WHERE alert_id LIKE {like} AND status <> 'executed' GROUP BY 1",
    ).splitlines():
        why, _, n = line.rpartition("|")
        reasons[why] = int(n)
    return DbCheck(
        sum(by_status.values()), by_status, orders, doubled, missing, stray, fives, reasons
    )


# ---------------------------------------------------------------- the floor (raw asyncpg)

INSERT_LOG = """INSERT INTO "webhook_logs" ("key_hint", "remote_ip", "content_type", "body",
 "alert", "alert_id", "dedup_key", "symbol", "action", "http_status", "status", "reason",
 "order_id", "received_at", "finished_at", "repeat_count", "last_seen_at", "bot_id")
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, 'received', NULL, NULL, $10, NULL, 1, NULL, $11)
 RETURNING id"""
UPSERT_PRICE = """INSERT INTO "bot_prices" ("bot_id", "symbol", "price", "seen_at", "source")
 VALUES ($1, $2, $3, $4, 'alert') ON CONFLICT ("bot_id", "symbol") DO UPDATE SET
 "price" = excluded."price", "seen_at" = excluded."seen_at", "source" = excluded."source"
 WHERE "bot_prices"."seen_at" <= excluded."seen_at\""""
INSERT_ORDER = """INSERT INTO "orders" ("client_order_id", "symbol", "side", "order_type", "qty",
 "price", "status", "filled_qty", "avg_fill_price", "fee", "fee_currency", "broker",
 "broker_order_id", "intent", "reason", "webhook_log_id", "error", "created_at", "updated_at",
 "bot_id") VALUES ($1, $2, $3, 'market', $4, $5, 'filled', $4, $5, 0, 'USDT', 'paper', $6, $7,
 'signal', $8, NULL, $9, $9, $10) RETURNING id"""
OPEN_POSITION = """INSERT INTO "current_positions" ("symbol", "quote", "side", "qty",
 "avg_price", "entries", "opened_qty", "exit_qty", "exit_value", "realized_pnl", "fees", "sl",
 "tp", "trail", "take_profits", "trail_peak", "trail_stop", "closing_token", "closing_at",
 "opened_at", "updated_at", "version", "bot_id") VALUES ($1, 'USDT', $2, $3, $4, 1, $3, 0, 0, 0,
 0, $5, NULL, NULL, '[]', NULL, NULL, NULL, NULL, $6, $6, 0, $7) RETURNING id"""
ADD_TO_POSITION = """UPDATE "current_positions" SET "qty" = $1, "avg_price" = $2,
 "entries" = $3, "opened_qty" = $1, "version" = $4, "updated_at" = $5
 WHERE "id" = $6 AND "version" = $7"""
DELETE_POSITION = 'DELETE FROM "current_positions" WHERE "id" = $1 AND "version" = $2'
INSERT_TRADE = """INSERT INTO "trade_history" ("position_id", "symbol", "quote", "side", "qty",
 "entry_price", "exit_price", "pnl", "fees", "entries", "opened_at", "closed_at", "reason",
 "bot_id") VALUES ($1, $2, 'USDT', $3, $4, $5, $5, 0, 0, $6, $7, $8, 'signal', $9) RETURNING id"""
INSERT_ENTRY = """INSERT INTO "position_entries" ("position_id", "symbol", "kind", "side", "qty",
 "price", "fee", "gross_pnl", "reason", "created_at", "bot_id", "order_id")
 VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 'signal', $7, $8, $9) RETURNING id"""
FINISH_LOG = """UPDATE "webhook_logs" SET "status" = 'executed', "reason" = $1,
 "finished_at" = $2, "order_id" = $3, "http_status" = 200
 WHERE "id" = $4 AND "status" IN ('received', 'accepted') AND "finished_at" IS NULL"""


@dataclass(slots=True)
class FloorPosition:
    id: int
    side: str  # long | short
    qty: Decimal
    entries: int
    version: int
    opened_at: datetime


@dataclass(slots=True)
class FloorBot:
    id: int
    symbol: str
    lock: asyncio.Lock
    position: FloorPosition | None = None


FLOOR_POOL = web.AppKey("pool", Any)
FLOOR_BOTS = web.AppKey("bots", dict)


def serve_floor(port: int, dsn: str) -> None:
    """Run the floor until SIGINT (the bench starts it as a subprocess)."""

    async def pool_context(app: web.Application) -> Any:
        import asyncpg

        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL_SIZE)
        rows = await pool.fetch('SELECT id, webhook_key, symbols FROM "trading_bots"')
        app[FLOOR_BOTS] = {
            row["webhook_key"]: FloorBot(row["id"], json.loads(row["symbols"])[0], asyncio.Lock())
            for row in rows
        }
        app[FLOOR_POOL] = pool
        yield
        await pool.close()

    app = web.Application()
    app.cleanup_ctx.append(pool_context)
    app.router.add_get("/health", _health)
    app.router.add_post("/webhook/{key}", _floor_webhook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _floor_webhook(request: web.Request) -> web.Response:
    body = await request.read()
    alert = json.loads(body)
    bot: FloorBot = request.app[FLOOR_BOTS][request.match_info["key"]]
    side = "buy" if alert["action"] == "buy" else "sell"
    held = "long" if side == "buy" else "short"
    qty, price = Decimal(alert["qty"]), Decimal(alert["price"])
    seen = datetime.strptime(alert["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    parsed = json.dumps({**alert, "symbol": bot.symbol, "take_profits": []})
    async with bot.lock, request.app[FLOOR_POOL].acquire() as conn, conn.transaction():
        now = datetime.now(UTC)
        position = bot.position
        log_id = await conn.fetchval(
            INSERT_LOG, request.match_info["key"][:4] + "…", request.remote, "text/plain",
            body.decode(), parsed, alert["id"], f"{bot.id}:{alert['id']}", bot.symbol, side,
            now, bot.id,
        )  # fmt: skip
        await conn.execute(UPSERT_PRICE, bot.id, bot.symbol, price, seen)
        kind = "open" if position is None else "add" if position.side == held else "close"
        order_id = await conn.fetchval(
            INSERT_ORDER, f"tb1-{secrets.token_hex(12)}", bot.symbol, side, qty, price,
            f"paper-{secrets.token_hex(6)}", kind, log_id, now, bot.id,
        )  # fmt: skip
        after: FloorPosition | None
        if position is None:
            position_id = await conn.fetchval(
                OPEN_POSITION, bot.symbol, held, qty, price, price / 2, now, bot.id
            )
            after = FloorPosition(position_id, held, qty, 1, 0, now)
        elif kind == "add":
            after = FloorPosition(position.id, held, position.qty + qty, position.entries + 1,
                                  position.version + 1, position.opened_at)  # fmt: skip
            await conn.execute(ADD_TO_POSITION, after.qty, price, after.entries, after.version,
                               now, position.id, position.version)  # fmt: skip
        else:
            await conn.execute(DELETE_POSITION, position.id, position.version)
            await conn.fetchval(
                INSERT_TRADE, position.id, bot.symbol, position.side, position.qty, price,
                position.entries, position.opened_at, now, bot.id,
            )  # fmt: skip
            after = None
        await conn.fetchval(
            INSERT_ENTRY, (after or position).id, bot.symbol, kind, side, qty, price, now,  # type: ignore[union-attr]
            bot.id, order_id,
        )  # fmt: skip
        await conn.execute(FINISH_LOG, kind, now, order_id, log_id)
    bot.position = after
    return web.json_response({"status": "executed", "reason": kind, "order": {"id": order_id}})


# ---------------------------------------------------------------- CPU accounting (Linux /proc)


def _ticks(pid: int, children: bool = False) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[11]) + int(stat[12]) + (int(stat[13]) + int(stat[14]) if children else 0)


def _postgres_ticks() -> int:
    """Every PostgreSQL process's CPU, exited backends included (the postmaster's children)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            total += _ticks(int(proc.name), children=ppid == 1)
        except (OSError, ValueError, IndexError):
            continue
    return total


def _cpu_sample(pids: list[int]) -> tuple[float, ...] | None:
    import resource

    try:
        hz = os.sysconf("SC_CLK_TCK")
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        idle = int(fields[3]) + int(fields[4])
        busy = sum(int(f) for f in fields[:8]) - idle
        server = sum(_ticks(pid) for pid in pids)
        postgres = _postgres_ticks()
    except (OSError, ValueError, IndexError):
        return None
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return busy / hz, server / hz, postgres / hz, children.ru_utime + children.ru_stime


def _cpu(before: tuple[float, ...] | None, after: tuple[float, ...] | None, s: float) -> Cpu | None:
    if before is None or after is None or s <= 0:
        return None
    busy, server, postgres, wrk = (b - a for a, b in zip(before, after, strict=True))
    return Cpu(server / s, postgres / s, wrk / s, max(0.0, busy - server - postgres - wrk) / s)


# ---------------------------------------------------------------- wrk


def write_script(path: Path, ports: list[int], keys: list[str]) -> Path:
    def lua_list(items: list[str] | tuple[str, ...]) -> str:
        return ", ".join(f'"{item}"' for item in items)

    path.write_text(
        LUA.replace("__PORTS__", ", ".join(str(port) for port in ports))
        .replace("__KEYS__", lua_list(keys))
        .replace("__SYMBOLS__", lua_list(SYMBOLS[: len(keys)]))
    )
    return path


def run_wrk(wrk: str, script: Path, port: int, c: int, duration: float, threads: int,
            tag: str) -> Load:  # fmt: skip
    cmd = [wrk, f"-t{threads}", f"-c{c}", f"-d{duration:g}s", "--timeout", WRK_TIMEOUT,
           "-s", str(script), f"http://127.0.0.1:{port}/", "--", tag]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}{done.stdout}")
    wrk_result = parse_wrk(done.stdout)
    return Load(
        requests=wrk_result.requests,
        duration_s=wrk_result.duration_s,
        p50_ms=wrk_result.p50_ms,
        p95_ms=wrk_result.p95_ms,
        p99_ms=wrk_result.p99_ms,
        statuses=wrk_result.statuses,
        socket_errors=sum(wrk_result.socket_errors.values()),
    )


# ---------------------------------------------------------------- targets


@contextmanager
def product(template: str, keys: list[str], processes: int, tmp: Path, redis: bool
            ) -> Iterator[Target]:  # fmt: skip
    with database(f"p{processes}", template) as name, ExitStack() as stack:
        ports, pids = [], []
        for index in range(processes):
            port = free_port()
            while port in ports:
                port = free_port()
            log = tmp / f"serve-{name}-{index}.log"
            env = product_env(name, port, redis)
            proc = stack.enter_context(running([*tradebot_cmd(), "serve"], env, tmp, log,
                                               f"http://127.0.0.1:{port}/health"))  # fmt: skip
            ports.append(port)
            pids.append(proc.pid)
        label = "product, 1 process" if processes == 1 else f"product, {processes} processes"
        yield Target(label, ports, pids, database_url(name), keys)


@contextmanager
def floor(template: str, keys: list[str], tmp: Path) -> Iterator[Target]:
    with database("floor", template) as name:
        port = free_port()
        cmd = [sys.executable, "-m", "bench.pg_webhooks", "--serve-floor", "--port", str(port),
               "--dsn", database_url(name)]  # fmt: skip
        with running(cmd, dict(os.environ), ROOT, tmp / "floor.log",
                     f"http://127.0.0.1:{port}/health") as proc:  # fmt: skip
            yield Target("floor (asyncpg, 1 tx/alert)", [port], [proc.pid], database_url(name),
                         keys, checked=False)  # fmt: skip


def measure(target: Target, round_: int, wrk: str, tmp: Path, duration: float, threads: int
            ) -> list[Row]:  # fmt: skip
    script = write_script(tmp / f"alerts-{secrets.token_hex(3)}.lua", target.ports, target.keys)
    threads = max(threads, len(target.ports))
    rows = []
    for c in CONCURRENCIES:
        tag = f"r{round_}c{c}x{secrets.token_hex(3)}"
        before, started = _cpu_sample(target.pids), time.monotonic()
        load = run_wrk(wrk, script, target.ports[0], c, duration, threads, tag)
        cpu = _cpu(before, _cpu_sample(target.pids), time.monotonic() - started)
        row = Row(round_, target.name, c, load, cpu)
        if target.checked:
            row.db = settle_and_check(target.dsn, tag)
        else:
            settle_and_check(target.dsn, tag)  # let the floor finish before the next run
        console.print(
            f"  round {round_}  {target.name:28} c{c:<3} {load.rps:7,.0f} alerts/s  "
            f"p50 {_ms(load.p50_ms)}  p99 {_ms(load.p99_ms)}  5xx {load.count(5)}"
            + (f"  (CPU server {cpu.server:.2f}, postgres {cpu.postgres:.2f})" if cpu else "")
        )
        rows.append(row)
    return rows


# ---------------------------------------------------------------- report


def with_ratios(rows: list[Row]) -> None:
    floors = {(r.round, r.concurrency): r.load.rps for r in rows if r.target.startswith("floor")}
    for row in rows:
        base = floors.get((row.round, row.concurrency))
        row.ratio = row.load.rps / base if base else None


def print_tables(rows: list[Row]) -> None:
    table = Table("round", "target", "conc.", "alerts/s", "p50", "p95", "p99", "× floor",
                  "202", "non-2xx", "5xx", "CPU/alert", "cores server/pg/wrk/other")  # fmt: skip
    for row in rows:
        load, cpu = row.load, row.cpu
        table.add_row(
            str(row.round), row.target, str(row.concurrency), f"{load.rps:,.0f}",
            _ms(load.p50_ms), _ms(load.p95_ms), _ms(load.p99_ms),
            f"{row.ratio:.2f}" if row.ratio is not None else "-",
            f"{load.statuses.get(202, 0):,}", f"{load.non_2xx:,}",
            f"[bold red]{load.count(5)}[/]" if load.count(5) else "0",
            _ms(cpu.server / load.rps * 1000) if cpu and load.rps else "-",
            f"{cpu.server:.2f} / {cpu.postgres:.2f} / {cpu.wrk:.2f} / {cpu.other:.2f}"
            if cpu else "-",
        )  # fmt: skip
    console.print(table)
    checks = Table("product run", "2xx (wrk)", "log rows", "executed", "orders", "doubled",
                   "missing", "stray", "5xx rows", "other statuses")  # fmt: skip
    for row in rows:
        if (db := row.db) is None:
            continue
        others = ", ".join(f"{why} ({n})" for why, n in db.reasons.items())
        checks.add_row(
            f"{row.round} {row.target} c{row.concurrency}", f"{row.load.count(2):,}",
            f"{db.rows:,}", f"{db.executed:,}", f"{db.orders:,}", str(db.doubled),
            str(db.missing), str(db.stray), str(db.http_5xx), others or "-",
        )  # fmt: skip
    console.print(checks)
    console.print("  (log rows exceed wrk's 2xx by up to the concurrency: wrk stops with requests"
                  " in flight, which the server still finishes)")  # fmt: skip


def aims(rows: list[Row]) -> list[tuple[str, bool]]:
    verdicts = []
    for target in dict.fromkeys(r.target for r in rows if r.db is not None):
        for c in CONCURRENCIES:
            ratios = [
                r.ratio
                for r in rows
                if r.target == target and r.concurrency == c and r.ratio is not None
            ]
            if ratios:
                median = statistics.median(ratios)
                verdicts.append((f"{target} c{c}: ≥ {AIM_RATIO}× the floor's alerts/s: "
                                 f"{median:.2f}× (median of {len(ratios)})",
                                 median >= AIM_RATIO))  # fmt: skip
    product = [r for r in rows if r.db is not None]
    fives = sum(r.load.count(5) + r.db.http_5xx for r in product if r.db)
    verdicts.append((f"zero 5xx (product: {fives})", bool(product) and fives == 0))
    once = bool(product) and all(r.db and r.db.one_order_each for r in product)
    full = sum(r.db.full for r in product if r.db)
    verdicts.append((f"exactly one order per accepted alert, every alert executed (but {full} "
                     "refused at a bot's max entries)", once))  # fmt: skip
    return verdicts


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"


# ---------------------------------------------------------------- run


def run(duration: float | None = None, rounds: int | None = None, threads: int | None = None,
        targets: tuple[str, ...] = TARGETS) -> bool:  # fmt: skip
    """Measure and print; False when the product answered a 5xx or an alert does not have
    exactly one order. Skipped (True) without wrk or PostgreSQL."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk not found: skipping the PostgreSQL webhook bench (apt-get install wrk)")
        return True
    if (why := postgres_answers()) is not None:
        print(f"PostgreSQL not reachable at {ADMIN_URL}: skipping the PostgreSQL webhook bench"
              f" ({why})")  # fmt: skip
        return True
    duration = duration or float(os.environ.get("TRADEBOT_BENCH_WRK_DURATION", "10"))
    rounds = rounds or int(os.environ.get("TRADEBOT_BENCH_PG_ROUNDS", "2"))
    threads = max(2, threads or int(os.environ.get("TRADEBOT_BENCH_WRK_THREADS", "2")))
    redis = redis_answers()
    version = psql(ADMIN_URL, "SHOW server_version")
    console.print(
        f"wrk -t{threads}, {duration:g} s per run, concurrency {CONCURRENCIES}, {len(SYMBOLS)} "
        f"bots, {rounds} round(s); PostgreSQL {version}; Redis "
        f"{'at ' + REDIS_URL if redis else 'not answering: rate limits in each process'}"
    )
    console.print(f"  at the start: {load_average()}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tradebot-pg-wrk-") as name:
        tmp = Path(name)
        with database("tpl") as template:
            keys = build_template(template, tmp)
            for round_ in range(1, rounds + 1):
                order = ["floor", "1", "2"] if round_ % 2 else ["2", "1", "floor"]
                for what in [what for what in order if what in targets]:
                    if what == "floor":
                        context = floor(template, keys, tmp)
                    else:
                        context = product(template, keys, int(what), tmp, redis)
                    with context as target:
                        rows += measure(target, round_, wrk, tmp, duration, threads)
    console.print(f"  at the end: {load_average()}")
    with_ratios(rows)
    print_tables(rows)
    verdicts = aims(rows)
    console.print("[bold]Aims (issue 16)[/]")
    for text, ok in verdicts:
        console.print(f"  {'[green]PASS[/]' if ok else '[bold red]FAIL[/]'}  {text}")
    return all(ok for text, ok in verdicts if "5xx" in text or "order" in text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds of the three targets")
    parser.add_argument("--threads", type=int, default=None, help="wrk threads (at least 2)")
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help="which targets, comma-separated (floor,1,2: 1 and 2 processes)",
    )
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dsn", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        serve_floor(args.port, args.dsn)
        return
    targets = tuple(what.strip() for what in args.targets.split(",") if what.strip())
    if unknown := set(targets) - set(TARGETS):
        parser.error(f"unknown targets {sorted(unknown)}: choose among {', '.join(TARGETS)}")
    if not run(args.duration, args.rounds, args.threads, targets):
        sys.exit(1)


if __name__ == "__main__":
    main()
