"""Webhook load (issue 6, §7): `wrk` posts TradingView alerts at concurrency 16 and 64, against
the product and, in the same run, two references.

Run with ``python -m bench.webhook_bench`` (or ``make bench`` for every benchmark). Needs the
`wrk` binary (Debian: ``apt-get install wrk``); without it this part is skipped with a note.

* product: ``tradebot serve`` as a subprocess on a fresh SQLite file (WAL, ``synchronous=FULL``,
  paper broker, monitor on, Telegram off, INFO logs to a file), rate limits raised out of the way,
  one bot ``load`` (signal strategy, direction both, 100 entries, ``max_alerts_per_minute`` 0)
  created with the CLI. The server freezes its start-up heap out of the garbage collector, as
  ``tradebot serve`` always does.
* bare: an aiohttp route that reads the body, parses the JSON and answers JSON (the ceiling).
* floor: an aiohttp route on raw aiosqlite, WAL, ``synchronous=FULL``, one shared connection and
  an asyncio.Lock (a single writer), one ``BEGIN IMMEDIATE`` transaction per alert that inserts a
  webhook log row, an order row and a position entry and updates the position (what the product
  must write at the least, with nothing else around it).

Every request is a JSON alert as TradingView posts it (``text/plain``, values as strings): a
unique ``id`` (run tag, wrk thread, counter), ``buy`` and ``sell`` alternating with qty 1 so each
alert is executed as an order, a price of 100 (fixed since issue 14: with no fees and one price the
equity never moves, so `risk_per_trade` sizes every entry to exactly the load's qty 1 and the run
with every risk rule set makes the same trades as the run without) and ``time`` now. The Lua
script counts the answers' statuses per thread. After each product run the database is checked:
one order per executed alert (none missing, none doubled), and no 5xx anywhere.

Options (flags of ``python -m bench.webhook_bench``, or environment variables under
``python -m bench``): ``--duration`` / ``TRADEBOT_BENCH_WRK_DURATION`` seconds per run (10),
``--threads`` / ``TRADEBOT_BENCH_WRK_THREADS`` wrk threads (2: wrk shares the machine's cores
with the server under test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCIES = (16, 64)
ROUNDS = int(os.environ.get("TRADEBOT_BENCH_ROUNDS", "3"))
DEFAULT_DURATION = 10.0
DEFAULT_THREADS = 2
WRK_TIMEOUT = "10s"  # the product answers 202 after 2 s; anything slower is a real timeout
START_TIMEOUT = 30.0
SETTLE_TIMEOUT = 30.0
console = Console(width=max(Console().width, 110))

# What every load script ends with: statuses counted per thread, and one WRKJSON line of totals
# and latencies that `wrk_report` reads (`bench.pg_webhooks` uses it too). The script before it
# keeps its threads in a `threads` table and each thread's `statuses`.
LUA_REPORT = r"""
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local parts = {}
  local counts = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses")) do counts[code] = (counts[code] or 0) + n end
  end
  for code, n in pairs(counts) do table.insert(parts, string.format('"%d":%d', code, n)) end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p95_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"statuses":{%s},'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout))
end
"""

LUA = (
    r"""
-- TradingView-like alerts: unique ids, buy/sell alternating; statuses counted per thread.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  tag = args[1] or "run"
  counter = 0
  statuses = {}
  headers = {["Content-Type"] = "text/plain; charset=utf-8"}
end

