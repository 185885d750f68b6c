"""Idle memory (issue 15): what `tradebot serve` holds resident once started, with 0 and with
10,000 open positions, with Telegram off and on.

Run with ``python -m bench.idle_memory`` (or ``make bench`` for every benchmark).

* The server: ``tradebot serve`` as its own process (the installed command, as a user starts it),
  paper broker, SQLite file, the monitor on (so every open position is in its trigger index),
  INFO logs to a file. Telegram off (no token), or on against the test suite's fake Bot API on
  127.0.0.1 (``tests/fakes/telegram_api.py``, run by this process; long polling, one admin).
* 10,000 positions: ``tradebot migrate``, one bot made with ``tradebot bots add`` (signal strategy,
  stop-loss 5 %, take-profit 10 %, trailing stop 3 %), one position opened by a real alert to a
  running server; then, with SQL, that bot copied to 100 bots and that position (its order, its
  entry, its current row, the bot's last price, the instrument) to 100 symbols of each bot, in
  one transaction. A real alert's rows, 10,000 times over, in about a second (10,000 webhooks
  would take minutes and measure something else).
* 0 positions: a freshly migrated database (the server creates its `demo` bot, as on a first
  start).
* Measured once `/health` answers and resident memory has settled (no change over 1 MB for 3 s,
  30 s at most): VmRSS and VmHWM (peak) from ``/proc/PID/status``, USS (the process's private
  pages: what stopping it would free) from ``/proc/PID/smaps_rollup``. Start-up: from launch
  to the first answer of `/health`.
* Import costs: each heavy dependency imported alone in a fresh interpreter, resident memory
  after minus before (the same interpreter with nothing imported).

Options: ``--positions N`` (10,000), ``--bots N`` (100; positions are spread evenly over them),
``--no-telegram`` (skip the Telegram-on runs), ``--no-imports`` (skip the import costs).
Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout
from rich.console import Console
from rich.table import Table

from bench.webhook_bench import cli, free_port, product_env, tradebot_cmd

ROOT = Path(__file__).resolve().parent.parent
POSITIONS = 10_000
BOTS = 100
START_TIMEOUT = 180.0  # seconds to the first /health answer (aiogram alone takes ~10 s here)
SETTLE_WINDOW = 3.0  # seconds of samples that must agree within SETTLE_TOLERANCE_KB
SETTLE_MAX = 30.0
SETTLE_TOLERANCE_KB = 1024
SAMPLE_EVERY = 0.5
OWNER_ID = 111
# Imported alone in a fresh interpreter for the import-cost table (what `serve` may load).
IMPORTS = (
    "aiogram",
    "ccxt.async_support",
    "matplotlib.pyplot",
    "talib",
    "pandas",
    "numpy",
    "tortoise",
    "aiohttp.web",
    "pydantic_settings",
    "prometheus_client",
)

console = Console()


@dataclass(frozen=True, slots=True)
class Reading:
    positions: int
    telegram: bool
    rss_kb: int
    hwm_kb: int
    uss_kb: int | None
    startup_s: float
    settled: bool


# ---------------------------------------------------------------- /proc


def memory(pid: int) -> tuple[int, int, int | None]:
    """(VmRSS, VmHWM, USS) in kB; USS is None without smaps_rollup (kernels before 4.14)."""
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    rss = int(status["VmRSS"].split()[0])
    hwm = int(status["VmHWM"].split()[0])
    uss = None
    rollup = Path(f"/proc/{pid}/smaps_rollup")
    if rollup.exists():
        fields = {}
        for line in rollup.read_text().splitlines()[1:]:
            key, _, value = line.partition(":")
            fields[key] = int(value.split()[0])
        uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return rss, hwm, uss


async def settle(pid: int) -> bool:
    """Wait until VmRSS stops moving (bounded); False if it still moved after SETTLE_MAX."""
    window = max(2, int(SETTLE_WINDOW / SAMPLE_EVERY))
    samples: list[int] = []
    deadline = time.monotonic() + SETTLE_MAX
    while time.monotonic() < deadline:
        samples.append(memory(pid)[0])
        recent = samples[-window:]
        if len(recent) == window and max(recent) - min(recent) <= SETTLE_TOLERANCE_KB:
            return True
        await asyncio.sleep(SAMPLE_EVERY)
    return False


# ---------------------------------------------------------------- the server


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def wait_health(base: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with ClientSession(timeout=ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise RuntimeError(f"server exited {proc.returncode}:\n{tail(log)}")
            try:
                async with http.get(f"{base}/health") as response:
                    await response.read()
                    return
            except (ClientError, TimeoutError):
                await asyncio.sleep(0.1)
    raise RuntimeError(f"server not up after {START_TIMEOUT:.0f} s:\n{tail(log)}")


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.send_signal(2)  # SIGINT: the product shuts down cleanly
    try:
        await asyncio.wait_for(proc.wait(), 20)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def serve(
    env: dict[str, str], cwd: Path, log: Path, port: int
) -> tuple[asyncio.subprocess.Process, float]:
    """`tradebot serve` up and answering; (process, seconds from launch to /health)."""
    started = time.monotonic()
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *tradebot_cmd(), "serve", env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        await wait_health(f"http://127.0.0.1:{port}", proc, log)
    except BaseException:
        await stop(proc)
        raise
    return proc, time.monotonic() - started


async def measure(db: Path, tmp: Path, *, positions: int, telegram: bool) -> Reading:
    port = free_port()
    env = product_env(db, port)
    fake = None
    if telegram:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from tests.fakes.telegram_api import FakeTelegramAPI

        fake = FakeTelegramAPI(max_poll_wait=1.0)
        await fake.start()
        env.update(
            TRADEBOT_TELEGRAM_TOKEN="42:TEST-TOKEN-abcdef",
            TRADEBOT_TELEGRAM_API_URL=fake.url,
            TRADEBOT_TELEGRAM_ADMINS=str(OWNER_ID),
        )
    log = tmp / f"serve-{positions}-{'tg' if telegram else 'off'}.log"
    try:
        proc, startup = await serve(env, tmp, log, port)
        try:
            if fake is not None:  # connected and polling: the chat is fully up
                await fake.wait_for("getUpdates", timeout=START_TIMEOUT)
            settled = await settle(proc.pid)
            rss, hwm, uss = memory(proc.pid)
        finally:
            await stop(proc)
    finally:
        if fake is not None:
            await fake.stop()
    return Reading(positions, telegram, rss, hwm, uss, startup, settled)


# ---------------------------------------------------------------- the databases


def migrated(tmp: Path, name: str) -> tuple[Path, dict[str, str]]:
    db = tmp / name
    env = product_env(db, free_port())
    cli(["migrate"], env, tmp)
    return db, env


async def with_positions(tmp: Path, positions: int, bots: int) -> Path:
    """A database with `positions` open positions over `bots` bots (see the module's text)."""
    per_bot = -(-positions // bots)
    db, env = migrated(tmp, f"positions-{positions}.sqlite3")
    out = cli(
        ["bots", "add", "--name", "idle000", "--symbol", symbol(0), "--strategy", "signal",
         "--sl", "5%", "--tp", "10%", "--trail", "3%", "--json"],
        env,
        tmp,
    )  # fmt: skip
    key = json.loads(out)["webhook_key"]
    port = int(env["TRADEBOT_PORT"])
    proc, _ = await serve(env, tmp, tmp / "template.log", port)
    try:
        alert = {"action": "buy", "symbol": symbol(0), "price": "100", "id": "template"}
        async with ClientSession() as http:
            url = f"http://127.0.0.1:{port}/webhook/{key}"
            async with http.post(url, data=json.dumps(alert)) as response:
                answer = await response.json()
        if answer.get("status") != "executed":
            raise RuntimeError(f"the template alert was not executed: {answer}")
    finally:
        await stop(proc)
    started = time.monotonic()
    copy_out(db, positions, bots, per_bot)
    console.print(
        f"{positions:,} positions over {bots} bots written in {time.monotonic() - started:.1f} s"
    )
    return db


def symbol(i: int) -> str:
    return f"C{i:03d}USDT"


def copy_out(db: Path, positions: int, bots: int, per_bot: int) -> None:
    """The template bot and its one position (with its order, entry, last price and instrument),
    copied with SQL to `bots` bots of up to `per_bot` symbols each."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        with con:
            bot = one(con, "SELECT * FROM trading_bots")
            position = one(con, "SELECT * FROM current_positions")
            order = one(con, "SELECT * FROM orders")
            entry = one(con, "SELECT * FROM position_entries")
            instrument = one(con, "SELECT * FROM instruments")
            price = one(con, "SELECT * FROM bot_prices")
            symbols = [symbol(i) for i in range(per_bot)]
            con.execute(
                "UPDATE trading_bots SET symbols = ? WHERE id = ?", (json.dumps(symbols), bot["id"])
            )
            for i, name in enumerate(symbols[1:], start=1):
                insert(con, "instruments", instrument, symbol=name, base=f"C{i:03d}")
            bot_ids = [bot["id"]]
            for b in range(1, bots):
                bot_ids.append(
                    insert(
                        con, "trading_bots", bot, name=f"idle{b:03d}",
                        webhook_key=secrets.token_urlsafe(32), symbols=json.dumps(symbols),
                    )
                )  # fmt: skip
            made = 1
            for b, bot_id in enumerate(bot_ids):
                for i, name in enumerate(symbols):
                    if (b, i) == (0, 0) or made >= positions:
                        continue
                    tag = f"{b}-{i}"
                    order_id = insert(
                        con, "orders", order, bot_id=bot_id, symbol=name,
                        client_order_id=f"{order['client_order_id'][:40]}-{tag}",
                        broker_order_id=f"paper-{tag}",
                    )  # fmt: skip
                    position_id = insert(
                        con, "current_positions", position, bot_id=bot_id, symbol=name
                    )
                    insert(
                        con, "position_entries", entry, bot_id=bot_id, symbol=name,
                        order_id=order_id, position_id=position_id,
                    )  # fmt: skip
                    insert(con, "bot_prices", price, bot_id=bot_id, symbol=name)
                    made += 1
        count = con.execute("SELECT COUNT(*) FROM current_positions").fetchone()[0]
        if count != positions:
            raise RuntimeError(f"{count} positions written, {positions} wanted")
    finally:
        con.close()


def one(con: sqlite3.Connection, sql: str) -> sqlite3.Row:
    rows = con.execute(sql).fetchall()
    if len(rows) != 1:
        raise RuntimeError(f"{sql}: {len(rows)} rows, the template has one")
    row: sqlite3.Row = rows[0]
    return row


def insert(con: sqlite3.Connection, table: str, row: sqlite3.Row, **changes: Any) -> int:
    values = {k: row[k] for k in row.keys() if k != "id"}
    values.update(changes)
    columns = ", ".join(f'"{k}"' for k in values)
    marks = ", ".join("?" for _ in values)
    cursor = con.execute(
        f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(values.values())
    )
    return int(cursor.lastrowid or 0)


# ---------------------------------------------------------------- import costs

PROBE = """
import sys
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
before = rss()
import importlib, gc
importlib.import_module(sys.argv[1])
gc.collect()
print(before, rss())
"""


def import_cost(module: str) -> tuple[int, int] | None:
    """(kB before, kB after) importing `module` alone; None if it is not installed."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        return None
    before, after = done.stdout.split()
    return int(before), int(after)


# ---------------------------------------------------------------- report


def mb(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f}"


def print_readings(readings: list[Reading]) -> None:
    table = Table(title="tradebot serve, idle (paper broker, SQLite, monitor on)")
    for title in ("open positions", "Telegram", "RSS MB", "USS MB", "peak RSS MB", "start-up s"):
        table.add_column(title, justify="right")
    for r in readings:
        table.add_row(
            f"{r.positions:,}",
            "on (fake Bot API)" if r.telegram else "off",
            mb(r.rss_kb) + ("" if r.settled else " (still moving)"),
            mb(r.uss_kb),
            mb(r.hwm_kb),
            f"{r.startup_s:.1f}",
        )
    console.print(table)


def print_imports() -> None:
    table = Table(title="import alone, in a fresh interpreter")
    table.add_column("module")
    table.add_column("+ RSS MB", justify="right")
    base = None
    for module in IMPORTS:
        cost = import_cost(module)
        if cost is None:
            table.add_row(module, "not installed")
            continue
        base = cost[0]
        table.add_row(module, f"{(cost[1] - cost[0]) / 1024:.0f}")
    console.print(table)
    if base is not None:
        console.print(f"(the interpreter itself: {base / 1024:.0f} MB)")


async def main_async(positions: int, bots: int, telegram: bool, imports: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="tradebot-idle-") as name:
        tmp = Path(name)
        empty, _ = migrated(tmp, "empty.sqlite3")
        full = await with_positions(tmp, positions, bots)
        readings = []
        for on in (False, True) if telegram else (False,):
            for db, count in ((empty, 0), (full, positions)):
                work = tmp / f"run-{count}-{on}.sqlite3"
                work.write_bytes(db.read_bytes())  # each run starts from the same file
                readings.append(await measure(work, tmp, positions=count, telegram=on))
        print_readings(readings)
    if imports:
        print_imports()


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idle_memory", description=__doc__)
    parser.add_argument("--positions", type=int, default=POSITIONS)
    parser.add_argument("--bots", type=int, default=BOTS)
    parser.add_argument("--no-telegram", action="store_true")
    parser.add_argument("--no-imports", action="store_true")
    args = parser.parse_args(argv)
    if not 1 <= args.bots <= args.positions or args.positions > args.bots * 1000:
        parser.error("--bots: between 1 and --positions, at most 1,000 positions per bot")
    if not Path("/proc/self/status").exists():
        console.print("idle memory: skipped (needs Linux /proc)")
        return
    asyncio.run(main_async(args.positions, args.bots, not args.no_telegram, not args.no_imports))


if __name__ == "__main__":
    run()