function request()
  counter = counter + 1
  local action = "buy"
  if counter % 2 == 0 then action = "sell" end
  local body = string.format(
    '{"action":"%s","symbol":"BINANCE:BTCUSDT","price":"%.1f","qty":"1",'
      .. '"id":"%s-%d-%d","time":"%s"}',
    action, 100, tag, tid, counter, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  return wrk.format("POST", nil, headers, body)
end

"""
    + LUA_REPORT
)


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]

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
    rows: int  # webhook_logs rows of the run
    by_status: dict[str, int]
    orders: int  # orders linked to the run's rows
    doubled: int  # rows with more than one order
    missing: int  # executed rows without an order
    stray: int  # orders whose row is not `executed`

    @property
    def executed(self) -> int:
        return self.by_status.get("executed", 0)

    @property
    def one_order_each(self) -> bool:
        return self.orders == self.executed and not (self.doubled or self.missing or self.stray)


@dataclass(frozen=True, slots=True)
class CpuShare:
    """Cores busy during a wrk run: the server under test, wrk, and everything else on the
    machine (other work skews a run: the bench prints it beside the figures)."""

    server: float
    wrk: float
    other: float


@dataclass(slots=True)
class Row:
    target: str
    concurrency: int
    wrk: WrkResult
    cpu: CpuShare | None = None
    db: DbCheck | None = None


@dataclass(slots=True)
class Server:
    url: str
    pid: int
    db_path: Path | None = None


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers: up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server not up after {START_TIMEOUT:.0f} s:\n{log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)  # graceful: the product drains its background executions
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@contextmanager
def running(
    cmd: list[str], env: dict[str, str], cwd: Path, log: Path, ready_url: str
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(ready_url, proc, log)
        yield proc
    finally:
        stop(proc)


# ---------------------------------------------------------------- the product


def tradebot_cmd() -> list[str]:
    script = Path(sys.executable).with_name("tradebot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def product_env(db_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBOT_")}
    huge = "1000000000"
    env.update(
        TRADEBOT_DATABASE_URL=f"sqlite://{db_path}",
        TRADEBOT_HOST="127.0.0.1",
        TRADEBOT_PORT=str(port),
        TRADEBOT_TELEGRAM_TOKEN="",
        TRADEBOT_WEBHOOK_RATE_PER_KEY=huge,
        TRADEBOT_WEBHOOK_BURST_PER_KEY=huge,
        TRADEBOT_WEBHOOK_RATE_PER_IP=huge,
        TRADEBOT_WEBHOOK_BURST_PER_IP=huge,
        # Tens of thousands of orders: no fees and deep pockets, so cash never refuses one.
        TRADEBOT_PAPER_FEE_BPS="0",
        TRADEBOT_PAPER_BALANCE="1000000000000",
    )
    return env


def cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        tradebot_cmd() + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"tradebot {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


# Every §6a rule set, none of them refusing the load (issue 14: the check must cost at most 10 %
# of the product-to-floor ratio). risk_per_trade sizes each entry to 1 (equity 10^12 × 5·10^-11
# ÷ the 50 % stop distance of a price of 100), as the load's own qty.
EVERY_RULE = (
    "max_position_qty=1000000000", "max_position_value=100%", "max_open_positions=1000",
    "max_exposure=100%", "daily_loss_limit=50%", "daily_reset_hour=0", "max_drawdown=90%",
    "cooldown_after_stop=1", "stop_guard=100/60", "risk_per_trade=0.000000005%",
)  # fmt: skip


def create_load_bot(env: dict[str, str], cwd: Path, db_path: Path, *, rules: bool = False) -> str:
    """The `load` bot's webhook key; no alerts-per-minute cap (0); a stop-loss far away (50 %,
    never reached) so that `risk_per_trade` can size; with `rules`, every risk rule set."""
    cli(["migrate"], env, cwd)
    out = cli(
        ["bots", "add", "--name", "load", "--symbol", "BTCUSDT", "--strategy", "signal",
         "--direction", "both", "--max-entries", "100", "--qty", "1", "--sl", "50%",
         "--max-alerts-per-minute", "0", "--json"],
        env,
        cwd,
    )  # fmt: skip
    if rules:
        cli(["risk", "set", *EVERY_RULE], env, cwd)
    return str(json.loads(out)["webhook_key"])


@contextmanager
def product_server(tmp: Path, *, rules: bool = False) -> Iterator[Server]:
    port = free_port()
    db_path = tmp / f"product{'-risk' if rules else ''}-{secrets.token_hex(3)}.sqlite3"
    env = product_env(db_path, port)
    key = create_load_bot(env, tmp, db_path, rules=rules)
    base = f"http://127.0.0.1:{port}"
    cmd = [*tradebot_cmd(), "serve"]
    with running(cmd, env, tmp, tmp / "product.log", f"{base}/health") as proc:
        yield Server(url=f"{base}/webhook/{key}", pid=proc.pid, db_path=db_path)


def _query(db: sqlite3.Connection, sql: str, tag: str) -> int:
    return int(db.execute(sql, (f"{tag}-%",)).fetchone()[0])


def settle(db_path: Path, tag: str) -> None:
    """Wait until the server has finished every alert of the run (wrk stops mid-flight)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    with sqlite3.connect(db_path, timeout=10) as db:
        while time.monotonic() < deadline:
            busy = _query(
                db,
                "SELECT count(*) FROM webhook_logs WHERE alert_id LIKE ? "
                "AND status IN ('received', 'accepted')",
                tag,
            )
            if not busy:
                return
            time.sleep(0.2)


def check_db(db_path: Path, tag: str) -> DbCheck:
    settle(db_path, tag)
    run_logs = "SELECT id, status FROM webhook_logs WHERE alert_id LIKE ?"
    with sqlite3.connect(db_path, timeout=10) as db:
        by_status = {
            str(status): int(n)
            for status, n in db.execute(
                "SELECT status, count(*) FROM webhook_logs WHERE alert_id LIKE ? GROUP BY status",
                (f"{tag}-%",),
            )
        }
        per_log = (
            f"SELECT w.id, w.status, count(o.id) AS n FROM ({run_logs}) w "
            "LEFT JOIN orders o ON o.webhook_log_id = w.id GROUP BY w.id"
        )
        return DbCheck(
            rows=sum(by_status.values()),
            by_status=by_status,
            orders=_query(db, f"SELECT coalesce(sum(n), 0) FROM ({per_log})", tag),
            doubled=_query(db, f"SELECT count(*) FROM ({per_log}) WHERE n > 1", tag),
            missing=_query(
                db, f"SELECT count(*) FROM ({per_log}) WHERE status = 'executed' AND n = 0", tag
            ),
            stray=_query(
                db, f"SELECT count(*) FROM ({per_log}) WHERE status != 'executed' AND n > 0", tag
            ),
        )


# ---------------------------------------------------------------- references


@contextmanager
def reference_server(kind: str, tmp: Path) -> Iterator[Server]:
    port = free_port()
    cmd = [sys.executable, "-m", "bench.webhook_bench", "--serve", kind, "--port", str(port)]
    cmd += ["--db", str(tmp / f"{kind}.sqlite3")]
    base = f"http://127.0.0.1:{port}"
    with running(cmd, dict(os.environ), ROOT, tmp / f"{kind}.log", f"{base}/health") as proc:
        yield Server(url=f"{base}/webhook/reference", pid=proc.pid)


FLOOR_SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_logs (
    id INTEGER PRIMARY KEY, alert_id TEXT UNIQUE, body TEXT NOT NULL, status TEXT NOT NULL,
    received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, client_order_id TEXT UNIQUE NOT NULL, webhook_log_id INTEGER,
    symbol TEXT NOT NULL, side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT, status TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    id INTEGER PRIMARY KEY, symbol TEXT UNIQUE NOT NULL, qty REAL NOT NULL,
    entries INTEGER NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS position_entries (
    id INTEGER PRIMARY KEY, position_id INTEGER NOT NULL, order_id INTEGER NOT NULL,
    side TEXT NOT NULL, qty TEXT NOT NULL, price TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT OR IGNORE INTO positions (id, symbol, qty, entries, updated_at)
    VALUES (1, 'BTCUSDT', 0, 0, '');
"""


def serve_reference(kind: str, port: int, db_path: Path) -> None:
    """Run one reference server until SIGINT (the bench starts it as a subprocess)."""
    app = web.Application()
    app.router.add_get("/health", _health)
    if kind == "bare":
        app.router.add_post("/webhook/{key}", _bare_webhook)
    else:
        app.cleanup_ctx.append(_floor_db(db_path))
        app.router.add_post("/webhook/{key}", _floor_webhook)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _bare_webhook(request: web.Request) -> web.Response:
    alert = json.loads(await request.read())
    return web.json_response({"status": "executed", "id": alert.get("id")})


def _floor_db(db_path: Path) -> Any:
    async def context(app: Any) -> Any:
        import aiosqlite

        db = await aiosqlite.connect(db_path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=5000"):
            await db.execute(f"PRAGMA {pragma}")
        await db.executescript(FLOOR_SCHEMA)
        app["db"], app["lock"] = db, asyncio.Lock()
        yield
        await db.close()

    return context


async def _floor_webhook(request: web.Request) -> web.Response:
    body = await request.read()
    alert = json.loads(body)
    side = "buy" if alert["action"] == "buy" else "sell"
    qty = float(alert["qty"]) * (1 if side == "buy" else -1)
    now = datetime.now(UTC).isoformat()
    db = request.app["db"]
    async with request.app["lock"]:
        await db.execute("BEGIN IMMEDIATE")
        try:
            log = await db.execute(
                "INSERT INTO webhook_logs (alert_id, body, status, received_at) "
                "VALUES (?, ?, 'executed', ?)",
                (alert["id"], body.decode(), now),
            )
            order = await db.execute(
                "INSERT INTO orders (client_order_id, webhook_log_id, symbol, side, qty, price, "
                "status, created_at) VALUES (?, ?, 'BTCUSDT', ?, ?, ?, 'filled', ?)",
                (f"o-{alert['id']}", log.lastrowid, side, alert["qty"], alert["price"], now),
            )
            await db.execute(
                "INSERT INTO position_entries (position_id, order_id, side, qty, price, "
                "created_at) VALUES (1, ?, ?, ?, ?, ?)",
                (order.lastrowid, side, alert["qty"], alert["price"], now),
            )
            await db.execute(
                "UPDATE positions SET qty = qty + ?, entries = entries + 1, updated_at = ? "
                "WHERE id = 1",
                (qty, now),
            )
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
    return web.json_response({"status": "executed", "order": order.lastrowid})


# ---------------------------------------------------------------- CPU accounting (Linux /proc)


def _cpu_sample(pid: int) -> tuple[float, float, float] | None:
    """(machine busy, server, waited children) CPU seconds so far; None without /proc."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        idle = int(fields[3]) + int(fields[4])  # idle + iowait
        busy = sum(int(f) for f in fields[:8]) - idle
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        server = int(stat[11]) + int(stat[12])  # utime + stime
    except (OSError, ValueError, IndexError):
        return None
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return busy / ticks, server / ticks, children.ru_utime + children.ru_stime


def cpu_share(
    before: tuple[float, float, float] | None,
    after: tuple[float, float, float] | None,
    seconds: float,
) -> CpuShare | None:
    if before is None or after is None or seconds <= 0:
        return None
    busy, server, wrk = (b - a for a, b in zip(before, after, strict=True))
    return CpuShare(server / seconds, wrk / seconds, max(0.0, busy - server - wrk) / seconds)


# ---------------------------------------------------------------- wrk


def write_script(tmp: Path) -> Path:
    path = tmp / "alerts.lua"
    path.write_text(LUA)
    return path


def parse_wrk(output: str) -> WrkResult:
    line = next((ln for ln in output.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"no summary from wrk:\n{output[-2000:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=data["requests"],
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p95_ms=data["p95_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        statuses={int(code): n for code, n in data["statuses"].items()},
        socket_errors=data["errors"],
    )


def run_wrk(
    wrk: str, script: Path, url: str, concurrency: int, duration: float, threads: int, tag: str
) -> WrkResult:
    cmd = [wrk, f"-t{min(threads, concurrency)}", f"-c{concurrency}", f"-d{duration:g}s"]
    cmd += ["--latency", "--timeout", WRK_TIMEOUT, "-s", str(script), url, "--", tag]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk(done.stdout)


# ---------------------------------------------------------------- report


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def print_table(rows: list[Row]) -> None:
    table = Table("target", "conc.", "req/s", "p50", "p99", "non-2xx", "5xx", "sock. err.",
                  "CPU server/wrk/other")  # fmt: skip
    for row in rows:
        w = row.wrk
        errors = sum(w.socket_errors.values())
        cpu = row.cpu
        table.add_row(
            row.target,
            str(row.concurrency),
            f"{w.rps:,.0f}",
            _ms(w.p50_ms),
            _ms(w.p99_ms),
            f"{w.non_2xx:,}",
            f"[bold red]{w.count(5)}[/]" if w.count(5) else "0",
            str(errors),
            f"{cpu.server:.2f} / {cpu.wrk:.2f} / {cpu.other:.2f}" if cpu else "-",
        )
    console.print(table)
    console.print("  (CPU: cores busy during the run; 'other' is the rest of the machine)")


def print_db_checks(rows: list[Row]) -> None:
    table = Table("product", "2xx (wrk)", "log rows", "executed", "orders", "doubled", "missing",
                  "stray", "other statuses")  # fmt: skip
    for row in rows:
        if row.db is None:
            continue
        db = row.db
        others = ", ".join(f"{k} {v}" for k, v in db.by_status.items() if k != "executed")
        table.add_row(
            f"{row.target} c{row.concurrency}",
            f"{row.wrk.count(2):,}",
            f"{db.rows:,}",
            f"{db.executed:,}",
            f"{db.orders:,}",
            str(db.doubled),
            str(db.missing),
            str(db.stray),
            others or "-",
        )
    console.print(table)
    console.print(
        "  (rows can exceed wrk's 2xx by up to the concurrency: wrk stops with requests in flight,"
        " which the server still finishes and stores; stray: orders of rows not 'executed')"
    )


def aims(rows: list[Row]) -> list[tuple[str, bool]]:
    found = {(row.target, row.concurrency): row for row in rows}
    verdicts: list[tuple[str, bool]] = []
    for c in CONCURRENCIES:
        product, floor = found.get(("product", c)), found.get(("floor", c))
        if product is None or floor is None:
            continue
        p, f = product.wrk, floor.wrk
        half, twice = f.rps / 2, 2 * f.p99_ms
        rate = f"c{c} throughput ≥ ½ floor: {p.rps:,.0f} vs {half:,.0f} req/s"
        tail = f"c{c} p99 ≤ 2× floor: {_ms(p.p99_ms)} vs {_ms(twice)}"
        verdicts += [(rate, p.rps >= half), (tail, p.p99_ms <= twice)]
    product_rows = [row for row in rows if row.target.startswith("product")]
    fives = sum(row.wrk.count(5) for row in product_rows)
    verdicts.append((f"zero 5xx (product: {fives})", fives == 0 and bool(product_rows)))
    one_each = bool(product_rows) and all(row.db and row.db.one_order_each for row in product_rows)
    verdicts.append(("exactly one order per executed alert (none missing, none doubled)", one_each))
    return verdicts


def risk_cost(rounds: list[list[Row]]) -> list[tuple[str, bool]]:
    """Issue 14: with every risk rule set, the median product-to-floor ratio drops ≤ 10 %."""
    verdicts = []
    for c in CONCURRENCIES:
        ratios: dict[str, list[float]] = {"product": [], "product+risk": []}
        for taken in rounds:
            found = {(row.target, row.concurrency): row.wrk.rps for row in taken}
            floor = found.get(("floor", c))
            for target, kept in ratios.items():
                if floor and (target, c) in found:
                    kept.append(found[(target, c)] / floor)
        if not ratios["product"] or not ratios["product+risk"]:
            continue
        plain, ruled = (
            statistics.median(ratios["product"]),
            statistics.median(ratios["product+risk"]),
        )
        drop = 1 - ruled / plain if plain else 1.0
        verdicts.append(
            (
                f"c{c} every risk rule set costs ≤ 10 % of the product/floor ratio: "
                f"{plain:.2f} → {ruled:.2f} ({drop:+.1%} drop, median of {len(rounds)})",
                drop <= 0.10,
            )
        )
    return verdicts


def print_aims(verdicts: list[tuple[str, bool]]) -> None:
    console.print("[bold]Aims (issue 6 §7)[/]")
    for text, ok in verdicts:
        console.print(f"  {'[green]PASS[/]' if ok else '[bold red]FAIL[/]'}  {text}")


# ---------------------------------------------------------------- run


def _options() -> tuple[float, int]:
    duration = float(os.environ.get("TRADEBOT_BENCH_WRK_DURATION", DEFAULT_DURATION))
    threads = int(os.environ.get("TRADEBOT_BENCH_WRK_THREADS", DEFAULT_THREADS))
    return duration, threads


def measure(
    target: str, server: Server, wrk: str, script: Path, duration: float, threads: int
) -> list[Row]:
    rows = []
    for c in CONCURRENCIES:
        tag = f"c{c}x{secrets.token_hex(3)}"
        before, started = _cpu_sample(server.pid), time.monotonic()
        result = run_wrk(wrk, script, server.url, c, duration, threads, tag)
        cpu = cpu_share(before, _cpu_sample(server.pid), time.monotonic() - started)
        row = Row(target, c, result, cpu)
        if server.db_path is not None:
            row.db = check_db(server.db_path, tag)
        if result.count(5):
            console.print(f"[bold red]{target} c{c}: {result.count(5)} answers were 5xx[/]")
        other = f"  (other work on the machine: {cpu.other:.2f} cores)" if cpu else ""
        console.print(
            f"  {target:8} c{c:<3} {result.rps:9,.0f} req/s  p99 {_ms(result.p99_ms)}{other}"
        )
        rows.append(row)
    return rows


def run(duration: float | None = None, threads: int | None = None) -> bool:
    """Measure everything and print the tables; False when the product answered 5xx or an
    executed alert does not have exactly one order."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk not found: skipping the webhook load bench (apt-get install wrk)")
        return True
    env_duration, env_threads = _options()
    duration = duration or env_duration
    threads = threads or env_threads
    print(f"wrk -t{threads}, {duration:g} s per run, concurrency {CONCURRENCIES}, {os.cpu_count()}"
          " cores shared by wrk and the server")  # fmt: skip
    rows: list[Row] = []
    rounds: list[list[Row]] = []
    with tempfile.TemporaryDirectory(prefix="tradebot-wrk-") as name:
        tmp = Path(name)
        script = write_script(tmp)
        with reference_server("bare", tmp) as server:
            rows += measure("bare", server, wrk, script, duration, threads)
        # Floor, product and product with every risk rule, in turn, ROUNDS times: the ratios
        # compared are medians of runs taken side by side (issue 14).
        for index in range(ROUNDS):
            taken: list[Row] = []
            with reference_server("floor", tmp) as server:
                taken += measure("floor", server, wrk, script, duration, threads)
            # the two products in turn, in alternating order (no round favours one of them)
            for rules in (False, True) if index % 2 == 0 else (True, False):
                with product_server(tmp, rules=rules) as server:
                    target = "product+risk" if rules else "product"
                    taken += measure(target, server, wrk, script, duration, threads)
            rounds.append(taken)
            rows += taken
    print_table(rows)
    print_db_checks(rows)
    verdicts = aims(rows) + risk_cost(rounds)
    print_aims(verdicts)
    return all(ok for text, ok in verdicts if "5xx" in text or "order" in text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=None, help="wrk threads")
    parser.add_argument("--serve", choices=("bare", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, default=Path("floor.sqlite3"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_reference(args.serve, args.port, args.db)
        return
    if not run(args.duration, args.threads):
        sys.exit(1)


if __name__ == "__main__":
    main()
